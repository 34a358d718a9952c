"""Faults: interrupted training, I/O errors, truncated and corrupted event files.

Training is never lost, what was logged stays readable, and the real
TensorBoard server (both loaders) serves whatever is intact without a 500.
"""

import glob
import logging
import os
import random
import shutil
import struct
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import layers

from conftest import parse_blobs
from tb_actviz import ActivationLogger, metadata
from tb_actviz.reader import LogReader

EPOCHS = 6


def _tiny_model():
    model = keras.Sequential(
        [keras.Input((10, 10, 1)), layers.Conv2D(3, 3, name="c1"), layers.Flatten(), layers.Dense(2)]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _data():
    rng = np.random.default_rng(1)
    return rng.random((16, 10, 10, 1), dtype=np.float32), rng.integers(0, 2, 16)


class _InterruptAt(keras.callbacks.Callback):
    def __init__(self, epoch, error):
        super().__init__()
        self.epoch, self.error = epoch, error

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise self.error


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("boom")], ids=["ctrl-c", "exception"])
def test_interrupted_training_keeps_what_was_logged(tmp_path, error):
    x, y = _data()
    logger = ActivationLogger(str(tmp_path), probe=x[:4], verbose=0)
    # The logger runs first at each epoch end, then training is interrupted.
    with pytest.raises(type(error)):
        _tiny_model().fit(x, y, epochs=EPOCHS, verbose=0, callbacks=[logger, _InterruptAt(2, error)])
    steps = LogReader(str(tmp_path)).steps("train", metadata.layer_tag("c1"))
    # Steps 0..2 were complete before the interruption; the log of epoch 3
    # (step 3) may still be in flight in the writer thread.
    assert steps[:3] == [0, 1, 2]


_EXIT_WITH_A_LOG_IN_FLIGHT = """
import sys
import keras, numpy as np
from tb_actviz import ActivationLogger
model = keras.Sequential([keras.Input((10, 10, 1)), keras.layers.Conv2D(3, 3, name="c1")])
logger = ActivationLogger(sys.argv[1], probe=np.ones((4, 10, 10, 1), "float32"), verbose=0)
logger.set_model(model)
logger.on_train_begin()
logger.on_epoch_begin(0)  # step 0 is handed to the writer thread; no on_train_end
"""


