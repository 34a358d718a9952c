"""What each stored blob must be, checked from its bytes alone (no decoding):
the length of a float32 blob, the dimensions a PNG declares in its header.

The one place of these rules: every reader (`read.blob_source`, for the
plugin's routes, `LogReader` and `tb-actviz export`) checks each blob here
before it serves or decodes it, and `blob_layout`'s decoders word a wrong
length the same way, so a damaged or hostile log (a PNG declaring
12000x12000, a statistics blob of the wrong length) is refused with one
message naming what was expected, instead of being decoded.
"""

from tb_actviz import metadata
from tb_actviz import wording
from tb_actviz.format import images

# Probe images are stored at most 2 * max_map_size a side; no sane probe
# needs more (the tab checks the same bound).
MAX_PROBE_SIDE = wording.MAX_PROBE_SIDE
_FLOAT32_BYTES = 4


def expected(plugin_data, index, summary=False):
    """What blob `index` of a tag holds: ("float32", shape, names), the
    shape of its float32 values and what each axis counts, or ("png",
    width, height); a PROBE image is ("png", None, None): its size varies,
    bounded by `MAX_PROBE_SIDE`.

    Args:
      plugin_data: the tag's `ActivationsPluginData`.
      index: the blob's index.
      summary: the blob is a version-1 step's summary (a LAYER's: the one
        blob of its event, or its part of the log's SUMMARIES event).

    Raises:
      ValueError: the tag has no blob `index`.
    """
    kind = plugin_data.kind
    filters = len(plugin_data.filter_indices)
    images_count = plugin_data.num_images
    if kind == metadata.Kind.LAYER:
        if summary:
            if index != 0:
                raise ValueError("a layer step's summary is one blob, blob 0 (asked for blob %d)" % index)
            return ("float32", (filters, len(plugin_data.summary_names)), ("filters", "summary values"))
        if index == 0:
            return ("float32", (filters, images_count, len(plugin_data.stat_names)),
                    ("filters", "images", "statistics"))
        if index <= filters:
            return ("png", images_count * plugin_data.map_width, plugin_data.map_height)
        raise ValueError("blob %d is past the layer's %d filters (blobs 0-%d)" % (index, filters, filters))
    if kind == metadata.Kind.ATTRIBUTION:
        record = ("float32", (images_count, len(plugin_data.summary_names)), ("images", "record values"))
        if index == 0:
            return record
        if summary:
            raise ValueError("an attribution event holds one blob, its record (asked for blob %d)" % index)
        if index == 1:
            return ("png", images_count * plugin_data.map_width, plugin_data.map_height)
        raise ValueError("attribution tags hold blobs 0 and 1, not %d" % index)
    if kind == metadata.Kind.KERNELS:
        if index == 0:
            return ("float32", (filters, 2), ("filters", "range values"))
        if index == 1:
            return ("png", filters * plugin_data.map_width, plugin_data.map_height)
        raise ValueError("kernel tags hold blobs 0 and 1, not %d" % index)
    if kind == metadata.Kind.PROBE:
        if index < images_count:
            return ("png", None, None)
        raise ValueError("blob %d is past the probe's %d images" % (index, images_count))
    raise ValueError("tags of kind %d hold no blobs this tb_actviz reads" % kind)


def float32_length_problem(length, shape, names):
    """Why `length` bytes cannot hold float32 values of `shape` (None if
    they can), naming what each axis counts."""
    count = 1
    for n in shape:
        count *= int(n)
    if length == count * _FLOAT32_BYTES:
        return None
    return "the blob holds %d bytes; the metadata's %s float32 values make %d" % (
        length, " x ".join("%d %s" % (n, name) for n, name in zip(shape, names)),
        count * _FLOAT32_BYTES)


def max_length(plugin_data, index):
    """The most bytes blob `index` of a tag may hold, known before it is
    read: a float32 blob's exact size, a PNG's ceiling from its size
    (`images.max_png_bytes`; a probe image's from `MAX_PROBE_SIDE`).

    Raises:
      ValueError: the tag has no blob `index`.
    """
    spec = expected(plugin_data, index)
    if spec[0] == "float32":
        count = 1
        for n in spec[1]:
            count *= int(n)
        return count * _FLOAT32_BYTES
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
        problem = float32_length_problem(len(data), spec[1], spec[2])
        if problem:
            raise ValueError(problem)
        return
    if spec[1] is None:
        images.check_png_size(data, max_side=MAX_PROBE_SIDE)
    else:
        images.check_png_size(data, size=spec[1:])


def is_valid(plugin_data, index, data, summary=False):
    """Whether `check` passes."""
    try:
        check(plugin_data, index, data, summary)
    except ValueError:
        return False
    return True
