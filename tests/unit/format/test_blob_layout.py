"""tb_actviz.format.blob_layout: what each blob of a tag holds, both ways.
Arrays are encoded as the writer does and decoded as every reader does, and
compared with what was put in (within one 8-bit step for the maps); wrong
lengths, sizes and geometries are refused with what was expected."""

import numpy as np
import pytest

import hostile_logdirs
from log_parsing import dequantize
from tb_actviz import metadata
from tb_actviz.format import blob_layout, images, map_encoding
from tb_actviz.format.blob_layout import kernel_strip
from tb_actviz.format.geometry import MapGeometry

MIN, MAX = 0, 1
N, F, H, W = 3, 4, 5, 6


def maps(seed=0, n=N, f=F, h=H, w=W):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, f, h, w)) * (1 + np.arange(f)).reshape(1, f, 1, 1)).astype(np.float32)


def layer_info(n=N, f=F, h=H, w=W):
    return blob_layout.layer_plugin_data("block/conv", 3, "Conv2D", (2 * h, 2 * w, 16),
                                         MapGeometry("maps", False, 2 * h, 2 * w, f, 2), n, step_unit="epoch")


def test_layer_plugin_data_describes_the_stored_maps():
    info = blob_layout.layer_plugin_data("c", 1, "Conv1D", (None, 8), MapGeometry("sequence", False, 1, 50, 8, 2),
                                         4)
    assert info.kind == metadata.Kind.LAYER
    assert (info.layer_path, info.layer_index, info.layer_class) == ("c", 1, "Conv1D")
    assert list(info.output_shape) == [-1, 8]  # an unknown size is -1
    assert (info.map_kind, info.num_images, list(info.filter_indices)) == ("sequence", 4, list(range(8)))
    assert (info.map_height, info.map_width, info.source_height, info.source_width,
            info.downsample_factor) == (1, 25, 1, 50, 2)
    assert tuple(info.stat_names) == metadata.STAT_NAMES
    assert tuple(info.summary_names) == metadata.SUMMARY_NAMES
    assert info.step_unit == ""


def test_layer_blobs_decode_to_the_statistics_and_maps_put_in():
    x = maps()
    info = layer_info()
    blobs, summary, strips = blob_layout.layer_blobs(x)
    assert len(blobs) == 1 + F and strips.shape == (F, H, N * W) and strips.dtype == np.uint8
    stats = blob_layout.decode_stats(blobs[0], info)
    assert stats.shape == (F, N, len(metadata.STAT_NAMES))
    np.testing.assert_array_equal(stats, map_encoding.statistics(x).transpose(1, 0, 2))
    for f in range(F):
        assert images.png_size(blobs[1 + f]) == blob_layout.strip_size(info) == (N * W, H)
        quantized = blob_layout.decode_strip(blobs[1 + f], info)
        assert quantized.shape == (N, H, W)
        np.testing.assert_array_equal(quantized, strips[f].reshape(H, N, W).transpose(1, 0, 2))
        for i in range(N):
            low, high = stats[f, i, MIN], stats[f, i, MAX]
            np.testing.assert_allclose(dequantize(quantized[i], low, high), x[i, f],
                                       rtol=0, atol=(high - low) / 255 * 0.5001)
    assert blob_layout.decode_summary(summary, info).shape == (F, len(metadata.SUMMARY_NAMES))


