"""Opening a log dir as tb_actviz's read/ package does, and writing the
SUMMARIES events the read tests ask for (tests/unit/read/)."""

import sys
import typing

import numpy as np

from tensorboard import context
from tensorboard.backend.event_processing import data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.compat.proto import event_pb2

import hostile_logdirs
import paths
from tb_actviz import metadata
from tb_actviz.read import blob_source, catalog, pixel_store, restarts
from tb_actviz.write import event_file_writer, summary_v2

sys.path.insert(0, paths.BENCHMARKS)
import synthetic_logdir  # noqa: E402  (writes log dirs in either layout)

CTX = context.RequestContext()
CONV = metadata.layer_tag(hostile_logdirs.HEALTHY_LAYER)


def open_log_dir(root):
    """(multiplexer, catalog, blob source) over `root`, loaded by TensorBoard's
    Python loader, as `LogReader` opens one."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        tensor_size_guidance={metadata.PLUGIN_NAME: 0})
    multiplexer.AddRunsFromDirectory(root)
    multiplexer.Reload()
    provider = restarts.LatestTrainingProvider(
        data_provider.MultiplexerDataProvider(multiplexer, root), multiplexer)
    source = blob_source.BlobSource(provider, pixel_store.PixelStore(pixel_store.RunLocator(logdir=root)))
    return multiplexer, catalog.Catalog(provider), source


class Datum(typing.NamedTuple):
    step: int
    wall_time: float
    values: tuple = ()


def summary_run(run_dir, logs, tags, filters, writer=None):
    """Writes LAYER events (no blob) and a SUMMARIES event per log; `logs` is
    [(step, wall_time, fill value)]; returns the metadata of the tags."""
    spec = dict(synthetic_logdir.layer_specs(1)[0], filters=filters)
    data = synthetic_logdir.layer_plugin_data(spec, 2)
    writer = writer or event_file_writer.EventFileWriter(run_dir, metadata_once=True)
    for step, wall_time, fill in logs:
        summary = np.full((filters, len(metadata.SUMMARY_NAMES)), fill, "<f4").tobytes()
        writer.write_events(
            [event_pb2.Event(step=step, wall_time=wall_time, summary=summary_v2.activations_pb(tag, [], data))
             for tag in tags]
            + [event_pb2.Event(step=step, wall_time=wall_time, summary=summary_v2.layer_summaries_pb(
                [(tag, summary) for tag in tags]))])
    writer.close()
    return data


def fills(found):
    return [(d.step, float(np.frombuffer(data, "<f4")[0])) for d, data in found]
