"""tb_actviz.format.blob_checks: what each blob of a tag must be, checked from
its bytes alone. Real blobs from `blob_layout`'s encoders pass; a float32 blob
of another length, a PNG of another size (a decompression bomb among them), a
blob past a tag's last, or no bytes at all are refused, saying what was
expected."""

import numpy as np
import pytest

import hostile_logdirs
from tb_actviz import metadata
from tb_actviz.format import blob_checks, blob_layout, images
from tb_actviz.format.geometry import MapGeometry

N, F, H, W = 3, 4, 5, 6
STATS, SUMMARIES = len(metadata.STAT_NAMES), len(metadata.SUMMARY_NAMES)


def layer_info():
    return blob_layout.layer_plugin_data("conv", 0, "Conv2D", (H, W, F), MapGeometry("maps", False, H, W, F, 1), N)


def attribution_info():
    return blob_layout.attribution_plugin_data("saliency", None, MapGeometry("maps", False, H, W, 1, 1), N,
                                               "predicted", "softmax")


def kernel_info():
    return blob_layout.kernel_plugin_data("first", 0, "Conv2D", (3, 3, 3, F), F)


def probe_info():
    return blob_layout.probe_plugin_data(["a", "b"], 3)


def real_layer_blobs():
    maps = np.random.default_rng(0).normal(size=(N, F, H, W)).astype(np.float32)
    blobs, summary, _ = blob_layout.layer_blobs(maps)
    return blobs, summary


def test_what_each_blob_of_each_kind_holds():
    layer = layer_info()
    assert blob_checks.expected(layer, 0) == ("float32", (F, N, STATS), ("filters", "images", "statistics"))
    assert blob_checks.expected(layer, 1) == blob_checks.expected(layer, F) == ("png", N * W, H)
    assert blob_checks.expected(layer, 0, summary=True) == ("float32", (F, SUMMARIES),
                                                            ("filters", "summary values"))
    attribution = attribution_info()
    record = ("float32", (N, len(metadata.ATTRIBUTION_RECORD_NAMES)), ("images", "record values"))
    assert blob_checks.expected(attribution, 0) == blob_checks.expected(attribution, 0, summary=True) == record
    assert blob_checks.expected(attribution, 1) == ("png", N * W, H)
    kernels = kernel_info()
    assert blob_checks.expected(kernels, 0) == ("float32", (F, 2), ("filters", "range values"))
    assert blob_checks.expected(kernels, 1) == ("png", F * 3, 3)
    assert blob_checks.expected(probe_info(), 1) == ("png", None, None)


@pytest.mark.parametrize("info, index, summary, message", [
    (layer_info, F + 1, False, "blob 5 is past the layer's 4 filters \\(blobs 0-4\\)"),
    (layer_info, 1, True, "a layer step's summary is one blob, blob 0 \\(asked for blob 1\\)"),
    (attribution_info, 1, True, "an attribution event holds one blob, its record"),
    (attribution_info, 2, False, "attribution tags hold blobs 0 and 1, not 2"),
    (kernel_info, 2, False, "kernel tags hold blobs 0 and 1, not 2"),
    (probe_info, 2, False, "blob 2 is past the probe's 2 images"),
], ids=["layer", "layer summary", "attribution summary", "attribution", "kernels", "probe"])
def test_a_blob_past_a_tags_last_is_no_blob(info, index, summary, message):
    with pytest.raises(ValueError, match=message):
        blob_checks.expected(info(), index, summary)
    with pytest.raises(ValueError, match=message):
        blob_checks.check(info(), index, b"", summary)


def test_a_kind_this_version_does_not_know_holds_no_blobs():
    info = layer_info()
    info.kind = 99
    with pytest.raises(ValueError, match="tags of kind 99 hold no blobs"):
        blob_checks.expected(info, 0)


def test_the_blobs_the_writer_makes_pass():
    blobs, summary = real_layer_blobs()
    info = layer_info()
    for index, blob in enumerate(blobs):
        blob_checks.check(info, index, blob)
        assert blob_checks.is_valid(info, index, memoryview(blob))
        assert len(blob) <= blob_checks.max_length(info, index)
    blob_checks.check(info, 0, summary, summary=True)
    weights = np.random.default_rng(1).normal(size=(3, 3, 3, F)).astype(np.float32)
    for index, blob in enumerate(blob_layout.kernel_blobs(weights)):
        blob_checks.check(kernel_info(), index, blob)
        assert len(blob) <= blob_checks.max_length(kernel_info(), index)
    pngs, _ = blob_layout.probe_blobs(np.zeros((2, 40, 30, 3)), max_side=64, channels_first=False)
    for index, png in enumerate(pngs):
        blob_checks.check(probe_info(), index, png)


def test_a_float32_blob_of_another_length_names_the_axes():
    blobs, summary = real_layer_blobs()
    info = layer_info()
    with pytest.raises(ValueError, match="the blob holds 20 bytes; the metadata's 4 filters x 5 summary values "
                                         "float32 values make 80"):
        blob_checks.check(info, 0, summary[:20], summary=True)
    assert not blob_checks.is_valid(info, 0, blobs[0] + b"\0\0\0\0")
    assert not blob_checks.is_valid(info, 0, summary)  # a summary where the statistics belong
    assert blob_checks.float32_length_problem(24, (2, 3), ("a", "b")) is None
    assert blob_checks.float32_length_problem(25, (2, 3), ("a", "b")) == (
        "the blob holds 25 bytes; the metadata's 2 a x 3 b float32 values make 24")


def test_a_png_of_another_size_is_refused_from_its_header():
    blobs, _ = real_layer_blobs()
    info = layer_info()
    wider = images.encode_png(np.zeros((H, N * W + 1), np.uint8))
    with pytest.raises(ValueError, match="the PNG declares 19x5 pixels, 18x5 expected: not decoded"):
        blob_checks.check(info, 1, wider)
    with pytest.raises(ValueError, match="12000x12000 pixels, 18x5 expected: not decoded"):
        blob_checks.check(info, 2, hostile_logdirs.png_bomb())
    with pytest.raises(ValueError, match="not a PNG"):
        blob_checks.check(info, 1, blobs[0])  # statistics where a strip belongs
    with pytest.raises(ValueError, match="at most 4096 a side"):
        blob_checks.check(probe_info(), 0, hostile_logdirs.png_bomb())
    assert blob_checks.MAX_PROBE_SIDE == 4096


def test_anything_but_bytes_is_refused():
    with pytest.raises(ValueError, match="a str where a blob of bytes belongs"):
        blob_checks.check(layer_info(), 0, "x" * (F * N * STATS * 4))
    assert not blob_checks.is_valid(layer_info(), 1, None)


def test_the_most_bytes_a_blob_may_hold_is_known_before_it_is_read():
    info = layer_info()
    assert blob_checks.max_length(info, 0) == F * N * STATS * 4
    assert blob_checks.max_length(info, 1) == images.max_png_bytes(N * W, H, 1)
    assert blob_checks.max_length(kernel_info(), 1) == images.max_png_bytes(F * 3, 3, 3)
    assert blob_checks.max_length(probe_info(), 0) == images.max_png_bytes(4096, 4096, 3)
    # Noise, the least compressible strip, still fits its bound.
    noise = np.random.default_rng(2).integers(0, 256, size=(H, N * W), dtype=np.uint8)
    assert len(images.encode_png(noise)) <= blob_checks.max_length(info, 1)
    with pytest.raises(ValueError, match="past the layer's"):
        blob_checks.max_length(info, F + 1)
