"""The plugin's cache of step lists, through the routes: reloaded as soon as
TensorBoard has new steps for a tag (the cache itself:
tests/unit/read/test_catalog.py)."""

import json

from werkzeug.test import Client

from tensorboard import default, program
from tensorboard.backend import application

from tb_actviz import ActivationLogger
import keras_helpers

PREFIX = "/data/plugin/activations"
RUN, TAG = "run/train", "actviz/layers/c1"


def _fit(root, x, y, model, initial_epoch, epochs):
    model.fit(x, y, initial_epoch=initial_epoch, epochs=epochs, verbose=0,
              callbacks=[ActivationLogger(str(root / "run"), probe=x[:2], verbose=0)])


def _steps(client):
    response = client.get(PREFIX + "/steps", query_string={"run": RUN, "tag": TAG})
    assert response.status_code == 200
    return [s["step"] for s in json.loads(response.data)["steps"]]


def _blob(client, step):
    response = client.get(PREFIX + "/blob", query_string={"run": RUN, "tag": TAG, "step": step,
                                                           "index": 1})
    assert response.status_code == 200
    return response.data


def test_new_steps_reach_the_routes_through_the_cache(tmp_path, monkeypatch):
    x, y = keras_helpers.tiny_classifier_data(5)
    model = keras_helpers.tiny_classifier()
    _fit(tmp_path, x, y, model, 0, 2)

    # A blocking load and explicit reloads: no reloader thread left running
    # inside TensorFlow's record reader when the interpreter exits.
    tensorboard = program.TensorBoard(plugins=default.get_plugins())
    tensorboard.configure(logdir=str(tmp_path), load_fast="false", reload_interval=0,
                          reload_task="blocking")
    data_provider, multiplexer = tensorboard._make_data_provider()
    # The plugin reads the Python loader's events in write order
    # (`restarts.LatestTrainingProvider`): count its loads of step lists.
    from tb_actviz.read import restarts

    reads = []
    read_blob_sequences = restarts.LatestTrainingProvider.read_blob_sequences
    monkeypatch.setattr(restarts.LatestTrainingProvider, "read_blob_sequences",
                        lambda *a, **k: reads.append(1) or read_blob_sequences(*a, **k))
    client = Client(application.TensorBoardWSGIApp(
        tensorboard.flags, tensorboard.plugin_loaders, data_provider, None, multiplexer))

    assert _steps(client) == [0, 1, 2] and len(reads) == 1
    assert _steps(client) == [0, 1, 2]
    assert _blob(client, 2)[:4] == b"\x89PNG"
    assert len(reads) == 1  # the second /steps and the /blob came from the cache
    _fit(tmp_path, x, y, model, 2, 4)  # steps 2 (rewritten), 3 and 4
    assert _steps(client) == [0, 1, 2]  # TensorBoard has not reloaded yet
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    multiplexer.Reload()
    assert _steps(client) == [0, 1, 2, 3, 4] and len(reads) == 2
    assert _blob(client, 4)[:4] == b"\x89PNG"
