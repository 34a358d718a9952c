"""Internal information about the activations plugin: names and metadata.

Neither this module nor the plugin side imports TensorFlow, so a machine with
TensorBoard alone can serve logs.
"""

from google.protobuf import message
from tensorboard.compat.proto import summary_pb2

from tb_actviz import plugin_data_pb2

PLUGIN_NAME = "activations"

# Increment when the stored format changes in a way old readers cannot read.
# 0: every blob inside the event files. 1: LAYER tags keep a compact summary
# in the event files, their strips and per-map statistics in the plugin's own
# file of each log (format/pixel_file.py). Since December 2026 (still 1: an
# older reader reads everything but those summaries) a LAYER event holds no
# blob and the log's summaries are in one event of SUMMARIES_TAG; readers
# tell the two by the event's blob count (docs/format.md, "Summaries").
PROTO_VERSION = 1

TAG_PREFIX = "actviz/"
PROBE_TAG = TAG_PREFIX + "probe"
LAYER_TAG_PREFIX = TAG_PREFIX + "layers/"
KERNEL_TAG_PREFIX = TAG_PREFIX + "kernels/"
ATTRIBUTION_TAG_PREFIX = TAG_PREFIX + "attribution/"
GRID_TAG_PREFIX = "actviz_grid/"
# One event per log holds the per-filter summary of each of its LAYER tags,
# under a plugin name TensorBoard has no plugin for: TensorBoard keeps only a
# sample of 10 of them (both loaders), not one per step in memory, and the
# plugin reads them from the event files (read/event_blobs.py).
SUMMARIES_TAG = TAG_PREFIX + "summaries"
SUMMARIES_PLUGIN_NAME = "activations_summaries"

# Per-map statistics in blob 0 of a layer tag, innermost axis, in this order.
STAT_NAMES = (
    "min",
    "max",
    "mean",
    "std",
    "positive_fraction",
    "nonfinite_count",
)

# Per-filter summary over the probe images of a version-1 LAYER step, in
# the log's SUMMARIES event (blob 0 of the LAYER event in logs written before
# it): what the tab shows of a step when its pixel file is missing.
SUMMARY_NAMES = (
    "min",
    "max",
    "mean",
    "positive_fraction",
    "nonfinite_count",
)

# Each probe image's record in an ATTRIBUTION event (its blob 0, float32
# [N, K]): the range of its stored map, what the model predicted (class index
# and score) and the explained class with its score (NaN where the model's
# output is not finite: no prediction), and the count of the map's
# non-finite pixels (logs written before it have the first six).
ATTRIBUTION_RECORD_NAMES = (
    "map_min",
    "map_max",
    "predicted_class",
    "predicted_score",
    "target_class",
    "target_score",
    "map_nonfinite_count",
)

Kind = plugin_data_pb2.ActivationsPluginData.Kind


def pixels_in_plugin_files(plugin_data):
    """Whether a tag's pixels live in the plugin's own files (version 1 LAYER
    and ATTRIBUTION tags) rather than in its events, which then hold one
    summary blob per step."""
    return plugin_data.version >= 1 and plugin_data.kind in (Kind.LAYER, Kind.ATTRIBUTION)


def layer_tag(layer_path):
    return LAYER_TAG_PREFIX + layer_path


def attribution_tag(method):
    return ATTRIBUTION_TAG_PREFIX + method


def create_summary_metadata(plugin_data, description="", version=PROTO_VERSION):
    """Wraps an `ActivationsPluginData` in a `SummaryMetadata` proto.

    Args:
      plugin_data: the tag's plugin data; its `version` is set to `version`.
      description: optional Markdown description.
      version: the stored format the tag's blobs follow (an older one only to
        write old-format logs, as the compatibility tests do).

    The data class is set explicitly: the Rust data server drops blob
    sequences whose metadata does not say so.
    """
    plugin_data.version = version
    return summary_pb2.SummaryMetadata(
        summary_description=description,
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME,
            content=plugin_data.SerializeToString(),
        ),
        data_class=summary_pb2.DATA_CLASS_BLOB_SEQUENCE,
    )


def create_summaries_metadata(version=PROTO_VERSION):
    """The `SummaryMetadata` of the SUMMARIES tag: plugin `SUMMARIES_PLUGIN_NAME`,
    content an `ActivationsPluginData` holding only `version`."""
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=SUMMARIES_PLUGIN_NAME,
            content=plugin_data_pb2.ActivationsPluginData(version=version).SerializeToString(),
        ),
        data_class=summary_pb2.DATA_CLASS_BLOB_SEQUENCE,
    )


def parse_plugin_metadata(content):
    """Parses the `plugin_data.content` bytes of a summary's metadata.

    Returns:
      An `ActivationsPluginData`.

    Raises:
      TypeError: `content` is not bytes.
      NewerVersionError: the content was written by a newer tb_actviz.
      ValueError: the content is not an `ActivationsPluginData`.
    """
    if not isinstance(content, bytes):
        raise TypeError("Content type must be bytes, got %r" % type(content))
    try:
        result = plugin_data_pb2.ActivationsPluginData.FromString(content)
    except message.DecodeError as e:
        raise ValueError("activations metadata does not parse (%d bytes): %s" % (len(content), e)) from None
    if result.version > PROTO_VERSION:
        raise NewerVersionError(
            "activations metadata version %d is newer than this tb_actviz "
            "reads (%d): upgrade tb_actviz" % (result.version, PROTO_VERSION),
            result.version,
        )
    return result


class NewerVersionError(ValueError):
    """Metadata of a stored format newer than this tb_actviz reads."""

    def __init__(self, text, version):
        super().__init__(text)
        self.version = version
