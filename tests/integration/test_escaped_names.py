"""Runs whose names JSON escapes (`"`, `\\`, a tab, a newline), written by a
real `model.fit`: the Rust data server cannot parse a blob key of such a run
(TensorBoard's bug: "failed to parse blob key: BadJson"), and the plugin
reads those blobs from the run's event files instead (tb_actviz/read/event_blobs.py).
Every route answers what the Python loader answers, byte for byte.
"""

import json
import os

import numpy as np
import pytest

from tb_actviz import metadata

RUNS = ['q"uote\\back\ttab/train', "new\nline/train"]
EPOCHS = 2


def _train(log_dir):
    import keras
    from tb_actviz import ActivationLogger

    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.random((16, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 2, 16)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="conv"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(2, activation="softmax", name="dense"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=EPOCHS, batch_size=8, verbose=0, callbacks=[ActivationLogger(
        log_dir, probe=(x[:2], y[:2]), layers=["conv", "dense"], kernels=True,
        attributions=True, class_names=["a", "b"], verbose=0)])


@pytest.fixture(scope="module")
def escaped_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("escaped"))
    for run in RUNS:
        _train(os.path.join(root, run.rsplit("/", 1)[0]))
    return root


def _ready_server(tensorboard_factory, root, load_fast):
    server = tensorboard_factory(root, load_fast)
    steps = list(range(EPOCHS + 1))
    server.wait_until(lambda: all(
        server.served_steps(run, metadata.layer_tag(path)) == steps
        for run in RUNS for path in ("conv", "dense")), "every step of both runs")
    return server


def _answers(server):
    """{(route, run, tag, params): (status, body)} of every blob route of both runs."""
    runs = {r["run"]: r for r in server.plugin_json("runs")["runs"]}
    assert sorted(runs) == sorted(RUNS)
    answers = {}

    def get(route, run, tag, past_the_end=False, **params):
        status, _, body = server.plugin(route, run=run, tag=tag, **params)
        answers[(route, run, tag, tuple(sorted(params.items())))] = (status, body, past_the_end)
        return status

    def get_every_blob(run, tag, step):
        """Each blob of a step, then the one past its end: how many it has."""
        count = 0
        while get("blob", run, tag, step=step, index=count) == 200 and count < 64:
            count += 1
        assert count, (server.load_fast, run, tag, step, server.plugin(
            "blob", run=run, tag=tag, step=step, index=0))
        get("blob", run, tag, past_the_end=True, step=step, index=count)
        return count

    for run in RUNS:
        listing = runs[run]
        assert listing["probe"] and listing["kernels"] and listing["attributions"], listing
        probe = listing["probe"]["tag"]
        for step in server.served_steps(run, probe):
            get_every_blob(run, probe, step)
        for kernels in listing["kernels"]:
            tag = kernels["tag"]
            steps = server.served_steps(run, tag)
            assert steps, (run, tag)
            for step in steps:
                count = get_every_blob(run, tag, step)
                get("blobs", run, tag, step=step, indices="0-%d" % (count - 1))
                get("blobs", run, tag, past_the_end=True, step=step, indices="0-%d" % count)
            get("series", run, tag, index=0)
        for tag in [layer["tag"] for layer in listing["layers"]] + [
                a["tag"] for a in listing["attributions"]]:
            get("summaries", run, tag)
            get("blob", run, tag, step=0, index=1)
    return answers


@pytest.mark.server
def test_runs_whose_names_json_escapes_are_served_as_by_the_python_loader(
        escaped_root, tensorboard_factory):
    python = _answers(_ready_server(tensorboard_factory, escaped_root, "false"))
    rust = _answers(_ready_server(tensorboard_factory, escaped_root, "true"))
    assert sorted(python) == sorted(rust)
    assert any(route == "summaries" for route, *_ in python)
    for key, (status, body, past_the_end) in python.items():
        assert status == (404 if past_the_end else 200), (key, status, body[:300])
        assert rust[key][0] == status, (key, rust[key][0], rust[key][1][:300])
        if status == 200:
            assert rust[key][1] == body, key
        else:
            assert "out of range" in json.loads(rust[key][1])["error"], key


def test_the_last_event_of_a_step_is_read_and_a_damaged_record_ends_a_file(tmp_path):
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2

    from tb_actviz.read import event_blobs
    from tb_actviz.write.event_file_writer import EventFileWriter

    def event(step, blobs, tag="t"):
        tensor = tensor_pb2.TensorProto(dtype=7, string_val=blobs)
        value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
        return event_pb2.Event(step=step, wall_time=1.0, summary=summary_pb2.Summary(value=[value]))

    writer = EventFileWriter(str(tmp_path))
    writer.write_events([event(0, [b"old"]), event(1, [b"a", b"b"]), event(0, [b"new"])])
    writer.close()
    reader = event_blobs.EventBlobs()
    assert reader.read(str(tmp_path), "t", 0, 0) == b"new"
    assert reader.read(str(tmp_path), "t", 1, 1) == b"b"
    with pytest.raises(Exception, match="out of range"):
        reader.read(str(tmp_path), "t", 1, 2)
    with pytest.raises(Exception, match="no intact event of tag 'u'"):
        reader.read(str(tmp_path), "u", 0, 0)
    # The file grows by a record with a damaged CRC, then an intact one: the
    # damaged record ends what is read of the file.
    (path,) = [p for p in tmp_path.iterdir() if "tfevents" in p.name]
    good = EventFileWriter(str(tmp_path / "other"))
    good.write_events([event(2, [b"late"])])
    good.close()
    (other,) = [p for p in (tmp_path / "other").iterdir() if "tfevents" in p.name]
    record = other.read_bytes()
    damaged = record[:-5] + bytes([record[-5] ^ 1]) + record[-4:]
    with open(path, "ab") as f:
        f.write(damaged + record)
    with pytest.raises(Exception, match="no intact event"):
        reader.read(str(tmp_path), "t", 2, 0)
    assert reader.read(str(tmp_path), "t", 0, 0) == b"new"
    with pytest.raises(Exception, match="remote"):
        reader.read("s3://bucket/run", "t", 0, 0)


@pytest.mark.server
def test_the_tab_draws_such_runs_under_the_rust_loader(escaped_root, tensorboard_factory, browser):
    from browser_support import assert_drawn, new_tab, tab_url

    server = _ready_server(tensorboard_factory, escaped_root, "true")
    for run in RUNS:
        with new_tab(browser) as t:
            t.open(tab_url(server, run=run, view="kernels", layer="conv"))
            kernels = t.grid("kernels-grid")
            assert kernels, run
            for stats in kernels:
                assert_drawn(stats, "kernel of %r" % run)
            t.show_view("images")
            images = t.grid("images-grid")
            assert images, run
            # A ReLU map of 8x8 may hold two colours: each drawn, one not uniform.
            assert all(stats["width"] > 0 for stats in images), images
            assert any(stats["variance"] > 0 for stats in images), images
            t.assert_clean()
