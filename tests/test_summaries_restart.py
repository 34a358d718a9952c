"""`/summaries` while a run restarts: steps TensorBoard drops between the
plugin's listing of a tag and its reading of the blobs are left out, the
request still answers (the Rust loader gave one such 404 in 684 requests)."""

import json
import os
import threading

import keras
import numpy as np
from werkzeug.test import Client

from tensorboard import context, default, program
from tensorboard.plugins import base_plugin
from tensorboard.compat.proto import event_pb2
from tensorboard.data import provider

from tb_actviz import ActivationLogger
from tb_actviz.activations_plugin import ActivationsPlugin
from tb_actviz.write.event_file_writer import EventFileWriter
from conftest import parse_series

RUN, TAG = "run/train", "actviz/layers/c1"


def test_steps_dropped_between_listing_and_reading_are_left_out(tmp_path):
    rng = np.random.default_rng(7)
    x, y = rng.random((8, 8, 8, 1), dtype=np.float32), rng.integers(0, 2, 8)
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="c1"), keras.layers.Flatten(),
         keras.layers.Dense(2)]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    run_dir = str(tmp_path / "run")
    model.fit(x, y, epochs=3, verbose=0,
              callbacks=[ActivationLogger(run_dir, probe=x[:2], verbose=0)])

    tensorboard = program.TensorBoard(plugins=default.get_plugins())
    tensorboard.configure(logdir=str(tmp_path), load_fast="false", reload_interval=0,
                          reload_task="blocking")
    data_provider, multiplexer = tensorboard._make_data_provider()

    # What /summaries serves without a restart: blob 0 of each step.
    ctx = context.RequestContext()
    listed = data_provider.read_blob_sequences(
        ctx, experiment_id="", plugin_name="activations", downsample=1000,
        run_tag_filter=provider.RunTagFilter(runs=[RUN], tags=[TAG]))[RUN][TAG]
    expected = [(d.step, d.wall_time, data_provider.read_blob(ctx, blob_key=d.values[0].blob_key))
                for d in listed]
    assert [step for step, _, _ in expected] == [0, 1, 2, 3]

    # The run restarts from step 2 after the plugin listed the tag's steps,
    # before it reads their blobs (at its first read): TensorBoard drops steps >= 2 (a
    # SessionLog START at step 2 purges them), so their blob keys are no
    # longer found.
    plugin = ActivationsPlugin(base_plugin.TBContext(
        data_provider=data_provider, flags=tensorboard.flags, logdir=str(tmp_path),
        multiplexer=multiplexer))
    read_blob = plugin._data_provider.read_blob  # what the plugin reads blobs with
    restarted, lock = [], threading.Lock()

    def restart_then_read(*args, **kwargs):
        with lock:  # the plugin reads blobs in parallel: the first read restarts the run
            if not restarted:
                restarted.append(1)
                writer = EventFileWriter(os.path.join(run_dir, "train"), filename_suffix=".restart")
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
    response = Client(routes["/summaries"]).get("/", query_string={"run": RUN, "tag": TAG})
    assert restarted, ("the plugin did not list the tag's steps", response.status_code, response.data)
    assert response.status_code == 200, response.data
    assert parse_series(response.data) == expected[:2]
    # TensorBoard no longer has steps 2 and 3.
    steps = Client(routes["/steps"]).get("/", query_string={"run": RUN, "tag": TAG})
    assert [s["step"] for s in json.loads(steps.data)["steps"]] == [0, 1]
