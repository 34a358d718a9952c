"""tb_actviz.write.summary_v2: the Summary protos of a tag and step, written
without TensorFlow and read back with TensorBoard's own loader."""

import os

from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import summary_pb2
from tensorboard.util import tensor_util

from plugin_data_cases import layer_data
from tb_actviz import metadata


def test_summary_v2_writes_a_rank_1_string_blob_sequence(tmp_path):
    from tensorboard.compat.proto import event_pb2

    from tb_actviz.write import summary_v2
    from tb_actviz.write import event_file_writer

    writer = event_file_writer.EventFileWriter(str(tmp_path))
    blobs = [b"\x00stats", b"\x89PNG one", b"\x89PNG two"]
    data = layer_data()
    summary = summary_v2.activations_pb("actviz/layers/conv", blobs, data)
    writer.write_events([event_pb2.Event(step=7, wall_time=1.5, summary=summary)])
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
    parsed = metadata.parse_plugin_metadata(value.metadata.plugin_data.content)
    assert parsed == data and parsed.version == metadata.PROTO_VERSION
    array = tensor_util.make_ndarray(value.tensor)
    assert array.ndim == 1 and list(array) == blobs


def test_layer_summaries_pb_lists_its_tags_then_their_summaries():
    # One event per log holds every layer's summary, under a plugin name
    # TensorBoard has no plugin for (it keeps a sample of them, not every step).
    import json

    from tb_actviz.write import summary_v2

    tags = ["actviz/layers/a", "actviz/layers/b\t\u00e9"]
    summary = summary_v2.layer_summaries_pb([(tags[0], b"\x01" * 40), (tags[1], b"\x02" * 20)])
    (value,) = summary.value
    assert value.tag == metadata.SUMMARIES_TAG == "actviz/summaries"
    assert value.metadata.plugin_data.plugin_name == metadata.SUMMARIES_PLUGIN_NAME
    assert metadata.SUMMARIES_PLUGIN_NAME != metadata.PLUGIN_NAME
    assert value.metadata.data_class == summary_pb2.DATA_CLASS_BLOB_SEQUENCE
    assert metadata.parse_plugin_metadata(value.metadata.plugin_data.content).version == metadata.PROTO_VERSION
    blobs = tensor_util.make_ndarray(value.tensor)
    assert blobs.shape == (3,) and json.loads(blobs[0]) == tags
    assert list(blobs[1:]) == [b"\x01" * 40, b"\x02" * 20]
