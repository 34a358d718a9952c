"""Unit tests of tb_actviz.metadata and the plugin-data proto (summary_v2:
tests/unit/write/test_summary_v2.py)."""

import os
import pickle
import re
import subprocess
import sys

import pytest
from google.protobuf import descriptor
from tensorboard.compat.proto import summary_pb2

from paths import REPO
from plugin_data_cases import layer_data
from tb_actviz import metadata, plugin_data_pb2

Data = plugin_data_pb2.ActivationsPluginData


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
    assert parsed.version == metadata.PROTO_VERSION == 1
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


# plugin_data_pb2 against plugin_data.proto ------------------------------------

PROTO_PATH = os.path.join(
    REPO, "tb_actviz", "plugin_data.proto"
)

_FD = descriptor.FieldDescriptor
SCALAR_TYPES = {
    "double": _FD.TYPE_DOUBLE, "float": _FD.TYPE_FLOAT, "int32": _FD.TYPE_INT32,
    "int64": _FD.TYPE_INT64, "uint32": _FD.TYPE_UINT32, "uint64": _FD.TYPE_UINT64,
    "sint32": _FD.TYPE_SINT32, "sint64": _FD.TYPE_SINT64, "fixed32": _FD.TYPE_FIXED32,
    "fixed64": _FD.TYPE_FIXED64, "sfixed32": _FD.TYPE_SFIXED32, "sfixed64": _FD.TYPE_SFIXED64,
    "bool": _FD.TYPE_BOOL, "string": _FD.TYPE_STRING, "bytes": _FD.TYPE_BYTES,
}
FIELD = re.compile(r"(?:(repeated)\s+)?([A-Za-z_][\w.]*)\s+(\w+)\s*=\s*(\d+)\s*;")
ENUM = re.compile(r"\benum\s+(\w+)\s*\{([^{}]*)\}")
ENUM_VALUE = re.compile(r"(\w+)\s*=\s*(-?\d+)\s*;")


def read_proto(path):
    """Reads plugin_data.proto without protoc: its subset of the language only
    (one message of plain and repeated fields, with enums nested in it), and
    fails on anything else rather than skip it."""
    text = re.sub(r"//[^\n]*", "", open(path, encoding="utf-8").read())
    head = re.match(
        r'\s*syntax\s*=\s*"(\w+)"\s*;\s*package\s+([\w.]+)\s*;'
        r"\s*message\s+(\w+)\s*\{(.*)\}\s*$",
        text,
        re.S,
    )
    assert head, "plugin_data.proto is no longer syntax, package and one message"
    syntax, package, message, body = head.groups()
    enums = {}
    for name, values in ENUM.findall(body):
        enums[name] = [(v, int(n)) for v, n in ENUM_VALUE.findall(values)]
        assert not ENUM_VALUE.sub("", values).strip(), "enum %s: unknown statements" % name
    body = ENUM.sub("", body)
    fields = [(label == "repeated", type_, name, int(number))
              for label, type_, name, number in FIELD.findall(body)]
    assert not FIELD.sub("", body).strip(), (
        "statements this reader does not know: %r" % FIELD.sub("", body).strip()
    )
    return syntax, package, message, fields, enums


def is_repeated(field):
    # protobuf 5.x has only FieldDescriptor.label, 7.x only is_repeated.
    if hasattr(field, "is_repeated"):
        return field.is_repeated
    return field.label == field.LABEL_REPEATED


def described(proto_path):
    """(what plugin_data.proto at `proto_path` declares, what plugin_data_pb2
    built), in the same form: file and message names, every field's name,
    number, label and type in order, and every nested enum's values."""
    syntax, package, message, fields, enums = read_proto(proto_path)

    def field_type(type_):
        if type_ in SCALAR_TYPES:
            return SCALAR_TYPES[type_], None
        assert type_ in enums, "field type %s is neither a scalar nor a nested enum" % type_
        return _FD.TYPE_ENUM, "%s.%s.%s" % (package, message, type_)

    declared = {
        "syntax": syntax,
        "package": package,
        "message": "%s.%s" % (package, message),
        "fields": [(name, number, repeated) + field_type(type_)
                   for repeated, type_, name, number in fields],
        "enums": enums,
    }
    built = {
        # proto3: singular scalars have no presence, so HasField is refused.
        "syntax": "proto3" if _has_field_refused(Data(), "version") else "proto2",
        "package": plugin_data_pb2.DESCRIPTOR.package,
        "message": Data.DESCRIPTOR.full_name,
        "fields": [
            (f.name, f.number, is_repeated(f), f.type,
             f.enum_type.full_name if f.enum_type else None)
            for f in Data.DESCRIPTOR.fields
        ],
        "enums": {
            e.name: [(v.name, v.number) for v in e.values] for e in Data.DESCRIPTOR.enum_types
        },
    }
    return declared, built


def _has_field_refused(message, name):
    try:
        message.HasField(name)
    except ValueError:
        return True
    return False


def test_descriptor_matches_proto_file():
    """plugin_data_pb2 builds exactly the message of plugin_data.proto."""
    declared, built = described(PROTO_PATH)
    # Key by key, for a readable diff.
    assert built["syntax"] == declared["syntax"]
    assert built["package"] == declared["package"]
    assert built["message"] == declared["message"]
    assert built["fields"] == declared["fields"]
    assert built["enums"] == declared["enums"]
    assert plugin_data_pb2.DESCRIPTOR.name == "tb_actviz/plugin_data.proto"
    assert not Data.DESCRIPTOR.nested_types and not Data.DESCRIPTOR.oneofs
    assert {"KIND_UNSPECIFIED", "LAYER", "PROBE", "KERNELS"} <= {
        name for name, _ in declared["enums"]["Kind"]
    }


