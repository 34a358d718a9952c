"""tb_actviz.format.images: the PNG encoder against an independent decoder
(Pillow), the bounded decoder, and the probe images' display scaling."""

import io
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import hostile_logdirs
from tb_actviz.format import images


def pillow_decode(data):
    image = Image.open(io.BytesIO(data))
    image.load()  # verifies the zlib stream and every chunk's CRC
    return image.mode, np.asarray(image)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    hnp.arrays(
        np.uint8,
        st.tuples(st.integers(1, 4), st.integers(1, 9), st.integers(1, 9)).flatmap(
            lambda s: st.sampled_from([s, s + (3,)])
        ),
    )
)
def test_every_image_of_a_stack_round_trips(stack):
    for row_filter in (images.UP, images.PAETH):
        pngs = images.encode_pngs(stack, row_filter=row_filter)
        assert len(pngs) == len(stack)
        for png, expected in zip(pngs, stack):
            mode, pixels = pillow_decode(png)
            assert mode == ("RGB" if stack.ndim == 4 else "L")
            np.testing.assert_array_equal(pixels, expected)


@pytest.mark.parametrize("deflate", ["default", "zlib"])
@pytest.mark.parametrize("row_filter", [images.UP, images.PAETH])
@pytest.mark.parametrize("pattern", ["ramp", "edges", "noise", "constant"])
def test_maps_like_activations_round_trip_and_compress(pattern, row_filter, deflate, monkeypatch):
    if deflate == "zlib":  # as where ISA-L is not installed
        monkeypatch.setattr(images, "_deflate", zlib)
    # Paeth prediction picks left, up or up-left per pixel: ramps and edges in
    # both directions exercise all three, with wrap-around at 0 and 255.
    y, x = np.mgrid[0:32, 0:256]
    maps = {
        "ramp": (x + 3 * y) % 256,
        "edges": np.where((x // 7 + y // 5) % 2 == 0, 255, 0),
        "noise": np.random.default_rng(0).integers(0, 256, size=(32, 256)),
        "constant": np.full((32, 256), 200),
    }
    stack = np.stack([maps[pattern], maps[pattern][::-1, ::-1]]).astype(np.uint8)
    pngs = images.encode_pngs(stack, row_filter=row_filter)
    for png, expected in zip(pngs, stack):
        np.testing.assert_array_equal(pillow_decode(png)[1], expected)
        idat_length = int.from_bytes(png[33:37], "big")  # the chunk after the signature and IHDR
        assert png[37:41] == b"IDAT"
        assert zlib.decompress(png[41:41 + idat_length])[0] == row_filter  # first scanline's filter
    if pattern != "noise":
        assert max(map(len, pngs)) < stack[0].size // 4


def test_encode_png_is_the_one_image_case():
    pixels = np.arange(60, dtype=np.uint8).reshape(4, 5, 3)
    assert images.encode_png(pixels) == images.encode_pngs(pixels[None])[0]
    np.testing.assert_array_equal(images.decode_png(images.encode_png(pixels), max_side=16384), pixels)


@pytest.mark.parametrize("bad", [np.zeros((2, 3, 3), np.float32), np.zeros((3, 3), np.uint8),
                                 np.zeros((1, 3, 3, 4), np.uint8)])
def test_unsupported_arrays_are_refused(bad):
    with pytest.raises(ValueError, match="uint8"):
        images.encode_pngs(bad)


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (1, 300), (64, 1)])
def test_png_round_trip(shape):
    pixels = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    data = images.encode_png(pixels)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = images.decode_png(data, max_side=16384)
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, pixels)


def test_display_image_gray_scaled_per_image():
    sample = np.linspace(-1.0, 3.0, 20).reshape(4, 5, 1)
    pixels, channels = images.display_image(sample, max_side=64)
    assert channels == 1 and pixels.shape == (4, 5) and pixels.dtype == np.uint8
    assert pixels.min() == 0 and pixels.max() == 255
    np.testing.assert_array_equal(pixels, np.round((sample[..., 0] + 1) / 4 * 255).astype(np.uint8))


def test_display_image_rgb_and_channels_first():
    rng = np.random.default_rng(1)
    sample = rng.uniform(0, 1, size=(6, 8, 3))
    pixels, channels = images.display_image(sample, max_side=64)
    assert channels == 3 and pixels.shape == (6, 8, 3)
    first, channels_cf = images.display_image(np.moveaxis(sample, -1, 0), 64, channels_first=True)
    assert channels_cf == 3
    np.testing.assert_array_equal(first, pixels)


def test_display_image_downsamples_to_max_side():
    sample = np.random.default_rng(2).uniform(size=(100, 50, 1))
    pixels, _ = images.display_image(sample, max_side=32)
    assert pixels.shape == (25, 13)  # factor ceil(100/32) = 4


def test_display_image_constant_and_nonfinite():
    pixels, _ = images.display_image(np.full((3, 3, 1), 7.0), 64)
    assert (pixels == 0).all()
    sample = np.array([[0.0, np.nan], [np.inf, 2.0]])
    pixels, _ = images.display_image(sample, 64)
    assert pixels.tolist() == [[0, 0], [0, 255]]


def test_display_image_sequences_and_vectors_are_strips():
    pixels, channels = images.display_image(np.arange(10.0), 64)
    assert pixels.shape == (1, 10) and channels == 1
    pixels, channels = images.display_image(np.zeros((12, 5)), 64)
    assert pixels.shape == (12, 5) and channels == 1


def test_decode_png_always_has_a_bound():
    with pytest.raises(TypeError, match="size= or max_side="):
        images.decode_png(hostile_logdirs.png_bomb())
    with pytest.raises(ValueError, match="12000x12000 pixels, at most 4096 a side expected: not decoded"):
        images.decode_png(hostile_logdirs.png_bomb(), max_side=4096)