def test_exit_without_train_end_is_clean(tmp_path):
    # A script that stops while a log is in flight (no on_train_end, e.g. an
    # exception in fit) must exit normally, with the log written.
    done = subprocess.run([sys.executable, "-c", _EXIT_WITH_A_LOG_IN_FLIGHT, str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert LogReader(str(tmp_path)).steps("train", metadata.layer_tag("c1")) == [0]


class FillDisk(keras.callbacks.Callback):
    """Runs out of space for real: fills the small file system `fs` at train
    begin (`fill_at="begin"`) or at the end of epoch `fill_at`, before the
    logger's own hook, and gives the space back at the end of epoch `free_at`
    once the logger has counted the logs that failed meanwhile."""

    def __init__(self, fs, logger, fill_at, free_at=None):
        super().__init__()
        self.fs, self.logger, self.fill_at, self.free_at = fs, logger, fill_at, free_at

    def on_train_begin(self, logs=None):
        if self.fill_at == "begin":
            self.fs.fill()

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.fill_at:
            self.logger.flush()  # the log before is on disk
            self.fs.fill()
        if epoch == self.free_at:
            self.logger.flush()  # the failed log is counted
            self.fs.free()


def _model_with_large_logs():
    """Logs of ~20 KB: more than the free end of the event file's last page,
    which a full tmpfs still lets a small append fill."""
    model = keras.Sequential(
        [keras.Input((10, 10, 1)), layers.Conv2D(32, 3, name="c1"), layers.Flatten(), layers.Dense(2)]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _fit_on_full_disk(fs, fill_at, free_at, epochs=EPOCHS):
    x, y = _data()
    logger = ActivationLogger(fs.path, probe=x[:4], max_map_size=16, verbose=0)
    history = _model_with_large_logs().fit(
        x, y, epochs=epochs, verbose=0, callbacks=[FillDisk(fs, logger, fill_at, free_at), logger]
    )
    return history, LogReader(fs.path).steps("train", metadata.layer_tag("c1"))


def _event_records_are_whole(run_dir):
    """Every event file of `run_dir` parses to its end with TensorBoard's
    reader: no torn record."""
    from tensorboard.backend.event_processing import event_file_loader

    paths = glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
    assert paths
    for path in paths:
        records = list(event_file_loader.RawEventFileLoader(path).Load())
        assert records, path
        assert sum(len(r) + 16 for r in records) == os.path.getsize(path), path


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_disk_full_warns_each_lost_log_and_training_goes_on(small_filesystem, caplog, tensorboard_factory, load_fast):
    caplog.set_level(logging.WARNING, logger="tb_actviz")
    history, steps = _fit_on_full_disk(small_filesystem, fill_at=0, free_at=2)
    assert len(history.history["loss"]) == EPOCHS  # training completed
    assert steps == [0, 3, 4, 5, 6]  # steps 1 and 2 found the disk full, then logging recovered
    warnings = [r.getMessage() for r in caplog.records if "could not log step" in r.getMessage()]
    assert len(warnings) == 2 and all("No space left on device" in w for w in warnings), warnings
    assert "step 1" in warnings[0] and "step 2" in warnings[1]
    _event_records_are_whole(os.path.join(small_filesystem.path, "train"))
    server = tensorboard_factory(small_filesystem.path, load_fast)
    tag = metadata.layer_tag("c1")
    server.wait_until(lambda: server.served_steps("train", tag) == steps, "the steps that were written")


def test_a_transient_fault_loses_only_that_step(small_filesystem, caplog):
    caplog.set_level(logging.WARNING, logger="tb_actviz")
    _, steps = _fit_on_full_disk(small_filesystem, fill_at=1, free_at=2, epochs=5)
    warnings = [r.getMessage() for r in caplog.records if r.name == "tb_actviz"]
    assert len(warnings) == 1 and "step 2" in warnings[0], warnings
    assert steps == [0, 1, 3, 4, 5]


def test_probe_images_are_written_with_the_first_log_that_succeeds(small_filesystem):
    # Steps 0 and 1 find the disk full: the probe images, which go with
    # step 0, come with step 2 instead.
    _, steps = _fit_on_full_disk(small_filesystem, fill_at="begin", free_at=1)
    assert steps == [2, 3, 4, 5, 6]
    assert LogReader(small_filesystem.path).steps("train", metadata.PROBE_TAG) == [2]


def test_repeated_io_errors_stop_logging_with_a_final_message(small_filesystem, caplog):
    caplog.set_level(logging.WARNING, logger="tb_actviz")
    history, steps = _fit_on_full_disk(small_filesystem, fill_at=0, free_at=None)
    assert len(history.history["loss"]) == EPOCHS
    assert steps == [0]
    final = [r for r in caplog.records if "logging is off" in r.getMessage()]
    assert len(final) == 1


def test_a_removed_log_dir_warns_and_logging_goes_on_in_a_new_file(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="tb_actviz")
    x, y = _data()
    logger = ActivationLogger(str(tmp_path / "run"), probe=x[:4], verbose=0)

    class RemoveLogDir(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                logger.flush()
                shutil.rmtree(str(tmp_path / "run"))

    history = _tiny_model().fit(x, y, epochs=4, verbose=0, callbacks=[RemoveLogDir(), logger])
    assert len(history.history["loss"]) == 4
    warnings = [r.getMessage() for r in caplog.records if "could not log step" in r.getMessage()]
    assert len(warnings) == 1 and "step 2" in warnings[0] and "removed" in warnings[0], warnings
    assert LogReader(str(tmp_path / "run")).steps("train", metadata.layer_tag("c1")) == [3, 4]


@pytest.fixture(scope="module")
def clean_log_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    x, y = _data()
    _tiny_model().fit(
        x, y, epochs=EPOCHS, verbose=0,
        callbacks=[ActivationLogger(str(root / "run"), probe=x[:4], verbose=0)],
    )
    return root


def _event_file(root):
    (path,) = glob.glob(os.path.join(str(root), "run", "train", "events.out.tfevents.*"))
    return path


def _damaged_copy(clean_root, tmp_path, damage):
    root = tmp_path / "damaged"
    shutil.copytree(str(clean_root), str(root))
    path = _event_file(root)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    with open(path, "wb") as f:
        f.write(damage(data))
    return root


def _truncate(data):
    return data[: random.Random(7).randrange(len(data) // 3, len(data) - 1)]


def _flip_bytes(data):
    rng = random.Random(11)
    for position in rng.sample(range(len(data) // 2, len(data)), 20):
        data[position] ^= 0xFF
    return data


@pytest.mark.parametrize("load_fast", ["true", "false"])
@pytest.mark.parametrize("damage", [_truncate, _flip_bytes], ids=["truncated", "bytes-flipped"])
def test_damaged_event_file_serves_what_is_intact(clean_log_dir, tmp_path, tensorboard_factory, load_fast, damage):
    root = _damaged_copy(clean_log_dir, tmp_path, damage)
    server = tensorboard_factory(str(root), load_fast)
    tag = metadata.layer_tag("c1")
    server.wait_until(lambda: server.served_steps("run/train", tag), "some step of the damaged run")
    steps = server.served_steps("run/train", tag)
    assert steps == sorted(set(steps)) and set(steps) <= set(range(EPOCHS + 1))
    assert steps[0] == 0  # the start of the file is intact
    runs = server.plugin_json("runs")["runs"]
    assert [r["run"] for r in runs] == ["run/train"]
    for entry in server.plugin_json("steps", run="run/train", tag=tag)["steps"]:
        status, _, body = server.plugin(
            "blobs", run="run/train", tag=tag, step=entry["step"], indices="0-3"
        )
        assert status in (200, 404), (entry, status, body[:300])  # never a 500
        if status == 200:
            blobs = parse_blobs(body)
            assert len(blobs) == 4 and blobs[1][:4] == b"\x89PNG"
            count = len(blobs[0]) // 4
            assert len(struct.unpack("<%df" % count, blobs[0])) == 3 * 4 * 6
