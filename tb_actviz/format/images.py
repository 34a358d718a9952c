"""Numpy-side image helpers: PNG encoding and probe images for display."""

import io
import math
import struct
import zlib

import numpy as np
from PIL import Image

try:
    # ISA-L's deflate: on the measured maps 3x faster than zlib's level 1 at
    # the same size (benchmarks/bench_codec.py); zlib where it is missing.
    from isal import isal_zlib as _deflate
except ImportError:  # pragma: no cover - a platform without its wheel
    _deflate = zlib

# Level 1 (zlib: 3.7x faster than the default level for activation maps, at
# about the same size; ISA-L: its fastest level that still compresses).
PNG_COMPRESS_LEVEL = 1
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG filter types (PNG spec, 9.2) that `encode_pngs` writes.
UP, PAETH = 2, 4
PNG_FILTER = UP


def encode_png(pixels, compress_level=PNG_COMPRESS_LEVEL, row_filter=PNG_FILTER):
    """PNG bytes of a uint8 array, (H, W) gray or (H, W, 3) RGB."""
    return encode_pngs(np.asarray(pixels)[None], compress_level, row_filter)[0]


def encode_pngs(stack, compress_level=PNG_COMPRESS_LEVEL, row_filter=PNG_FILTER):
    """PNG bytes of each image of a uint8 stack, [K, H, W] gray or [K, H, W, 3]
    RGB.

    Every row gets the same filter, for the whole stack in one numpy pass
    (Pillow's per-row choice costs per image, and a layer has many small
    strips). `UP` (each byte minus the one above it) is the default: one
    subtraction, against 40-60x that for `PAETH`, whose files are 0-11%
    smaller (equal on the maps of random weights, 11% on a trained model's;
    docs/format.md).
    """
    stack = np.asarray(stack)
    if stack.dtype != np.uint8 or stack.ndim not in (3, 4) or (
        stack.ndim == 4 and stack.shape[-1] != 3
    ):
        raise ValueError("encode_pngs needs uint8 [K, H, W] or [K, H, W, 3], got %s %s"
                         % (stack.dtype, stack.shape))
    if row_filter not in _FILTERS:
        raise ValueError("row_filter must be images.UP or images.PAETH, got %r" % (row_filter,))
    count, height, width = stack.shape[:3]
    channels = 3 if stack.ndim == 4 else 1
    rows = _FILTERS[row_filter](stack.reshape(count, height, width * channels), channels)
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8,
                                             2 if channels == 3 else 0, 0, 0, 0))
    end = _png_chunk(b"IEND", b"")

    def png(filtered):
        data = _deflate.compress(filtered, compress_level)
        return _PNG_SIGNATURE + header + _png_chunk(b"IDAT", data) + end

    return [png(filtered) for filtered in rows]


def _scanlines(rows, row_filter):
    """Room for PNG scanlines [K, H, 1 + W*C] of raw rows [K, H, W*C], each
    starting with its filter type."""
    out = np.empty(rows.shape[:2] + (rows.shape[2] + 1,), np.uint8)
    out[:, :, 0] = row_filter
    return out


def _up_filtered(rows, bytes_per_pixel):
    """PNG scanlines of raw rows [K, H, W*C], filter type 2: the first row
    as it is (zeros above it), then each row minus the one above, modulo 256."""
    out = _scanlines(rows, UP)
    out[:, :1, 1:] = rows[:, :1]
    np.subtract(rows[:, 1:], rows[:, :-1], out=out[:, 1:, 1:])
    return out


def _paeth_filtered(rows, bytes_per_pixel):
    """PNG scanlines of raw rows [K, H, W*C], filter type 4."""
    count, height, length = rows.shape
    padded = np.empty((count, height + 1, length + bytes_per_pixel), np.int16)
    padded[:, 0] = 0  # zeros above and left, as PNG says
    padded[:, :, :bytes_per_pixel] = 0
    padded[:, 1:, bytes_per_pixel:] = rows
    left = padded[:, 1:, :-bytes_per_pixel]
    up = padded[:, :-1, bytes_per_pixel:]
    up_left = padded[:, :-1, :-bytes_per_pixel]
    dist_left = up - up_left
    dist_up = left - up_left
    dist_up_left = dist_left + dist_up
    for distance in (dist_left, dist_up, dist_up_left):
        np.abs(distance, out=distance)
    predictor = np.where(dist_up <= dist_up_left, up, up_left)
    np.copyto(predictor, left, where=(dist_left <= dist_up) & (dist_left <= dist_up_left))
    out = _scanlines(rows, PAETH)
    np.subtract(rows, predictor, out=out[:, :, 1:], casting="unsafe")  # modulo 256
    return out


_FILTERS = {UP: _up_filtered, PAETH: _paeth_filtered}


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# What a PNG may hold beyond its filtered rows: signature, header and end
# chunks, chunk framing of a split image, zlib's stored-block overhead and
# ancillary chunks of other encoders; generous, since it only has to bound.
_PNG_SLACK = 64 * 1024


def max_png_bytes(width, height, channels=1):
    """An upper bound of the size of an 8-bit PNG of `width` x `height` with
    `channels` channels written by a sane encoder: twice its filtered rows
    (one filter byte each) and `_PNG_SLACK`. A blob claiming more is refused
    before it is read."""
    return 2 * height * (1 + width * channels) + _PNG_SLACK


