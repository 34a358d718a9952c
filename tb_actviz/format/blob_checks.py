"""What each stored blob must be, checked from its bytes alone (no decoding):
the length of a float32 blob, the dimensions a PNG declares in its header.

Used by the plugin before it serves a blob (the readers check as they
decode, in `blob_layout`), so that a damaged or hostile log (a PNG declaring 12000x12000, a
statistics blob of the wrong length) is refused with a message naming what
was expected, instead of being decoded.
"""

from tb_actviz import metadata
from tb_actviz.format import images

# Probe images are stored at most 2 * max_map_size a side; no sane probe needs more.
MAX_PROBE_SIDE = 4096
_FLOAT32_BYTES = 4


def expected(plugin_data, index, summary=False):
    """What blob `index` of a tag holds: ("float32", count) or ("png", width,
    height); a PROBE image is ("png", None, None): its size varies, bounded
    by `MAX_PROBE_SIDE`.

    Args:
      plugin_data: the tag's `ActivationsPluginData`.
      index: the blob's index.
      summary: the blob is a version-1 LAYER event's summary (its only blob).

    Raises:
      ValueError: the tag has no blob `index`.
    """
    kind = plugin_data.kind
    filters = len(plugin_data.filter_indices)
    if kind == metadata.Kind.LAYER:
        if summary:
            if index != 0:
                raise ValueError("a layer event holds one blob, its summary (asked for blob %d)" % index)
            return ("float32", filters * len(plugin_data.summary_names))
        if index == 0:
            return ("float32", filters * plugin_data.num_images * len(plugin_data.stat_names))
        if index <= filters:
            return ("png", plugin_data.num_images * plugin_data.map_width, plugin_data.map_height)
        raise ValueError("blob %d is past the layer's %d filters (blobs 0-%d)" % (index, filters, filters))
    if kind == metadata.Kind.ATTRIBUTION:
        record = ("float32", plugin_data.num_images * len(plugin_data.summary_names))
        if index == 0:
            return record
        if summary:
            raise ValueError("an attribution event holds one blob, its record (asked for blob %d)" % index)
        if index == 1:
            return ("png", plugin_data.num_images * plugin_data.map_width, plugin_data.map_height)
        raise ValueError("attribution tags hold blobs 0 and 1, not %d" % index)
    if kind == metadata.Kind.KERNELS:
        if index == 0:
            return ("float32", filters * 2)
        if index == 1:
            return ("png", filters * plugin_data.map_width, plugin_data.map_height)
        raise ValueError("kernel tags hold blobs 0 and 1, not %d" % index)
    if kind == metadata.Kind.PROBE:
        if index < plugin_data.num_images:
            return ("png", None, None)
        raise ValueError("blob %d is past the probe's %d images" % (index, plugin_data.num_images))
    raise ValueError("tags of kind %d hold no blobs this tb_actviz reads" % kind)


def max_length(plugin_data, index):
    """The most bytes blob `index` of a tag may hold, known before it is
    read: a float32 blob's exact size, a PNG's ceiling from its size
    (`images.max_png_bytes`; a probe image's from `MAX_PROBE_SIDE`).

    Raises:
      ValueError: the tag has no blob `index`.
    """
    spec = expected(plugin_data, index)
    if spec[0] == "float32":
        return spec[1] * _FLOAT32_BYTES
    if spec[1] is None:
        return images.max_png_bytes(MAX_PROBE_SIDE, MAX_PROBE_SIDE, 3)
    return images.max_png_bytes(spec[1], spec[2], max(1, plugin_data.channels))


def check(plugin_data, index, data, summary=False):
    """Raises ValueError, saying what was expected, unless `data` can be blob
    `index` of a tag with `plugin_data` (see `expected`)."""
    spec = expected(plugin_data, index, summary)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError("a %s where a blob of bytes belongs (the tag's tensor is not a "
                         "list of blobs)" % type(data).__name__)
    if spec[0] == "float32":
        if len(data) != spec[1] * _FLOAT32_BYTES:
            raise ValueError("%d bytes where %d float32 (%d bytes) belong"
                             % (len(data), spec[1], spec[1] * _FLOAT32_BYTES))
        return
    width, height = images.png_size(data)
    if spec[1] is None:
        if not (0 < width <= MAX_PROBE_SIDE and 0 < height <= MAX_PROBE_SIDE):
            raise ValueError("a PNG of %dx%d; probe images are at most %d a side"
                             % (width, height, MAX_PROBE_SIDE))
    elif (width, height) != spec[1:]:
        raise ValueError("a PNG of %dx%d where the metadata says %dx%d" % ((width, height) + spec[1:]))


def is_valid(plugin_data, index, data, summary=False):
    """Whether `check` passes."""
    try:
        check(plugin_data, index, data, summary)
    except ValueError:
        return False
    return True
