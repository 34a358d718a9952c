"""The `Summary` protos tb_actviz writes for one tag and step, no TensorFlow:
the activations summary, the Images-tab grid, and `ScalarLogger`'s scalars.

Like TensorBoard's `scalar_pb`: the proto side only; `write.event_file_writer`
puts summaries into event files. The stored layout of the blobs is in
`format.blob_layout` and docs/format.md.
"""

import json

import numpy as np

from tensorboard.compat.proto import summary_pb2
from tensorboard.compat.proto import tensor_pb2
from tensorboard.compat.proto import tensor_shape_pb2
from tensorboard.compat.proto import types_pb2
from tensorboard.plugins.image import metadata as image_metadata

from tb_actviz import metadata


def _string_tensor(values):
    # The Rust data server reads blob sequences from `string_val` only.
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(values))]
        ),
        string_val=list(values),
    )


def activations_pb(tag, blobs, plugin_data, description="", version=metadata.PROTO_VERSION):
    """A blob-sequence summary of the activations plugin.

    Args:
      tag: the tag (`metadata.layer_tag(path)`, `metadata.PROBE_TAG`, ...).
      blobs: a list of `bytes`, laid out as `format.blob_layout` says for the
        tag's kind.
      plugin_data: the tag's `ActivationsPluginData`; it must be the same for
        every step of a tag (the Rust data server reads it once).
      description: optional Markdown description.
      version: the stored format version the blobs follow (docs/format.md).

    Returns:
      A `summary_pb2.Summary` with one value: a rank-1 string tensor of
      `blobs`, whose metadata says `DATA_CLASS_BLOB_SEQUENCE`.
    """
    return summary_pb2.Summary(
        value=[
            summary_pb2.Summary.Value(
                tag=tag,
                metadata=metadata.create_summary_metadata(plugin_data, description, version),
                tensor=_string_tensor(blobs),
            )
        ]
    )


def layer_summaries_pb(tag_summaries, version=metadata.PROTO_VERSION):
    """The SUMMARIES summary of one log (docs/format.md, "Summaries").

    Args:
      tag_summaries: [(LAYER tag, its per-filter summary blob)] of the log
        (`blob_layout.layer_summary_blob`).
      version: the stored format version.

    Returns:
      A `summary_pb2.Summary` with one value of tag `metadata.SUMMARIES_TAG`:
      blob 0 the LAYER tags, a JSON list of strings; blob 1 + k the summary
      of tag k.
    """
    tags = json.dumps([tag for tag, _ in tag_summaries], separators=(",", ":")).encode()
    return summary_pb2.Summary(
        value=[
            summary_pb2.Summary.Value(
                tag=metadata.SUMMARIES_TAG,
                metadata=metadata.create_summaries_metadata(version),
                tensor=_string_tensor([tags] + [blob for _, blob in tag_summaries]),
            )
        ]
    )


def image_pb(tag, png, width, height):
    """A standard Images-tab summary of one PNG, as `tf.summary.image` writes
    it: a string tensor `[width, height, png]` with the images plugin's
    metadata."""
    return summary_pb2.Summary(
        value=[
            summary_pb2.Summary.Value(
                tag=tag,
                metadata=image_metadata.create_summary_metadata(
                    display_name=None, description=None
                ),
                tensor=_string_tensor([str(width).encode(), str(height).encode(), png]),
            )
        ]
    )


def grid_image_pb(tag, rgb):
    """`image_pb` of an (H, W, 3) uint8 picture."""
    from tb_actviz.format import images

    rgb = np.asarray(rgb, dtype=np.uint8)
    return image_pb(tag, images.encode_png(rgb), rgb.shape[1], rgb.shape[0])


_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
    data_class=summary_pb2.DATA_CLASS_SCALAR,
)


def scalar_pb(tag, value):
    """A standard scalar summary, as `tf.summary.scalar` writes it: a float32
    rank-0 tensor with the scalars plugin's metadata, read by both of
    TensorBoard's loaders."""
    return summary_pb2.Summary(
        value=[
            summary_pb2.Summary.Value(
                tag=tag,
                metadata=_SCALAR_METADATA,
                tensor=tensor_pb2.TensorProto(
                    dtype=types_pb2.DT_FLOAT,
                    tensor_shape=tensor_shape_pb2.TensorShapeProto(),
                    tensor_content=np.float32(value).tobytes(),
                ),
            )
        ]
    )
