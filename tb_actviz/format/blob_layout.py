"""The stored layout of each tag kind, both ways: arrays -> blobs (the writer)
and blobs -> arrays (`tb_actviz.reader`, `tb-actviz export`).

This is the one Python place that knows what blob `i` of a tag holds
(docs/format.md): the plugin data of each kind, the encoding of a layer's
statistics and strips, of kernels and of the probe images, and their decoding.
"""

import numpy as np

from tb_actviz import metadata
from tb_actviz import plugin_data_pb2
from tb_actviz.format import blob_checks
from tb_actviz.format import images
from tb_actviz.format import map_encoding

_FLOAT32 = "<f4"


# Plugin data: constant for a tag ------------------------------------------------


def _stored_size(geometry):
    """The plugin-data fields of a `MapGeometry`'s stored and source sizes."""
    return dict(
        map_height=geometry.map_height,
        map_width=geometry.map_width,
        source_height=geometry.source_height,
        source_width=geometry.source_width,
        downsample_factor=geometry.factor,
    )


def layer_plugin_data(path, index, class_name, output_shape, geometry, num_images, step_unit=""):
    """The `ActivationsPluginData` of a LAYER tag.

    Args:
      path, index, class_name: the layer's identity (`LayerEntry`).
      output_shape: the output shape without the batch axis (None: unknown).
      geometry: the layer's `format.geometry.MapGeometry`.
      num_images: probe images per step.
      step_unit: what a step counts: "epoch", "batch", or "" (not known).
    """
    return plugin_data_pb2.ActivationsPluginData(
        kind=metadata.Kind.LAYER,
        layer_path=path,
        layer_index=index,
        layer_class=class_name,
        output_shape=[-1 if d is None else int(d) for d in output_shape],
        map_kind=geometry.map_kind,
        num_images=num_images,
        filter_indices=list(range(geometry.num_filters)),
        **_stored_size(geometry),
        stat_names=list(metadata.STAT_NAMES),
        summary_names=list(metadata.SUMMARY_NAMES),
        step_unit=step_unit,
        leading_tokens=geometry.leading_tokens,
    )


def kernel_plugin_data(path, index, class_name, kernel_shape, num_filters):
    """The `ActivationsPluginData` of a KERNELS tag; `kernel_shape` is
    (kh, kw, in, out)."""
    kh, kw, inputs, outputs = (int(d) for d in kernel_shape)
    return plugin_data_pb2.ActivationsPluginData(
        kind=metadata.Kind.KERNELS,
        layer_path=path,
        layer_index=index,
        layer_class=class_name,
        output_shape=[kh, kw, inputs, outputs],
        filter_indices=list(range(num_filters)),
        map_height=kh,
        map_width=kw,
        channels=3 if inputs == 3 else 1,
    )


def attribution_plugin_data(method, cam_entry, geometry, num_images, target, probability,
                            class_names=(), step_unit=""):
    """The `ActivationsPluginData` of an ATTRIBUTION tag.

    Args:
      method: "grad_cam" or "saliency".
      cam_entry: the Grad-CAM layer's `LayerEntry` (for "grad_cam"; None for
        "saliency", which explains the input).
      geometry: the stored maps' `format.geometry.MapGeometry`.
      num_images: probe images per step.
      target: "label", "predicted" or "class K".
      probability: "softmax" or "sigmoid": how the scores were made.
      class_names: names of the model's classes (may be empty).
      step_unit: as for `layer_plugin_data`.
    """
    return plugin_data_pb2.ActivationsPluginData(
        kind=metadata.Kind.ATTRIBUTION,
        layer_path=cam_entry.path if cam_entry is not None else "",
        layer_index=cam_entry.index if cam_entry is not None else -1,
        layer_class=cam_entry.class_name if cam_entry is not None else "",
        num_images=num_images,
        filter_indices=[0],  # one map per image: blob 1 decodes as a layer's strip
        **_stored_size(geometry),
        summary_names=list(metadata.ATTRIBUTION_RECORD_NAMES),
        step_unit=step_unit,
        attribution_method=method,
        attribution_target=target,
        class_names=[str(name) for name in class_names],
        probability=probability,
    )


def probe_plugin_data(labels, channels):
    """The `ActivationsPluginData` of the PROBE tag."""
    return plugin_data_pb2.ActivationsPluginData(
        kind=metadata.Kind.PROBE,
        num_images=len(labels),
        labels=list(labels),
        channels=channels,
    )


# Encoding -----------------------------------------------------------------------


def layer_blobs(maps, encode_pngs=images.encode_pngs):
    """One layer's stored maps float32 [N, F, h, w] -> its blobs and strips.

    Args:
      maps: the maps of one log.
      encode_pngs: `images.encode_pngs` or a parallel version of it (same
        result, list of PNG bytes for a uint8 stack).

    Returns:
      (blobs, summary, strips): blob 0 the statistics [F, N, K] float32, blob
      1 + f the PNG strip of filter f; the event's compact summary
      (`layer_summary_blob`); and the uint8 strips [F, h, N * w].
    """
    stats = map_encoding.statistics(maps)
    strips = map_encoding.strips(maps, stats)
    stats_blob = stats.transpose(1, 0, 2).astype(_FLOAT32).tobytes()
    return [stats_blob] + list(encode_pngs(strips)), layer_summary_blob(stats), strips


def layer_summary_blob(stats):
    """The compact per-filter summary of statistics [N, F, K] (K in
    `metadata.STAT_NAMES` order): float32 [F, len(SUMMARY_NAMES)], each over
    the probe images (min of minima, max of maxima, mean of means, mean
    positive fraction, total non-finite count)."""
    names = metadata.STAT_NAMES
    column = {name: stats[..., names.index(name)] for name in names}
    summary = np.stack(
        [
            column["min"].min(axis=0),
            column["max"].max(axis=0),
            column["mean"].mean(axis=0),
            column["positive_fraction"].mean(axis=0),
            column["nonfinite_count"].sum(axis=0),
        ],
        axis=-1,
    )
    return summary.astype(_FLOAT32).tobytes()