def test_the_summary_is_over_the_probe_images():
    x = maps(1)
    x[1, 2, 0, 0] = np.nan
    stats = map_encoding.statistics(x)  # [N, F, K]
    summary = blob_layout.decode_summary(blob_layout.layer_summary_blob(stats), layer_info())
    column = {name: summary[:, i] for i, name in enumerate(metadata.SUMMARY_NAMES)}
    k = {name: i for i, name in enumerate(metadata.STAT_NAMES)}
    np.testing.assert_array_equal(column["min"], stats[..., k["min"]].min(axis=0))
    np.testing.assert_array_equal(column["max"], stats[..., k["max"]].max(axis=0))
    np.testing.assert_allclose(column["mean"], stats[..., k["mean"]].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(column["positive_fraction"], stats[..., k["positive_fraction"]].mean(axis=0),
                               rtol=1e-6)
    assert column["nonfinite_count"].tolist() == [0, 0, 1, 0]


def test_a_blob_of_the_wrong_length_names_what_the_metadata_makes():
    info = layer_info()
    blobs, summary, _ = blob_layout.layer_blobs(maps())
    with pytest.raises(ValueError, match="holds %d bytes; the metadata's 4 filters x 3 images x 6 statistics "
                                         "float32 values make 288" % (len(blobs[0]) - 4)):
        blob_layout.decode_stats(blobs[0][:-4], info)
    with pytest.raises(ValueError, match="4 filters x 5 summary values"):
        blob_layout.decode_summary(summary + b"\0" * 4, info)
    with pytest.raises(ValueError, match="the PNG declares 18x5 pixels, 12x5 expected"):
        blob_layout.decode_strip(blobs[1], layer_info(n=2))


@pytest.mark.parametrize("field, value, problem", [
    ("filter_indices", [], "no filter_indices"),
    ("num_images", 0, "num_images 0"),
    ("map_width", 0, "map size 5x0"),
], ids=["no filters", "no images", "no width"])
def test_metadata_that_describes_no_maps_is_refused(field, value, problem):
    info = layer_info()
    if field == "filter_indices":
        del info.filter_indices[:]
    else:
        setattr(info, field, value)
    with pytest.raises(ValueError, match="describes no maps \\(%s\\)" % problem):
        blob_layout.check_layer_geometry(info)
    with pytest.raises(ValueError, match="describes no maps"):
        blob_layout.decode_stats(b"", info)


def test_attribution_blobs_hold_each_images_record_and_map():
    x = maps(2, f=1)
    x[0, 0, 0, :2] = [np.inf, np.nan]
    predicted = np.array([[1, 0.9, 0, 0.1], [0, 0.6, 0, 0.6], [1, 0.7, 1, 0.7]], np.float32)
    cam = MapGeometry("maps", False, H, W, 1, 1)
    entry = type("Entry", (), dict(path="block/conv", index=2, class_name="Conv2D"))
    info = blob_layout.attribution_plugin_data("grad_cam", entry, cam, N, "label", "softmax",
                                               class_names=["cat", "dog"], step_unit="epoch")
    assert (info.kind, info.layer_path, info.attribution_method) == (metadata.Kind.ATTRIBUTION, "block/conv",
                                                                     "grad_cam")
    assert list(info.class_names) == ["cat", "dog"] and list(info.filter_indices) == [0]
    blobs, record = blob_layout.attribution_blobs(x, predicted)
    assert len(blobs) == 2 and blobs[0] == record
    fields = blob_layout.decode_attribution_record(record, info)
    assert fields.shape == (N, len(metadata.ATTRIBUTION_RECORD_NAMES))
    stats = map_encoding.statistics(x)
    np.testing.assert_array_equal(fields[:, :2], stats[:, 0, :2])  # map_min, map_max
    np.testing.assert_array_equal(fields[:, 2:6], predicted)
    assert fields[:, 6].tolist() == [2, 0, 0]  # the map's non-finite pixels
    quantized = blob_layout.decode_strip(blobs[1], info)
    assert quantized.shape == (N, H, W)
    for i in range(N):
        finite = np.isfinite(x[i, 0])
        got = dequantize(quantized[i], fields[i, 0], fields[i, 1])
        np.testing.assert_allclose(got[finite], x[i, 0][finite],
                                   atol=(fields[i, 1] - fields[i, 0]) / 255 * 0.5001)
    saliency = blob_layout.attribution_plugin_data("saliency", None, cam, N, "predicted", "sigmoid")
    assert (saliency.layer_path, saliency.layer_index, saliency.probability) == ("", -1, "sigmoid")


def test_kernel_blobs_are_the_ranges_then_the_strip():
    weights = np.random.default_rng(3).normal(size=(3, 3, 3, 4)).astype(np.float32)
    info = blob_layout.kernel_plugin_data("first", 0, "Conv2D", weights.shape, 4)
    assert (info.kind, info.channels, info.map_height, info.map_width) == (metadata.Kind.KERNELS, 3, 3, 3)
    assert list(info.output_shape) == [3, 3, 3, 4]
    ranges_blob, png = blob_layout.kernel_blobs(weights)
    strip, ranges = kernel_strip(weights)
    np.testing.assert_array_equal(np.frombuffer(ranges_blob, "<f4").reshape(4, 2), ranges)
    np.testing.assert_array_equal(images.decode_png(png, size=(12, 3), mode="RGB"), strip)
    gray = blob_layout.kernel_plugin_data("second", 1, "Conv2D", (3, 3, 8, 2), 2)
    assert gray.channels == 1


def test_probe_blobs_are_one_png_per_image_at_most_max_side():
    gray = np.random.default_rng(4).uniform(size=(2, 20, 10, 1))
    pngs, channels = blob_layout.probe_blobs(gray, max_side=8, channels_first=False)
    assert channels == 1 and len(pngs) == 2
    for png, sample in zip(pngs, gray):
        expected, _ = images.display_image(sample, 8)
        np.testing.assert_array_equal(images.decode_png(png, max_side=8), expected)
        assert images.png_size(png) == (4, 7)  # factor 3: ceil(10 / 3) x ceil(20 / 3)
    rgb = np.random.default_rng(5).uniform(size=(1, 3, 6, 6))
    (png,), channels = blob_layout.probe_blobs(rgb, max_side=8, channels_first=True)
    assert channels == 3 and images.decode_png(png, max_side=8).shape == (6, 6, 3)
    info = blob_layout.probe_plugin_data(["a", "b"], 1)
    assert (info.kind, info.num_images, list(info.labels), info.channels) == (metadata.Kind.PROBE, 2,
                                                                              ["a", "b"], 1)


def test_rgb_kernels_are_scaled_each_on_its_own_range():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(3, 3, 3, 5)).astype(np.float32)
    strip, ranges = kernel_strip(weights)
    assert strip.shape == (3, 15, 3) and strip.dtype == np.uint8
    for f in range(5):
        patch = weights[..., f]
        assert ranges[f].tolist() == pytest.approx([patch.min(), patch.max()])
        expected = np.round((patch - patch.min()) * 255 / (patch.max() - patch.min()))
        assert np.array_equal(strip[:, 3 * f:3 * f + 3], expected)