@pytest.mark.parametrize(
    "edit",
    [
        ("int32 channels = 17;", "int32 channels = 18;"),
        ("int32 channels = 17;", "int64 channels = 17;"),
        ("int32 channels = 17;", "repeated int32 channels = 17;"),
        ("string map_kind = 7;", "string map_type = 7;"),
        ("PROBE = 2;", "PROBE = 4;"),
        ("int32 channels = 17;", "int32 channels = 17;\n  bool extra = 18;"),
        ("package tb_actviz;", "package tb_actviz2;"),
    ],
    ids=["number", "type", "label", "name", "enum value", "new field", "package"],
)
def test_descriptor_check_notices_an_edited_proto(tmp_path, edit):
    """The check above can fail: each edit of the .proto makes the two differ."""
    old, new = edit
    text = open(PROTO_PATH, encoding="utf-8").read()
    assert old in text
    edited = tmp_path / "plugin_data.proto"
    edited.write_text(text.replace(old, new), encoding="utf-8")
    declared, built = described(str(edited))
    assert built != declared


def test_proto_reader_refuses_what_it_does_not_know(tmp_path):
    text = open(PROTO_PATH, encoding="utf-8").read()
    edited = tmp_path / "plugin_data.proto"
    edited.write_text(text.replace("int32 channels = 17;", "int32 channels = 17;\n  reserved 18;"))
    with pytest.raises(AssertionError, match="does not know"):
        read_proto(str(edited))


def test_wire_format_is_protoc_s():
    """Every field set, serialized: the bytes protoc 31.1's generated module
    wrote for the same message (packed repeated numbers, proto3), so logs
    written before and after the switch to a built descriptor read the same."""
    data = Data(
        version=1, kind=Data.Kind.KERNELS, layer_path="vgg16/block1_conv1", layer_index=3,
        layer_class="Conv2D", output_shape=[-1, 224, 64], map_kind="maps", num_images=8,
        filter_indices=[0, 1, 300], map_height=56, map_width=56, source_height=224,
        source_width=224, downsample_factor=4, stat_names=["min", "max"], labels=["face", ""],
        channels=3,
    )
    protoc_bytes = bytes.fromhex(
        "080110031a1276676731362f626c6f636b315f636f6e763120032a06436f6e76"
        "3244320dffffffffffffffffff01e001403a046d61707340084a040001ac0250"
        "38583860e00168e00170047a036d696e7a036d61788201046661636582010088"
        "0103"
    )
    assert data.SerializeToString() == protoc_bytes
    assert Data.FromString(protoc_bytes) == data


def test_public_surface_of_plugin_data_pb2():
    assert Data.Kind.LAYER == Data.LAYER == 1
    assert Data.Kind.Name(Data.Kind.PROBE) == "PROBE"
    assert Data.Kind.Value("KERNELS") == 3
    assert Data.DESCRIPTOR.file.name == plugin_data_pb2.DESCRIPTOR.name
    data = layer_data()
    assert pickle.loads(pickle.dumps(data)) == data
    assert Data.__module__ == "tb_actviz.plugin_data_pb2"


POOL_CHECK = """
import importlib, pickle, sys
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.internal import api_implementation
assert api_implementation.Type() == sys.argv[1], api_implementation.Type()
if sys.argv[2] == "conflict":
    # A different file of the same name is in the pool first.
    F = descriptor_pb2.FieldDescriptorProto
    descriptor_pool.Default().AddSerializedFile(descriptor_pb2.FileDescriptorProto(
        name="tb_actviz/plugin_data.proto", package="tb_actviz", syntax="proto3",
        message_type=[descriptor_pb2.DescriptorProto(name="ActivationsPluginData", field=[
            F(name="version", number=99, label=F.LABEL_OPTIONAL, type=F.TYPE_INT32)])],
    ).SerializeToString())
    try:
        import tb_actviz.plugin_data_pb2
    except ImportError as e:
        assert "already holds a different tb_actviz/plugin_data.proto" in str(e), e
    else:
        raise AssertionError("the conflicting file went unnoticed")
else:
    from tb_actviz import metadata, plugin_data_pb2
    Data = plugin_data_pb2.ActivationsPluginData
    data = Data(kind=Data.Kind.PROBE, output_shape=[-1, 2], labels=["a", ""])
    assert metadata.parse_plugin_metadata(
        metadata.create_summary_metadata(data).plugin_data.content) == data
    assert pickle.loads(pickle.dumps(data)) == data
    importlib.reload(plugin_data_pb2)  # the same file again: accepted
    assert plugin_data_pb2.ActivationsPluginData.FromString(data.SerializeToString()) == data
"""


@pytest.mark.parametrize("case", ["same file", "conflict"])
@pytest.mark.parametrize("implementation", ["upb", "python"])
def test_default_pool_registration(implementation, case):
    """Under both protobuf implementations: the module works, may be loaded
    again, and refuses a different file of its name in the pool."""
    env = dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=implementation)
    result = subprocess.run(
        [sys.executable, "-c", POOL_CHECK, implementation, case.split()[0]],
        capture_output=True, text=True, env=env,
    )
    assert result.returncode == 0, result.stderr


def test_plugin_reader_and_writer_need_neither_tensorflow_nor_keras():
    code = (
        "import sys\n"
        "import tb_actviz, tb_actviz.activations_plugin, tb_actviz.metadata, tb_actviz.reader\n"
        "import tb_actviz.write.summary_v2, tb_actviz.format.blob_layout, tb_actviz.write.log_writer\n"
        "loaded = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
