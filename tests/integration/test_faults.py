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

from log_parsing import parse_blobs
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


# What killed writers leave: temporaries and pixel files without events.

_PLUGIN_DIR = os.path.join("train", "plugins", "activations")


def _dead_pid():
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def _event_steps(run_dir):
    """{pixel file name} that the run's tb_actviz events refer to, and the last
    event's wall time, read with TensorBoard's own loader."""
    from tensorboard.backend.event_processing import event_file_loader
    from tb_actviz.format import pixel_file

    names, last = set(), 0.0
    for path in glob.glob(os.path.join(run_dir, "events.out.tfevents.*")):
        for event in event_file_loader.LegacyEventFileLoader(path).Load():
            last = max(last, event.wall_time)
            if any(v.tag.startswith(metadata.TAG_PREFIX) for v in event.summary.value):
                names.add(pixel_file.file_name(event.step, event.wall_time))
    return names, last


def _reads_every_step(log_dir):
    reader = LogReader(log_dir)
    steps = reader.steps("train", metadata.layer_tag("c1"))
    for step in steps:
        assert reader.layer("train", metadata.layer_tag("c1"), step) is not None
    return steps


def test_a_new_writer_removes_exactly_what_killed_writers_left(tmp_path, caplog):
    import socket
    import time
    from tb_actviz.format import pixel_file

    x, y = _data()
    log_dir = str(tmp_path)
    _tiny_model().fit(x, y, epochs=3, verbose=0,
                      callbacks=[ActivationLogger(log_dir, probe=x[:4], verbose=0)])
    plugin_dir = os.path.join(log_dir, _PLUGIN_DIR)
    referenced, last_event = _event_steps(os.path.join(log_dir, "train"))
    written = set(os.listdir(plugin_dir))
    assert written == referenced and len(written) >= 3
    some_pixel_file = open(os.path.join(plugin_dir, sorted(written)[0]), "rb").read()

    def put(name, age=0.0):
        path = os.path.join(plugin_dir, name)
        with open(path, "wb") as f:
            f.write(some_pixel_file)
        if age:
            os.utime(path, (time.time() - age, time.time() - age))
        return name

    host, now = socket.gethostname(), time.time()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        removable = {
            # a killed writer's temporary: its pid is gone
            put(pixel_file.file_name(7, now) + ".%s.%d.tmp" % (host, _dead_pid())),
            # of the old naming (no writer in the name), 20 minutes old
            put(pixel_file.file_name(8, now - 1200) + ".tmp", age=1200),
            # a pixel file whose events never came, older than the last event
            put(pixel_file.file_name(1, last_event - 1.0)),
            # one with no event at all, 20 minutes old
            put(pixel_file.file_name(9, now - 1200)),
        }
        kept = {
            # temporaries of live writers: this process, another live one
            put(pixel_file.file_name(10, now) + ".%s.%d.tmp" % (host, os.getpid())),
            put(pixel_file.file_name(11, now) + ".%s.%d.tmp" % (host, sleeper.pid)),
            # another host's, recent: whether it is alive cannot be told
            put(pixel_file.file_name(12, now) + ".other-host.example.%d.tmp" % _dead_pid()),
            # of the old naming but recent
            put(pixel_file.file_name(13, now) + ".tmp"),
            # newer than every event: another writer's, its events may be in flight
            put(pixel_file.file_name(14, time.time())),
            # not ours
            put("notes.txt"),
        }
        caplog.set_level(logging.WARNING, logger="tb_actviz")
        # The restarted training: its writer cleans up before its first log.
        _tiny_model().fit(x, y, epochs=5, initial_epoch=3, verbose=0,
                          callbacks=[ActivationLogger(log_dir, probe=x[:4], verbose=0)])
        left = set(os.listdir(plugin_dir))
        assert not removable & left
        assert kept <= left
        referenced, _ = _event_steps(os.path.join(log_dir, "train"))
        assert written <= left and referenced <= left
        assert left == referenced | kept  # the new run's own files, nothing else
        warnings = [r.getMessage() for r in caplog.records if "killed writers" in r.getMessage()]
        assert len(warnings) == 1 and "\n" not in warnings[0], warnings
        assert "removed 2 temporary" in warnings[0] and "removed 2 pixel" in warnings[0]
        assert _reads_every_step(log_dir) == sorted({int(n.split(".")[0]) for n in referenced})
    finally:
        sleeper.kill()
        sleeper.wait()


_TRAIN_UNTIL_KILLED = """
import sys
import keras, numpy as np
from tb_actviz import ActivationLogger
model = keras.Sequential([keras.Input((10, 10, 1)), keras.layers.Conv2D(3, 3, name="c1"),
                          keras.layers.Flatten(), keras.layers.Dense(2)])
model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
x = np.random.default_rng(1).random((64, 10, 10, 1), dtype=np.float32)
y = np.zeros(64, "int32")
model.fit(x, y, batch_size=4, epochs=1000, verbose=0, callbacks=[
    ActivationLogger(sys.argv[1], probe=x[:4], update_freq=1, verbose=0)])
"""


def test_kill_9_mid_run_leaves_no_garbage_after_restarts(tmp_path):
    import signal
    import time
    from tb_actviz.format import pixel_file

    log_dir, run_dir = str(tmp_path), str(tmp_path / "train")
    plugin_dir = os.path.join(log_dir, _PLUGIN_DIR)
    rounds_last_event = []
    for round_ in range(3):
        before = len(os.listdir(plugin_dir)) if os.path.isdir(plugin_dir) else 0
        process = subprocess.Popen([sys.executable, "-c", _TRAIN_UNTIL_KILLED, log_dir],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # Killed while it writes: once a few of its logs are on disk.
            for _ in range(3000):
                if process.poll() is not None:
                    break
                if os.path.isdir(plugin_dir) and len(os.listdir(plugin_dir)) >= before + 5:
                    break
                time.sleep(0.1)
            assert process.poll() is None, "the training ended before it was killed"
            time.sleep(0.05 * round_)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        rounds_last_event.append(_event_steps(run_dir)[1])
    # A last writer starts (and stops): what the killed ones left is gone,
    # but for what the last killed round may have had in flight, newer
    # than every event then.
    x, y = _data()
    _tiny_model().fit(x, y, epochs=1, verbose=0,
                      callbacks=[ActivationLogger(log_dir, probe=x[:4], verbose=0)])
    referenced, _ = _event_steps(run_dir)
    left = set(os.listdir(plugin_dir))
    assert not [n for n in left if n.endswith(".tmp")], left
    unreferenced = left - referenced
    assert all(int(n.split(".")[1]) > rounds_last_event[-1] * 1e6 for n in unreferenced), unreferenced
    assert len(unreferenced) <= 1, unreferenced
    assert referenced <= left
    assert _reads_every_step(log_dir)
