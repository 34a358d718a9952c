"""`/summaries` while a run restarts: steps TensorBoard drops between the
plugin's listing of a tag and its reading of the blobs are left out, the
request still answers (the Rust loader gave one such 404 in 684 requests).

Two layouts of version 1: a layer-step's summary in its own event (logs
written before December 2026: read through TensorBoard's data provider), or
in the log's SUMMARIES event (now: read from the run's event files, where a
restart replaces the step's event by one of another wall time)."""

import json
import os
import sys
import threading

from werkzeug.test import Client

from tensorboard import context, default, program
from tensorboard.plugins import base_plugin
from tensorboard.compat.proto import event_pb2
from tensorboard.data import provider

from tb_actviz import ActivationLogger, metadata
from tb_actviz.activations_plugin import ActivationsPlugin
from tb_actviz.write import summary_v2
from tb_actviz.write.event_file_writer import EventFileWriter
import keras_helpers
from log_parsing import parse_series
from paths import BENCHMARKS

sys.path.insert(0, BENCHMARKS)
import synthetic_logdir  # noqa: E402  (the layout written before December 2026)

RUN, TAG = "run/train", "actviz/layers/c1"


def _tensorboard(logdir):
    tensorboard = program.TensorBoard(plugins=default.get_plugins())
    tensorboard.configure(logdir=logdir, load_fast="false", reload_interval=0,
                          reload_task="blocking")
    data_provider, multiplexer = tensorboard._make_data_provider()
    plugin = ActivationsPlugin(base_plugin.TBContext(
        data_provider=data_provider, flags=tensorboard.flags, logdir=logdir,
        multiplexer=multiplexer))
    return data_provider, multiplexer, plugin


def test_steps_dropped_between_listing_and_reading_are_left_out(tmp_path):
    # Each layer-step's summary in its own event (the layout before December 2026).
    synthetic_logdir.generate(str(tmp_path), layers=1, steps=4, runs=1, images=2, pool=2,
                              quiet=True, layer_event_summaries=True)
    run, tag = "run1/train", metadata.layer_tag("block1_conv1")
    data_provider, multiplexer, plugin = _tensorboard(str(tmp_path))

    # What /summaries serves without a restart: blob 0 of each step.
    ctx = context.RequestContext()
    listed = data_provider.read_blob_sequences(
        ctx, experiment_id="", plugin_name="activations", downsample=1000,
        run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]))[run][tag]
    expected = [(d.step, d.wall_time, data_provider.read_blob(ctx, blob_key=d.values[0].blob_key))
                for d in listed]
    assert [step for step, _, _ in expected] == [0, 1, 2, 3]

    # The run restarts from step 2 after the plugin listed the tag's steps,
    # before it reads their blobs (at its first read): TensorBoard drops steps >= 2 (a
    # SessionLog START at step 2 purges them), so their blob keys are no
    # longer found.
    read_blob = plugin._data_provider.read_blob  # what the plugin reads blobs with
    restarted, lock = [], threading.Lock()

    def restart_then_read(*args, **kwargs):
        with lock:  # the plugin reads blobs in parallel: the first read restarts the run
            if not restarted:
                restarted.append(1)
                writer = EventFileWriter(os.path.join(str(tmp_path), run), filename_suffix=".restart")
                # TensorBoard takes a run's first START for its start, the next for a restart.
                writer.write_events([event_pb2.Event(
                    step=step, wall_time=expected[-1][1] + 1,
                    session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START))
                    for step in (0, 2)])
                writer.close()
                multiplexer.Reload()
        return read_blob(*args, **kwargs)

    plugin._data_provider.read_blob = restart_then_read
    routes = plugin.get_plugin_apps()
    response = Client(routes["/summaries"]).get("/", query_string={"run": run, "tag": tag})
    assert restarted, ("the plugin did not list the tag's steps", response.status_code, response.data)
    assert response.status_code == 200, response.data
    assert parse_series(response.data) == expected[:2]
    # TensorBoard no longer has steps 2 and 3.
    steps = Client(routes["/steps"]).get("/", query_string={"run": run, "tag": tag})
    assert [s["step"] for s in json.loads(steps.data)["steps"]] == [0, 1]


