"""tb_actviz's PNG encoder against an independent decoder (Pillow), and the
writer's share-out of encoding work."""

import io
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from tb_actviz.format import images
from tb_actviz.write.background import BackgroundWorker


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


@pytest.mark.parametrize("count", [0, 1, 2, 5, 49])
def test_map_shares_keeps_order_over_threads(count):
    writer = BackgroundWorker(encode_threads=2)
    try:
        items = np.arange(count)
        assert writer.map_shares(lambda share: [int(v) * 10 for v in share], items) == [
            v * 10 for v in range(count)
        ]
    finally:
        writer.close()


def test_map_shares_encodes_inline_once_the_pool_refuses_work():
    # At interpreter exit concurrent.futures refuses new work; the job in
    # flight must still finish its log.
    writer = BackgroundWorker(encode_threads=2)
    writer._helpers.shutdown()
    try:
        assert writer.map_shares(lambda share: list(share), [1, 2, 3]) == [1, 2, 3]
    finally:
        writer.close()