def png_size(data):
    """(width, height) that PNG bytes declare in their IHDR chunk, read
    without decoding anything.

    Raises:
      ValueError: `data` does not start as a PNG does.
    """
    data = bytes(data[:24])
    if len(data) < 24 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG (%s)" % ("no PNG signature" if not data.startswith(_PNG_SIGNATURE)
                                              else "no IHDR chunk first"))
    return struct.unpack(">II", data[16:24])


def check_png_size(data, size=None, max_side=None):
    """Raises ValueError, saying what was expected, unless `data` starts as
    a PNG declaring `size` (width, height), or sides of at most `max_side`:
    read from its header alone, so a decompression bomb costs nothing."""
    declared = png_size(data)
    if size is not None and tuple(declared) != tuple(size):
        raise ValueError("the PNG declares %dx%d pixels, %dx%d expected: not decoded"
                         % (declared + tuple(size)))
    if max_side is not None and not (0 < declared[0] <= max_side and 0 < declared[1] <= max_side):
        raise ValueError("the PNG declares %dx%d pixels, at most %d a side expected: not decoded"
                         % (declared + (max_side,)))


def decode_png(data, size=None, max_side=None, mode=None):
    """uint8 array of PNG bytes (for readers and tests).

    The PNG's declared size is checked from its header before anything is
    decoded, against `size` or `max_side` (one of them is required), so a
    PNG declaring a huge image (a decompression bomb) costs nothing.

    Args:
      data: the PNG bytes.
      size: the (width, height) the PNG must have.
      max_side: the largest width and height it may have.
      mode: if given, the Pillow mode the PNG must decode to ("L": 8-bit
        gray, "RGB").

    Raises:
      ValueError: `data` is not a PNG that decodes, or not of `size`, larger
        than `max_side` or not of `mode` (the message says what it is).
    """
    if (size is None) == (max_side is None):
        raise TypeError("decode_png needs size= or max_side= (a bound on what it decodes)")
    check_png_size(data, size, max_side)
    try:
        picture = Image.open(io.BytesIO(data), formats=["PNG"])
        if mode is not None and picture.mode != mode:
            raise ValueError("the PNG is of mode %s, %s expected" % (picture.mode, mode))
        picture.load()
        return np.asarray(picture)
    # What Pillow raises for bytes that are not a whole, sane PNG: not an
    # image (UnidentifiedImageError, an OSError), truncated or corrupt data
    # (OSError, SyntaxError, EOFError, zlib.error), too many pixels.
    except (OSError, SyntaxError, EOFError, zlib.error, Image.DecompressionBombError) as e:
        raise ValueError("not a PNG that decodes: %s: %s" % (type(e).__name__, e)) from None


def area_downsample(pixels, factor):
    """Means of `factor x factor` blocks of an (H, W, ...) array, aligned at the
    top-left pixel; partial edge blocks average only the pixels they hold
    (as `extractor.stored_maps` does for maps)."""
    if factor <= 1:
        return pixels
    h, w = pixels.shape[:2]
    pad = [(0, -h % factor), (0, -w % factor)] + [(0, 0)] * (pixels.ndim - 2)
    sums = np.pad(pixels.astype(np.float64), pad)
    inside = np.pad(np.ones((h, w) + (1,) * (pixels.ndim - 2)), pad)
    shape = (sums.shape[0] // factor, factor, sums.shape[1] // factor, factor)
    sums = sums.reshape(shape + pixels.shape[2:]).sum(axis=(1, 3))
    counts = inside.reshape(shape + inside.shape[2:]).sum(axis=(1, 3))
    return sums / counts


def display_image(sample, max_side, channels_first=False):
    """A probe sample as displayable uint8 pixels and its channel count.

    Images (H, W, C) keep 1 or 3 channels (others: the first channel);
    sequences and vectors become a one-row strip. Values are scaled to
    0-255 per image; non-finite values show as 0.
    """
    x = np.asarray(sample, dtype=np.float64)
    if x.ndim == 3 and channels_first:
        x = np.moveaxis(x, 0, -1)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim == 3 and x.shape[-1] not in (1, 3):
        x = x[..., 0]
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim > 3:
        x = x.reshape(x.shape[0], -1)
    finite = np.isfinite(x)
    low, high = (x[finite].min(), x[finite].max()) if finite.any() else (0.0, 0.0)
    x = np.where(finite, x, low)
    x = (x - low) * (255.0 / (high - low)) if high > low else np.zeros_like(x)
    factor = max(1, math.ceil(max(x.shape[:2]) / max_side))
    pixels = np.clip(np.round(area_downsample(x, factor)), 0, 255).astype(np.uint8)
    return pixels, 3 if pixels.ndim == 3 else 1


def filter_grid(strips, image_index, num_images, columns=None, gap=1):
    """The maps of one image as a grid: uint8 strips [F, h, N * w] -> [H, W].

    Tiles run left to right, top to bottom (the seed recipe's 7x7 layout for
    49 filters); `gap` pixels of 0 separate them.
    """
    count, h, total_width = strips.shape
    w = total_width // num_images
    tiles = strips[:, :, image_index * w:(image_index + 1) * w]
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.zeros((rows * (h + gap) - gap, columns * (w + gap) - gap), dtype=np.uint8)
    for f in range(count):
        r, c = divmod(f, columns)
        grid[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tiles[f]
    return grid