def _summaries_by_step(run_dir):
    """{step: (wall time, this layer's summary)} of the run's SUMMARIES events, the last at a step."""
    from tensorboard.backend.event_processing import event_file_loader

    found = {}
    for name in sorted(os.listdir(run_dir)):
        if "tfevents" not in name:
            continue
        for record in event_file_loader.RawEventFileLoader(os.path.join(run_dir, name)).Load():
            event = event_pb2.Event.FromString(record)
            for value in event.summary.value:
                if value.tag == metadata.SUMMARIES_TAG:
                    blobs = value.tensor.string_val
                    found[event.step] = (event.wall_time, blobs[1 + json.loads(blobs[0]).index(TAG)])
    return found


def test_a_training_restarted_between_listing_and_reading_leaves_its_steps_out(tmp_path):
    # The callback writes each log's summaries in one SUMMARIES event, which
    # the plugin reads from the event files: a step rewritten there since the
    # plugin listed it (another wall time) is left out, as TensorBoard's
    # dropped steps are above.
    x, y = keras_helpers.tiny_classifier_data(7)
    model = keras_helpers.tiny_classifier()
    run_dir = str(tmp_path / "run")
    model.fit(x, y, epochs=3, verbose=0,
              callbacks=[ActivationLogger(run_dir, probe=x[:2], verbose=0)])
    data_provider, multiplexer, plugin = _tensorboard(str(tmp_path))
    train_dir = os.path.join(run_dir, "train")
    written = _summaries_by_step(train_dir)
    assert sorted(written) == [0, 1, 2, 3]
    listed = data_provider.read_blob_sequences(
        context.RequestContext(), experiment_id="", plugin_name="activations", downsample=1000,
        run_tag_filter=provider.RunTagFilter(runs=[RUN], tags=[TAG]))[RUN][TAG]
    assert [(d.step, d.wall_time, d.values) for d in listed] == [
        (step, written[step][0], ()) for step in range(4)]  # TensorBoard keeps no blob of them

    events = plugin._blobs._summary_events
    read_events = events.events
    restarted = []

    def restart_then_read(*args, **kwargs):
        if not restarted:  # a second training writes steps 2 and 3 again
            restarted.append(1)
            writer = EventFileWriter(train_dir, filename_suffix=".restart", metadata_once=True)
            md = metadata.parse_plugin_metadata(
                multiplexer.SummaryMetadata(RUN, TAG).plugin_data.content)
            for step in (2, 3):
                wall_time = written[3][0] + step
                writer.write_events([
                    event_pb2.Event(step=step, wall_time=wall_time,
                                    summary=summary_v2.activations_pb(TAG, [], md)),
                    event_pb2.Event(step=step, wall_time=wall_time, summary=summary_v2.layer_summaries_pb(
                        [(TAG, written[step][1][::-1])]))])
            writer.close()
        return read_events(*args, **kwargs)

    events.events = restart_then_read
    routes = plugin.get_plugin_apps()
    response = Client(routes["/summaries"]).get("/", query_string={"run": RUN, "tag": TAG})
    assert restarted, ("the plugin did not read the summaries", response.status_code, response.data)
    assert response.status_code == 200, response.data
    assert parse_series(response.data) == [(step, written[step][0], written[step][1]) for step in (0, 1)]
    # Listed again, the later training's steps 2 and 3 come with their own summaries.
    multiplexer.Reload()
    response = Client(routes["/summaries"]).get("/", query_string={"run": RUN, "tag": TAG})
    assert response.status_code == 200, response.data
    served = parse_series(response.data)
    assert [(step, blob) for step, _, blob in served] == [
        (0, written[0][1]), (1, written[1][1]), (2, written[2][1][::-1]), (3, written[3][1][::-1])]
    assert [wall_time for _, wall_time, _ in served[2:]] == [written[3][0] + 2, written[3][0] + 3]
