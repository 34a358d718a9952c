"""Does a better codec than PNG pay for the stored strips, and at what size?

Real stored maps: VGG16 (`weights=None`, so the maps are those of the initial
weights, as at step 0) on 8 probe images from scikit-image (astronaut, coffee,
chelsea, ...), every conv layer through tb_actviz's own pipeline at
`max_map_size` 32 and 64, quantized to 8 bits as the callback does. Each codec
encodes every filter's strip of every layer; printed: bytes per VGG16
layer-step (all 13 layers averaged), encode and decode time, against the
callback's PNG (Up filter + ISA-L's deflate, level 1) measured in the same run.
Only lossless codecs the browser decodes natively qualify (the tab shows real
values from the 8-bit maps).

    python benchmarks/bench_codec.py            # --quick: 2 layers
"""

import argparse
import io
import os
import statistics
import sys
import time
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from report import fmt_bytes, print_table  # noqa: E402


def probe_images(size=224):
    from skimage import data, transform

    names = ["astronaut", "coffee", "chelsea", "rocket", "cat", "hubble_deep_field",
             "immunohistochemistry", "retina"]
    return np.stack([
        transform.resize(getattr(data, n)()[..., :3], (size, size), anti_aliasing=True)
        for n in names
    ]).astype("float32") * 255.0


def stored_strips(max_map_size, layer_limit):
    """{layer: uint8 strips [F, h, N * w]} as the callback stores them."""
    import keras

    from tb_actviz.capture import backends, extractor, layer_selection
    from tb_actviz.format import map_encoding

    keras.utils.set_random_seed(0)
    model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(224, 224, 3))
    x = keras.applications.vgg16.preprocess_input(probe_images())
    entries = layer_selection.select_layers(model, "block*_conv*")[:layer_limit]
    logged = [extractor.LoggedLayer.of(e, 49, max_map_size) for e in entries]
    compiled = backends.compile_pipeline(extractor.LogPipeline(model, logged))
    strips = {}
    for layer, maps in zip(logged, compiled(keras.ops.convert_to_tensor(x))):
        strips[layer.entry.path] = map_encoding.strips(maps, map_encoding.statistics(maps))
    return strips


def _pil(fmt, **options):
    def encode(strip):
        out = io.BytesIO()
        Image.fromarray(strip).save(out, format=fmt, **options)
        return out.getvalue()

    return encode


def _png(row_filter, level=1, deflate=None):
    """tb_actviz's PNG encoder with `row_filter` ("up", "paeth"), `level`, and
    zlib's deflate if `deflate` is "zlib" (else the encoder's own)."""
    from tb_actviz.format import images

    def encode(strip):
        saved = images._deflate
        if deflate == "zlib":
            images._deflate = zlib
        try:
            return images.encode_pngs(strip[None], compress_level=level,
                                      row_filter={"up": images.UP, "paeth": images.PAETH}[row_filter])[0]
        finally:
            images._deflate = saved

    return encode


CODECS = {
    "PNG, Up + ISA-L 1 (what is written)": _png("up"),
    "PNG, Paeth + ISA-L 1": _png("paeth"),
    "PNG, Up + zlib 1 (no ISA-L wheel)": _png("up", deflate="zlib"),
    "PNG, Paeth + zlib 1 (until Dec 2026)": _png("paeth", deflate="zlib"),
    "PNG, Paeth + zlib 9": _png("paeth", 9, deflate="zlib"),
    "PNG, Pillow optimize": _pil("PNG", optimize=True),
    "WebP lossless, method 0": _pil("WEBP", lossless=True, method=0, quality=0),
    "WebP lossless, method 4": _pil("WEBP", lossless=True, method=4, quality=100),
    "WebP lossless, method 6": _pil("WEBP", lossless=True, method=6, quality=100),
    "AVIF lossless": _pil("AVIF", quality=100, lossless=True),
}


def _decode(data):
    """Gray pixels of an image (WebP has no gray mode: R = G = B)."""
    pixels = np.asarray(Image.open(io.BytesIO(data)))
    if pixels.ndim == 3:
        if not (pixels[..., :1] == pixels[..., :3]).all():
            return None
        pixels = pixels[..., 0]
    return pixels


def measure(strips, encode, repeats):
    flat = [s for layer in strips.values() for s in layer]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        encoded = [encode(s) for s in flat]
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    for data, strip in zip(encoded, flat):
        decoded = _decode(data)
        if decoded is None or not np.array_equal(decoded, strip):
            return None  # not lossless here
    decode = time.perf_counter() - started
    return sum(map(len, encoded)) / len(strips), statistics.median(times) / len(strips), decode / len(strips)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    layer_limit = 2 if args.quick else 13
    repeats = 1 if args.quick else 3
    for size in (32, 64):
        strips = stored_strips(size, layer_limit)
        rows, baseline = [], None
        for name, encode in CODECS.items():
            try:
                result = measure(strips, encode, repeats)
            except (OSError, ValueError, KeyError) as e:
                rows.append([name, "unavailable: %s" % e, "", "", ""])
                continue
            if result is None:
                rows.append([name, "not lossless", "", "", ""])
                continue
            per_layer, encode_s, decode_s = result
            baseline = baseline or result
            rows.append([name, fmt_bytes(per_layer), "%.2fx" % (per_layer / baseline[0]),
                         "%.1f ms (%.1fx)" % (encode_s * 1e3, encode_s / baseline[1]),
                         "%.1f ms" % (decode_s * 1e3)])
        print_table(
            "max_map_size=%d: per VGG16 layer-step (mean of %d conv layers, 49 filters, 8 images)"
            % (size, len(strips)),
            ["codec", "bytes", "vs today", "encode (one thread)", "decode (Pillow)"], rows,
        )
    print("(2 shared cores, noisy: encode times are medians of %d; read the ratios)" % repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