def test_other_input_counts_are_gray_means_and_constant_kernels_are_zero():
    weights = np.zeros((2, 2, 4, 2), np.float32)
    weights[..., 1] = np.arange(16, dtype=np.float32).reshape(2, 2, 4)
    strip, ranges = kernel_strip(weights)
    assert strip.shape == (2, 4)
    assert not strip[:, :2].any()  # constant kernel: no division by zero
    means = weights[..., 1].mean(axis=2)
    assert ranges[1].tolist() == pytest.approx([means.min(), means.max()])
    assert strip[:, 2:].min() == 0 and strip[:, 2:].max() == 255


def test_version_1_summary_is_small():
    # The event of a layer-step holds the summary: at the default 49 filters
    # under 1 KB, whatever the number of images or the map size.
    stats = np.random.default_rng(0).random((8, 49, len(metadata.STAT_NAMES)), dtype=np.float32)
    assert len(blob_layout.layer_summary_blob(stats)) == 49 * len(metadata.SUMMARY_NAMES) * 4 <= 1000


def test_decode_strip_checks_the_declared_size_before_decoding():
    info = hostile_logdirs.layer_data()
    with pytest.raises(ValueError, match="declares 12000x12000 pixels, 16x8 expected: not decoded"):
        blob_layout.decode_strip(hostile_logdirs.png_bomb(), info)
    rgb = images.encode_png(np.zeros((8, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="mode RGB, L expected"):
        blob_layout.decode_strip(rgb, info)
    with pytest.raises(ValueError, match="not a PNG that decodes"):
        images.decode_png(images.encode_png(np.zeros((8, 16), np.uint8))[:-30], size=(16, 8))
    info.num_images = 0
    with pytest.raises(ValueError, match="describes no maps"):
        blob_layout.decode_strip(images.encode_png(np.zeros((8, 16), np.uint8)), info)