def attribution_blobs(maps, predictions, encode_pngs=images.encode_pngs):
    """One attribution method's maps float32 [N, 1, h, w] and the model's
    predictions float32 [N, 4] (predicted class and score, target class and
    score) -> (blobs, record): blob 0 the record float32 [N, 7]
    (`metadata.ATTRIBUTION_RECORD_NAMES`: each map's range, the predictions,
    the map's count of non-finite pixels), blob 1 the PNG strip of every
    image's map, each quantized to 8 bits with its own range; the record is
    also the event's summary."""
    stats = map_encoding.statistics(maps)
    strip = map_encoding.strips(maps, stats)
    nonfinite = metadata.STAT_NAMES.index("nonfinite_count")
    record = np.concatenate(
        [stats[:, 0, :2], np.asarray(predictions, np.float32), stats[:, 0, nonfinite:nonfinite + 1]], axis=1)
    record = record.astype(_FLOAT32).tobytes()
    return [record] + list(encode_pngs(strip)), record


def kernel_strip(weights):
    """Kernels (kh, kw, in, F) -> (uint8 strip (kh, F * kw[, 3]), float32 [F, 2]).

    Three input channels are drawn as RGB, others as the mean over inputs;
    each kernel is scaled to 0-255 with its own range.
    """
    weights = np.asarray(weights, dtype=np.float32)
    if weights.shape[2] != 3:
        weights = weights.mean(axis=2, keepdims=True)
    patches = np.moveaxis(weights, 3, 0)  # (F, kh, kw, C)
    low = patches.min(axis=(1, 2, 3))
    high = patches.max(axis=(1, 2, 3))
    span = np.where(high > low, high - low, 1.0)
    scaled = (patches - low[:, None, None, None]) * (255.0 / span)[:, None, None, None]
    pixels = np.round(scaled).astype(np.uint8)
    count, kh, kw, channels = pixels.shape
    strip = pixels.transpose(1, 0, 2, 3).reshape(kh, count * kw, channels)
    return (strip[..., 0] if channels == 1 else strip), np.stack([low, high], axis=1)


def kernel_blobs(weights):
    """A KERNELS tag's blobs for kernels (kh, kw, in, F): ranges, then the strip."""
    strip, ranges = kernel_strip(weights)
    return [ranges.astype(_FLOAT32).tobytes(), images.encode_png(strip)]


def probe_blobs(inputs, max_side, channels_first):
    """The PROBE tag's blobs (one PNG per image; sizes may differ) and its
    channel count, for the probe's first input [N, ...]."""
    shown = [images.display_image(sample, max_side, channels_first) for sample in inputs]
    return [images.encode_png(pixels) for pixels, _ in shown], shown[0][1]


# Decoding -----------------------------------------------------------------------


def check_layer_geometry(info):
    """Raises ValueError unless a LAYER tag's metadata describes maps that
    can be decoded: at least one filter and one probe image, map sides of
    at least one pixel."""
    problems = []
    if not info.filter_indices:
        problems.append("no filter_indices")
    if info.num_images < 1:
        problems.append("num_images %d" % info.num_images)
    if info.map_height < 1 or info.map_width < 1:
        problems.append("map size %dx%d" % (info.map_height, info.map_width))
    if problems:
        raise ValueError("the layer's metadata describes no maps (%s)" % ", ".join(problems))


def _floats(data, shape, names):
    """float32 LE bytes -> an array of `shape`, checking the length first."""
    problem = blob_checks.float32_length_problem(len(data), shape, names)
    if problem:
        raise ValueError(problem)
    return np.frombuffer(data, dtype=_FLOAT32).reshape(shape)


def decode_stats(data, info):
    """Blob 0 of a LAYER tag -> float32 [F, N, K].

    Raises:
      ValueError: the blob's length is not what the metadata says.
    """
    check_layer_geometry(info)
    shape = (len(info.filter_indices), info.num_images, len(info.stat_names))
    return _floats(data, shape, ("filters", "images", "statistics"))


def decode_summary(data, info):
    """Blob 0 of a version-1 LAYER event -> float32 [F, len(summary_names)].

    Raises:
      ValueError: the blob's length is not what the metadata says.
    """
    shape = (len(info.filter_indices), len(info.summary_names))
    return _floats(data, shape, ("filters", "summary values"))


def decode_attribution_record(data, info):
    """Blob 0 of an ATTRIBUTION tag (or its event) -> float32 [N, K], K in
    `info.summary_names` order (7 names; logs written before the non-finite
    count have 6).

    Raises:
      ValueError: the blob's length is not what the metadata says.
    """
    shape = (info.num_images, len(info.summary_names))
    return _floats(data, shape, ("images", "record values"))


def strip_size(info):
    """(width, height) of a LAYER tag's strip PNGs: `N * w` by `h`."""
    return info.num_images * info.map_width, info.map_height


def decode_strip(data, info):
    """Blob 1 + f of a LAYER tag (blob 1 of an ATTRIBUTION tag) -> uint8 [N, h, w].

    The PNG's declared size is checked against the metadata before it is
    decoded: a strip of another size (a decompression bomb among them) is
    refused without decoding.

    Raises:
      ValueError: not an 8-bit gray PNG of `strip_size(info)`.
    """
    check_layer_geometry(info)
    strip = images.decode_png(data, size=strip_size(info), mode="L")
    h, w = info.map_height, info.map_width
    return strip.reshape(h, info.num_images, w).transpose(1, 0, 2)
