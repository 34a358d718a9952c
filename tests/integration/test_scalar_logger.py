"""ScalarLogger: Keras's epoch and batch logs as standard TensorBoard scalars,
written without TensorFlow into the runs `keras.callbacks.TensorBoard` uses,
and read back with TensorBoard's own loaders (the Python `EventAccumulator`,
and a real `tensorboard` serving the Scalars plugin on both loaders).

Runs on every backend; the comparisons with `keras.callbacks.TensorBoard`
itself only where TensorFlow is installed (it needs TensorFlow).
"""

import glob
import json
import logging
import os
import re
import shutil
import subprocess

import keras
import numpy as np
import pytest
from keras import layers

from keras_helpers import has_tensorflow
from tb_actviz import ActivationLogger, ScalarLogger, metadata
from tb_actviz.reader import LogReader

EPOCHS = 3
BATCH_SIZE = 8
BATCHES = 5  # a training epoch: 40 samples
VALIDATION_SAMPLES = 16

needs_tensorflow = pytest.mark.skipif(
    not has_tensorflow(), reason="keras.callbacks.TensorBoard needs TensorFlow")


def _data():
    rng = np.random.default_rng(3)
    x = rng.random((BATCH_SIZE * BATCHES, 6, 6, 1), dtype=np.float32)
    return x, (x.mean(axis=(1, 2, 3)) > 0.5).astype("int32")


