"""The `ActivationsPluginData` message of `plugin_data.proto`, built at import.

`tb_actviz/plugin_data.proto` is the documented source of truth; this module
declares the same message, field for field, as a `FileDescriptorProto`, adds
it to protobuf's default descriptor pool and asks the runtime for the message
class. `tests/unit/test_metadata.py` checks that the two agree (names, numbers,
types, labels, enum values), without protoc.

Why not protoc's output: the module has to load on every protobuf runtime that
TensorBoard 2.18-2.21 and TensorFlow 2.18-2.21 accept, 5.x to 7.x, and no
single protoc's output is meant to. Protobuf never allows gencode on a runtime
older than the protoc that wrote it (since protoc 26 the module checks this at
import: protoc 31.1's refuses anything before protobuf 6.31.1), and it
guarantees older gencode on a newer runtime only within one major version.
Building the descriptor uses only the public API every runtime
has: `descriptor_pb2`, `DescriptorPool.AddSerializedFile` (what gencode itself
calls), `DescriptorPool.FindFileByName` and `message_factory.GetMessageClass`
(protobuf >= 4.22). An explicit table also reads better than an embedded
serialized descriptor: a review sees the fields, and a diff against the .proto
is line for line. The resulting descriptor is byte for byte the one protoc
31.1 wrote for this file, so the wire format and the message class are the
same as before.

Public surface, as with protoc's module: `ActivationsPluginData` (with the
nested enum `ActivationsPluginData.Kind` and its values, e.g.
`ActivationsPluginData.Kind.LAYER` or `ActivationsPluginData.LAYER`) and
`DESCRIPTOR`, the file's `FileDescriptor`.

To change the message: edit plugin_data.proto and `_FIELDS` / `_KIND_VALUES`
below alike; the test fails until they agree.
"""

from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory

_FILE_NAME = "tb_actviz/plugin_data.proto"
_PACKAGE = "tb_actviz"
_MESSAGE = "ActivationsPluginData"

_Field = descriptor_pb2.FieldDescriptorProto

# The .proto's field types, as written there, and what they are in a descriptor.
# "Kind" is the enum nested in the message.
_TYPES = {
    "int32": _Field.TYPE_INT32,
    "int64": _Field.TYPE_INT64,
    "string": _Field.TYPE_STRING,
    "Kind": _Field.TYPE_ENUM,
}
_TYPE_NAMES = {"Kind": ".%s.%s.Kind" % (_PACKAGE, _MESSAGE)}

# message ActivationsPluginData, in the order of plugin_data.proto (see there
# for what each field means).
_FIELDS = (
    ("int32", "version", 1),
    ("Kind", "kind", 2),
    ("string", "layer_path", 3),
    ("int32", "layer_index", 4),
    ("string", "layer_class", 5),
    ("repeated int64", "output_shape", 6),
    ("string", "map_kind", 7),
    ("int32", "num_images", 8),
    ("repeated int32", "filter_indices", 9),
    ("int32", "map_height", 10),
    ("int32", "map_width", 11),
    ("int32", "source_height", 12),
    ("int32", "source_width", 13),
    ("int32", "downsample_factor", 14),
    ("repeated string", "stat_names", 15),
    ("repeated string", "labels", 16),
    ("int32", "channels", 17),
    ("repeated string", "summary_names", 18),
    ("string", "step_unit", 19),
    ("string", "attribution_method", 20),
    ("string", "attribution_target", 21),
    ("repeated string", "class_names", 22),
    ("string", "probability", 23),
    ("int32", "leading_tokens", 24),
)

# enum ActivationsPluginData.Kind
_KIND_VALUES = (
    ("KIND_UNSPECIFIED", 0),
    ("LAYER", 1),
    ("PROBE", 2),
    ("KERNELS", 3),
    ("ATTRIBUTION", 4),
)


def _file_descriptor_proto():
    """plugin_data.proto as protoc describes it (proto3, no options)."""
    message = descriptor_pb2.DescriptorProto(name=_MESSAGE)
    for declared_type, name, number in _FIELDS:
        repeated, _, type_word = declared_type.rpartition(" ")
        field = message.field.add(
            name=name,
            number=number,
            label=_Field.LABEL_REPEATED if repeated else _Field.LABEL_OPTIONAL,
            type=_TYPES[type_word],
        )
        if type_word in _TYPE_NAMES:
            field.type_name = _TYPE_NAMES[type_word]
    kind = message.enum_type.add(name="Kind")
    for name, number in _KIND_VALUES:
        kind.value.add(name=name, number=number)
    return descriptor_pb2.FileDescriptorProto(
        name=_FILE_NAME,
        package=_PACKAGE,
        message_type=[message],
        syntax="proto3",
    )


def _add_to_default_pool(file_proto):
    """Adds the file to the default pool and returns its `FileDescriptor`.

    The same file already there (a reload of this module, or protoc's module
    of this file imported first) is fine: the pool keeps the one it has. A
    different file of that name is an ImportError.
    """
    pool = descriptor_pool.Default()
    try:
        pool.AddSerializedFile(file_proto.SerializeToString())
    except TypeError as e:  # upb and C++: "Couldn't build proto file ..."
        raise ImportError(_conflict_message(e)) from e
    file = pool.FindFileByName(_FILE_NAME)
    # The pure-Python pool keeps a different file of that name silently.
    message = file.message_types_by_name.get(_MESSAGE)
    if message is None or _declared(message) != (_FIELDS, _KIND_VALUES):
        raise ImportError(_conflict_message("it declares %r" % (_declared(message),)))
    return file


def _declared(message):
    """A message descriptor's fields and Kind values in the form of `_FIELDS`
    and `_KIND_VALUES`."""
    if message is None:
        return None
    words = {number: word for word, number in _TYPES.items()}
    fields = tuple(
        (("repeated " if _is_repeated(f) else "") + words.get(f.type, str(f.type)),
         f.name, f.number)
        for f in message.fields
    )
    kind = message.enum_types_by_name.get("Kind")
    values = tuple((v.name, v.number) for v in kind.values) if kind else ()
    return fields, values


def _is_repeated(field):
    # protobuf 5.x has only `label`, 7.x only `is_repeated`.
    if hasattr(field, "is_repeated"):
        return field.is_repeated
    return field.label == field.LABEL_REPEATED


def _conflict_message(detail):
    return (
        "protobuf's default descriptor pool already holds a different %s "
        "(an older tb_actviz imported in the same process?): %s" % (_FILE_NAME, detail)
    )


DESCRIPTOR = _add_to_default_pool(_file_descriptor_proto())

ActivationsPluginData = message_factory.GetMessageClass(
    DESCRIPTOR.message_types_by_name[_MESSAGE]
)
# As in protoc's module, so that pickle (which finds a class by its module) and
# repr() name this module.
ActivationsPluginData.__module__ = __name__
