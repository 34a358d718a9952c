"""Unit tests of tb_actviz.metadata, the plugin-data proto and summary_v2."""

import os
import re
import subprocess
import sys

import pytest
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import summary_pb2
from tensorboard.util import tensor_util

from tb_actviz import metadata, plugin_data_pb2

Data = plugin_data_pb2.ActivationsPluginData


def layer_data():
    return Data(
        kind=metadata.Kind.LAYER,
        layer_path="vgg16/block1_conv1",
        layer_index=3,
        layer_class="Conv2D",
        output_shape=[224, 224, 64],
        map_kind="maps",
        num_images=8,
        filter_indices=list(range(64)),
        map_height=56,
        map_width=56,
        source_height=224,
        source_width=224,
        downsample_factor=4,
        stat_names=list(metadata.STAT_NAMES),
    )


def test_summary_metadata_round_trip():
    data = layer_data()
    md = metadata.create_summary_metadata(data, description="first conv")
    assert md.plugin_data.plugin_name == metadata.PLUGIN_NAME == "activations"
    assert md.data_class == summary_pb2.DATA_CLASS_BLOB_SEQUENCE
    assert md.summary_description == "first conv"
    # Through the wire format, as TensorBoard stores and reads it.
    md = summary_pb2.SummaryMetadata.FromString(md.SerializeToString())
    parsed = metadata.parse_plugin_metadata(md.plugin_data.content)
    assert parsed == data
    assert parsed.version == metadata.PROTO_VERSION == 0
    assert parsed.layer_path == "vgg16/block1_conv1"
    assert list(parsed.output_shape) == [224, 224, 64]
    assert list(parsed.stat_names) == [
        "min", "max", "mean", "std", "positive_fraction", "nonfinite_count"
    ]


def test_probe_metadata_round_trip():
    data = Data(kind=metadata.Kind.PROBE, num_images=3, labels=["face", "", "not face"],
                channels=1)
    md = metadata.create_summary_metadata(data)
    parsed = metadata.parse_plugin_metadata(md.plugin_data.content)
    assert parsed.kind == metadata.Kind.PROBE
    assert list(parsed.labels) == ["face", "", "not face"]
    assert parsed.channels == 1


def test_newer_version_is_rejected():
    content = Data(version=metadata.PROTO_VERSION + 1, kind=metadata.Kind.LAYER).SerializeToString()
    with pytest.raises(ValueError, match="newer"):
        metadata.parse_plugin_metadata(content)


def test_non_bytes_content_is_rejected():
    with pytest.raises(TypeError):
        metadata.parse_plugin_metadata("not bytes")


def test_unknown_fields_from_a_compatible_writer_are_tolerated():
    # Same version, an extra field (number 99, varint): still parses.
    content = layer_data().SerializeToString() + bytes([0x98, 0x06, 0x01])
    assert metadata.parse_plugin_metadata(content).layer_path == "vgg16/block1_conv1"


def test_tags():
    assert metadata.layer_tag("vgg16/block1_conv1") == "actviz/layers/vgg16/block1_conv1"
    assert metadata.PROBE_TAG == "actviz/probe"


def test_generated_module_matches_proto_file():
    """plugin_data_pb2 declares the fields of plugin_data.proto, with their numbers."""
    import tb_actviz

    proto = open(os.path.join(os.path.dirname(tb_actviz.__file__), "plugin_data.proto")).read()
    declared = {
        name: int(number)
        for name, number in re.findall(r"^\s*(?:repeated\s+)?\w+\s+(\w+)\s*=\s*(\d+);", proto, re.M)
        if not name.isupper()  # enum values
    }
    fields = {f.name: f.number for f in Data.DESCRIPTOR.fields}
    assert fields == declared
    enum = {v.name: v.number for v in Data.DESCRIPTOR.enum_types_by_name["Kind"].values}
    declared_kinds = {
        name: int(number) for name, number in re.findall(r"^\s*([A-Z_]+)\s*=\s*(\d+);", proto, re.M)
    }
    assert enum == declared_kinds
    assert {"KIND_UNSPECIFIED", "LAYER", "PROBE", "KERNELS"} <= set(enum)


def test_plugin_side_needs_neither_tensorflow_nor_keras():
    code = (
        "import sys\n"
        "import tb_actviz, tb_actviz.activations_plugin, tb_actviz.metadata, tb_actviz.images\n"
        "loaded = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_summary_v2_writes_a_rank_1_string_blob_sequence(tmp_path):
    from tb_actviz import summary_v2

    writer = summary_v2.SummaryFileWriter(str(tmp_path))
    blobs = [b"\x00stats", b"\x89PNG one", b"\x89PNG two"]
    writer.write(lambda: summary_v2.activations("actviz/layers/conv", blobs, 7, layer_data()))
    writer.close()
    (event_file,) = [p for p in os.listdir(tmp_path) if "tfevents" in p]
    values = [
        value
        for event in event_file_loader.EventFileLoader(str(tmp_path / event_file)).Load()
        for value in event.summary.value
    ]
    (value,) = values
    assert value.tag == "actviz/layers/conv"
    assert value.metadata.plugin_data.plugin_name == "activations"
    assert value.metadata.data_class == summary_pb2.DATA_CLASS_BLOB_SEQUENCE
    assert metadata.parse_plugin_metadata(value.metadata.plugin_data.content) == layer_data()
    array = tensor_util.make_ndarray(value.tensor)
    assert array.ndim == 1 and list(array) == blobs