def _model():
    model = keras.Sequential([
        keras.Input((6, 6, 1)),
        layers.Conv2D(2, 3, name="c1"),
        layers.Flatten(),
        layers.Dense(2, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _fit(callbacks, epochs=EPOCHS):
    keras.utils.set_random_seed(0)
    x, y = _data()
    model = _model()
    history = model.fit(
        x, y, epochs=epochs, batch_size=BATCH_SIZE, shuffle=False, verbose=0,
        validation_data=(x[:VALIDATION_SAMPLES], y[:VALIDATION_SAMPLES]),
        callbacks=callbacks,
    )
    return model, history.history


class _BatchLogs(keras.callbacks.Callback):
    """The logs every training batch ends with, as callbacks get them."""

    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append(dict(logs))


def _scalars(run_dir):
    """{tag: [(step, value)]} of the scalars-plugin tags of a run, read by
    TensorBoard's Python loader."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    accumulator = event_accumulator.EventAccumulator(
        run_dir, size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    scalars = {}
    for tag in accumulator.Tags()["tensors"]:
        if accumulator.SummaryMetadata(tag).plugin_data.plugin_name != "scalars":
            continue
        scalars[tag] = []
        for event in accumulator.Tensors(tag):
            value = tensor_util.make_ndarray(event.tensor_proto)
            assert value.dtype == np.float32 and value.shape == (), (tag, value)
            scalars[tag].append((event.step, float(value)))
    return scalars


def _event_files(run_dir):
    return sorted(glob.glob(os.path.join(run_dir, "*tfevents*")))


def _epochs(values, first=0):
    return [(first + epoch, value) for epoch, value in enumerate(values)]


def _learning_rate(model):
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def _warnings(caplog, text):
    return [r.getMessage() for r in caplog.records
            if r.name == "tb_actviz" and r.levelno >= logging.WARNING and text in r.getMessage()]


# What is written ---------------------------------------------------------------


def test_epoch_scalars_are_fits_logs_beside_the_activations(tmp_path):
    log_dir = str(tmp_path)
    x, _ = _data()
    model, history = _fit([
        ScalarLogger(log_dir),
        ActivationLogger(log_dir, probe=x[:2], layers=["c1"], verbose=0),
    ])
    train = _scalars(os.path.join(log_dir, "train"))
    assert sorted(train) == ["epoch_accuracy", "epoch_learning_rate", "epoch_loss"]
    assert train["epoch_loss"] == _epochs(history["loss"])
    assert train["epoch_accuracy"] == _epochs(history["accuracy"])
    assert train["epoch_learning_rate"] == _epochs([_learning_rate(model)] * EPOCHS)

    validation = _scalars(os.path.join(log_dir, "validation"))
    assert sorted(validation) == [
        "epoch_accuracy", "epoch_loss",
        "evaluation_accuracy_vs_iterations", "evaluation_loss_vs_iterations",
    ]
    for name in ("loss", "accuracy"):
        assert validation["epoch_" + name] == _epochs(history["val_" + name])
        # Keras's step for these: the optimizer's iterations at the evaluation.
        assert validation["evaluation_%s_vs_iterations" % name] == [
            ((epoch + 1) * BATCHES, value) for epoch, value in enumerate(history["val_" + name])]

    # One event file per writer in the run they share; the activations read as before.
    assert len(_event_files(os.path.join(log_dir, "train"))) == 2
    assert len(_event_files(os.path.join(log_dir, "validation"))) == 1
    assert LogReader(log_dir).steps("train", metadata.layer_tag("c1")) == list(range(EPOCHS + 1))


@pytest.mark.parametrize("update_freq, every", [(2, 2), ("batch", 1)])
def test_batch_scalars_every_n_batches(tmp_path, update_freq, every):
    log_dir = str(tmp_path)
    batch_logs = _BatchLogs()
    _, history = _fit([ScalarLogger(log_dir, update_freq=update_freq), batch_logs], epochs=2)
    train = _scalars(os.path.join(log_dir, "train"))
    assert sorted(train) == ["batch_accuracy", "batch_loss",
                             "epoch_accuracy", "epoch_learning_rate", "epoch_loss"]
    # Keras's step: the batches of this fit so far, 1-based, across epochs.
    steps = [s for s in range(1, 2 * BATCHES + 1) if s % every == 0]
    assert len(batch_logs.logs) == 2 * BATCHES
    for name in ("loss", "accuracy"):
        assert train["batch_" + name] == [(s, batch_logs.logs[s - 1][name]) for s in steps]
        # Every epoch's scalars, 5 batches an epoch or not.
        assert train["epoch_" + name] == _epochs(history[name])
    validation = _scalars(os.path.join(log_dir, "validation"))
    assert validation["epoch_loss"] == _epochs(history["val_loss"])


def test_evaluate_writes_the_evaluation_scalars(tmp_path):
    log_dir = str(tmp_path)
    model, _ = _fit([], epochs=1)
    x, y = _data()
    logs = model.evaluate(x, y, batch_size=BATCH_SIZE, verbose=0, return_dict=True,
                          callbacks=[ScalarLogger(log_dir)])
    validation = _scalars(os.path.join(log_dir, "validation"))
    assert validation == {
        "evaluation_%s_vs_iterations" % name: [(BATCHES, logs[name])] for name in ("accuracy", "loss")}
    assert not os.path.exists(os.path.join(log_dir, "train"))


def test_a_batch_hook_only_for_an_integer_update_freq(tmp_path):
    # Keras converts every batch's logs to Python numbers on the training
    # thread as soon as one callback overrides a batch end hook.
    from keras.src import backend
    from keras.src.utils import is_default

    by_epoch = ScalarLogger(str(tmp_path))
    by_batch = ScalarLogger(str(tmp_path), update_freq=3)
    assert is_default(by_epoch.on_train_batch_end)
    assert not is_default(by_batch.on_train_batch_end)
    if backend.IS_THREAD_SAFE:  # JAX, PyTorch: batch ends go to a thread of Keras's
        assert keras.callbacks.CallbackList([by_epoch])._async_train
        assert not keras.callbacks.CallbackList([by_batch])._async_train


@pytest.mark.parametrize("kwargs, message", [
    ({"log_dir": None}, "log_dir= must be a directory path"),
    ({"log_dir": ""}, "log_dir= must be a directory path"),
    ({"log_dir": 3}, "log_dir= must be a directory path"),
    ({"log_dir": "s3://bucket/a/../b"}, "'s3://bucket/b'"),
    ({"update_freq": 0}, "update_freq= must be 'epoch', 'batch' or a positive integer"),
    ({"update_freq": -2}, "update_freq= must be 'epoch', 'batch' or a positive integer"),
    ({"update_freq": 1.5}, "update_freq= must be 'epoch', 'batch' or a positive integer"),
    ({"update_freq": True}, "update_freq= must be 'epoch', 'batch' or a positive integer"),
    ({"update_freq": "epochs"}, "update_freq= must be 'epoch', 'batch' or a positive integer"),
])
def test_bad_arguments_raise_at_once(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ScalarLogger(**{"log_dir": str(tmp_path), **kwargs})


# Beside keras.callbacks.TensorBoard --------------------------------------------


def _tags_and_steps(scalars):
    return {tag: [step for step, _ in points] for tag, points in scalars.items()}


@needs_tensorflow
@pytest.mark.parametrize("update_freq", ["epoch", 1])
def test_the_same_tags_steps_and_values_as_keras_tensorboard(tmp_path, update_freq):
    ours, keras_own = str(tmp_path / "ours"), str(tmp_path / "keras")
    _fit([ScalarLogger(ours, update_freq=update_freq)])
    _fit([keras.callbacks.TensorBoard(keras_own, update_freq=update_freq)])
    for run in ("train", "validation"):
        mine, theirs = _scalars(os.path.join(ours, run)), _scalars(os.path.join(keras_own, run))
        assert _tags_and_steps(mine) == _tags_and_steps(theirs), run
        for tag in theirs:
            assert [v for _, v in mine[tag]] == pytest.approx([v for _, v in theirs[tag]], rel=1e-6), tag


@needs_tensorflow
def test_with_keras_tensorboard_nothing_is_written_twice(tmp_path, caplog):
    log_dir = str(tmp_path)
    callbacks = [keras.callbacks.TensorBoard(log_dir), ScalarLogger(log_dir, update_freq=2)]
    with caplog.at_level(logging.WARNING, logger="tb_actviz"):
        _, history = _fit(callbacks, epochs=2)
        _fit(callbacks, epochs=1)  # told once per callback
    for run in ("train", "validation"):
        files = _event_files(os.path.join(log_dir, run))
        assert files and all(f.endswith(".v2") for f in files), files  # Keras's own only
    train = _scalars(os.path.join(log_dir, "train"))
    assert not any(tag.startswith("batch_") for tag in train)  # its update_freq="epoch"
    assert [s for s, _ in train["epoch_loss"]] == [0, 1, 0]
    assert train["epoch_loss"][:2] == _epochs(history["loss"])
    told = _warnings(caplog, "ScalarLogger writes nothing")
    assert len(told) == 1 and "keras.callbacks.TensorBoard" in told[0] and log_dir in told[0]


# Faults --------------------------------------------------------------------------


def test_a_removed_log_dir_warns_and_the_next_epochs_are_written(tmp_path, caplog):
    log_dir = str(tmp_path / "logs")
    scalars = ScalarLogger(log_dir)

    def remove_after_first_epoch(epoch, logs):
        if epoch == 0:
            scalars.flush()  # epoch 0 is on disk
            shutil.rmtree(log_dir)

    remover = keras.callbacks.LambdaCallback(on_epoch_end=remove_after_first_epoch)
    with caplog.at_level(logging.WARNING, logger="tb_actviz"):
        _, history = _fit([scalars, remover], epochs=EPOCHS)
    assert len(history["loss"]) == EPOCHS
    failed = _warnings(caplog, "scalar")
    # Epoch 1 found both files removed; epoch 2 went into new ones.
    assert len(failed) == 1 and "removed" in failed[0], failed
    assert "train (step 1)" in failed[0] and "validation (steps 1 to %d)" % (2 * BATCHES) in failed[0]
    train = _scalars(os.path.join(log_dir, "train"))
    assert train["epoch_loss"] == [(2, history["loss"][2])]
    validation = _scalars(os.path.join(log_dir, "validation"))
    assert validation["epoch_loss"] == [(2, history["val_loss"][2])]


@pytest.fixture(params=["under a file", "read-only file system"])
def unwritable_log_dir(request, tmp_path):
    if request.param == "under a file":
        (tmp_path / "file").write_text("")
        yield str(tmp_path / "file" / "logs")
        return
    mount_point = str(tmp_path / "read-only")
    os.makedirs(mount_point)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", mount_point],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here (needs root): " + done.stderr.strip())
    try:
        yield os.path.join(mount_point, "logs")
    finally:
        subprocess.run(["umount", "-l", mount_point], check=False)


def test_an_unwritable_log_dir_warns_and_training_completes(unwritable_log_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="tb_actviz"):
        _, history = _fit([ScalarLogger(unwritable_log_dir, update_freq=1)], epochs=4)
    assert len(history["loss"]) == 4
    failed = _warnings(caplog, "scalar")
    # Three failed writes in a row (epochs 0 to 2), then it stops trying.
    assert len(failed) == 3, failed
    assert "training goes on" in failed[0] and "[Errno" in failed[0]
    assert "off for the rest of this training" in failed[-1]
    assert not os.path.exists(unwritable_log_dir)


# Both of TensorBoard's loaders ---------------------------------------------------


@pytest.fixture(scope="module")
def served_logs(tmp_path_factory):
    log_dir = str(tmp_path_factory.mktemp("served"))
    x, _ = _data()
    _, history = _fit([
        ScalarLogger(log_dir, update_freq=2),
        ActivationLogger(log_dir, probe=x[:2], layers=["c1"], verbose=0),
    ], epochs=2)
    return log_dir, history


@pytest.mark.server
@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_tensorboard_serves_the_scalars_on_both_loaders(tensorboard_factory, served_logs, load_fast):
    log_dir, history = served_logs
    server = tensorboard_factory(log_dir, load_fast)

    def served(run, tag):
        status, _, body = server.get("/data/plugin/scalars/scalars", {"run": run, "tag": tag})
        if status != 200:  # not loaded yet
            return None
        return [(step, value) for _, step, value in json.loads(body)]

    expected = {
        ("train", "epoch_loss"): _epochs(history["loss"]),
        ("train", "epoch_accuracy"): _epochs(history["accuracy"]),
        ("validation", "epoch_loss"): _epochs(history["val_loss"]),
    }
    server.wait_until(
        lambda: all(served(run, tag) == points for (run, tag), points in expected.items()),
        "the epoch scalars of both runs")
    assert [s for s, _ in served("train", "batch_loss")] == [2, 4, 6, 8, 10]
    # The activations in the same run are served beside them.
    runs = server.plugin_json("runs")["runs"]
    assert [r["run"] for r in runs] == ["train"]
