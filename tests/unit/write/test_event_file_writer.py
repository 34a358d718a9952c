"""tb_actviz.event_file_writer: TensorBoard event files written without TensorFlow.

Everything here runs on real files and reads them back with TensorBoard's own
readers: the Python loader, TensorBoard's pure-Python CRC, and the real
`tensorboard` process with the Rust data server and with the Python loader.
Faults are real too: a full tmpfs (ENOSPC), a removed or replaced directory or
file, a path that cannot be created. EIO is not injected: it would need a
mock or a device-mapper target, and ENOSPC takes the same code path.

This module does not import TensorFlow; TensorBoard's loader imports it when
it is installed (to read records with TensorFlow's reader), and the parity
test with `tf.summary` runs TensorFlow in a subprocess, skipped without it.
"""

import errno
import io
import json
import logging
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import threading

import pytest
from hypothesis import given, settings, strategies as st
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.backend.event_processing import plugin_event_accumulator as pea
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import (
    masked_crc32c as tensorboard_masked_crc32c,
)

from tb_actviz import metadata, plugin_data_pb2
from tb_actviz.write import summary_v2
from tb_actviz.write import event_file_writer as efw

from paths import REPO  # noqa: E402
FILE_NAME = re.compile(
    r"^events\.out\.tfevents\.\d{10}\.%s\.%d\.\d+$"
    % (re.escape(socket.gethostname()), os.getpid())
)


# Helpers ---------------------------------------------------------------------


# The layer events here hold their blobs, as format version 0 stores them.
OLD_FORMAT = 0


def layer_metadata(path="conv1", filters=2, size=4):
    return metadata.create_summary_metadata(layer_plugin_data(path, filters, size), version=OLD_FORMAT)


def layer_plugin_data(path="conv1", filters=2, size=4):
    return (
        plugin_data_pb2.ActivationsPluginData(
            kind=plugin_data_pb2.ActivationsPluginData.LAYER,
            layer_path=path,
            layer_index=1,
            layer_class="Conv2D",
            output_shape=[size, size, filters],
            map_kind="maps",
            num_images=1,
            filter_indices=list(range(filters)),
            map_height=size,
            map_width=size,
            source_height=size,
            source_width=size,
            downsample_factor=1,
            stat_names=list(metadata.STAT_NAMES),
        )
    )


def summary_event(summary, step, wall_time):
    return event_pb2.Event(step=step, wall_time=wall_time, summary=summary)


def blob_event(tag, blobs, step, wall_time):
    """An event of one blob sequence (any plugin data)."""
    summary = summary_v2.activations_pb(tag, blobs, layer_plugin_data(), version=OLD_FORMAT)
    return summary_event(summary, step, wall_time)


def image_event(tag, png_bytes, width, height, step, wall_time):
    return summary_event(summary_v2.image_pb(tag, png_bytes, width, height), step, wall_time)


def layer_event(step, blobs, tag="actviz/layers/conv1", wall_time=None):
    return blob_event(tag, blobs, step, 1_700_000_000.0 + step if wall_time is None else wall_time)


def random_blobs(seed, count=3, size=1000):
    rng = random.Random(seed)
    return [rng.randbytes(size) for _ in range(count)]


def png(width, height):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def read_records(path):
    """Parses an event file by hand: the records' data, each CRC checked with
    TensorBoard's pure-Python masked_crc32c, and the file ending exactly
    after the last record."""
    with open(path, "rb") as f:
        content = f.read()
    records, offset = [], 0
    while offset < len(content):
        assert offset + 12 <= len(content), "torn record header at %d" % offset
        header = content[offset:offset + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack_from("<I", content, offset + 8)
        assert header_crc == tensorboard_masked_crc32c(header), "header CRC at %d" % offset
        end = offset + 12 + length + 4
        assert end <= len(content), "torn record at %d" % offset
        data = content[offset + 12:offset + 12 + length]
        (data_crc,) = struct.unpack_from("<I", content, end - 4)
        assert data_crc == tensorboard_masked_crc32c(data), "data CRC at %d" % offset
        records.append(data)
        offset = end
    return records


def raw_events(path):
    """Every event of one file as TensorBoard's Python loader reads it, unmigrated."""
    loader = event_file_loader.RawEventFileLoader(path)
    return [event_pb2.Event.FromString(data) for data in loader.Load()]


def summary_steps(path):
    return [e.step for e in raw_events(path) if e.HasField("summary")]


def event_files(directory):
    return sorted(
        os.path.join(directory, name) for name in os.listdir(directory) if "tfevents" in name
    )


@pytest.fixture
def tensorboard_log(caplog):
    """Captures TensorBoard's own log, where its loader reports truncated records."""
    caplog.set_level(logging.DEBUG, logger="tensorboard")
    return caplog


def assert_no_truncation_reported(caplog):
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("tensorboard")]
    assert not [m for m in messages if "runcated" in m or "DataLoss" in m], messages


def run_python(code, *args):
    """Runs `code` in a fresh interpreter of this venv with the repo importable."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True, text=True, env=env, timeout=300,
    )


# Format ----------------------------------------------------------------------


def test_round_trip_through_tensorboards_loaders(tmp_path, tensorboard_log):
    run = tmp_path / "run"
    writer = efw.EventFileWriter(run)
    blobs = {step: random_blobs(step) for step in range(3)}
    first = [layer_event(0, blobs[0]), image_event("grid/conv1", png(7, 5), 7, 5, 0, 1.7e9)]
    written = [writer.write_events(first)]
    written.append(writer.write_events([layer_event(s, blobs[s]) for s in (1, 2)]))
    path = writer.path
    writer.close()

    assert os.path.dirname(path) == str(run)
    assert FILE_NAME.match(os.path.basename(path)), path
    assert os.path.getsize(path) == sum(written)

    events = raw_events(path)
    assert events[0].file_version == "brain.Event:2"
    assert not events[0].HasField("summary")
    assert events[1:] == first + [layer_event(s, blobs[s]) for s in (1, 2)]

    accumulator = pea.EventAccumulator(str(run), size_guidance={pea.TENSORS: 0})
    accumulator.Reload()
    tensors = accumulator.Tensors("actviz/layers/conv1")
    assert [t.step for t in tensors] == [0, 1, 2]
    assert [t.wall_time for t in tensors] == [1_700_000_000.0 + s for s in range(3)]
    assert [list(t.tensor_proto.string_val) for t in tensors] == [blobs[s] for s in range(3)]
    assert [t.tensor_proto.tensor_shape.dim[0].size for t in tensors] == [3, 3, 3]
    assert accumulator.SummaryMetadata("actviz/layers/conv1") == layer_metadata()
    image_md = accumulator.SummaryMetadata("grid/conv1")
    assert image_md.plugin_data.plugin_name == "images"
    (image,) = accumulator.Tensors("grid/conv1")
    assert list(image.tensor_proto.string_val) == [b"7", b"5", png(7, 5)]
    assert_no_truncation_reported(tensorboard_log)


def described(path):
    """[(step, tag, whether the value carries metadata)] of one file's summaries."""
    return [(e.step, v.tag, v.HasField("metadata"))
            for e in raw_events(path) for v in e.summary.value]


def test_metadata_once_describes_each_tag_once_per_file(tmp_path, tensorboard_log):
    # TensorBoard's Python loader keeps every event it parsed, metadata
    # included: tb_actviz writes a tag's metadata with its first event in
    # each file only, as TensorFlow's writers do.
    run = tmp_path / "run"
    writer = efw.EventFileWriter(run, metadata_once=True)
    blobs = {step: random_blobs(step) for step in range(4)}
    batches = [[layer_event(0, blobs[0]), image_event("grid/conv1", png(7, 5), 7, 5, 0, 1.7e9)],
               [layer_event(1, blobs[1]), layer_event(1, [b"x"], tag="actviz/layers/conv2")],
               [layer_event(s, blobs[s]) for s in (2, 3)]]
    given_events = [[event_pb2.Event.FromString(e.SerializeToString()) for e in b] for b in batches]
    for batch in batches:
        writer.write_events(batch)
    assert batches == given_events  # the caller's events are left as they were
    first = writer.path
    assert described(first) == [
        (0, "actviz/layers/conv1", True), (0, "grid/conv1", True),
        (1, "actviz/layers/conv1", False), (1, "actviz/layers/conv2", True),
        (2, "actviz/layers/conv1", False), (3, "actviz/layers/conv1", False)]
    for event, expected in zip([e for e in raw_events(first) if e.HasField("summary")],
                               [e for b in batches for e in b]):
        for value, full in zip(event.summary.value, expected.summary.value):
            assert value.tensor == full.tensor and value.tag == full.tag

    # A new file (this one removed: the next write starts another) describes its tags again.
    os.remove(first)
    with pytest.raises(OSError, match="was removed"):
        writer.write_events([layer_event(4, [b"lost"])])
    writer.write_events([layer_event(5, blobs[0])])
    writer.write_events([layer_event(6, blobs[1])])
    writer.close()
    (second,) = event_files(run)
    assert described(second) == [(5, "actviz/layers/conv1", True), (6, "actviz/layers/conv1", False)]

    # TensorBoard's Python loader takes the metadata from the first event and
    # keeps every step with its blobs.
    accumulator = pea.EventAccumulator(str(run), size_guidance={pea.TENSORS: 0})
    accumulator.Reload()
    assert accumulator.SummaryMetadata("actviz/layers/conv1") == layer_metadata()
    tensors = accumulator.Tensors("actviz/layers/conv1")
    assert [(t.step, list(t.tensor_proto.string_val)) for t in tensors] == [(5, blobs[0]), (6, blobs[1])]
    assert_no_truncation_reported(tensorboard_log)


def test_metadata_once_counts_only_what_reached_the_file(tmp_path):
    # A batch that was not written (the file replaced meanwhile) described
    # nothing: the next file's first event of the tag carries the metadata.
    writer = efw.EventFileWriter(tmp_path, metadata_once=True)
    writer.write_events([layer_event(0, [b"zero"])])
    first = writer.path
    os.remove(first)
    with open(first, "wb") as f:
        f.write(b"not ours")
    with pytest.raises(OSError, match="replaced"):
        writer.write_events([layer_event(1, [b"one"]), layer_event(1, [b"x"], tag="actviz/layers/b")])
    writer.write_events([layer_event(2, [b"two"]), layer_event(2, [b"y"], tag="actviz/layers/b")])
    writer.write_events([layer_event(3, [b"three"])])
    assert described(writer.path) == [(2, "actviz/layers/conv1", True), (2, "actviz/layers/b", True),
                                      (3, "actviz/layers/conv1", False)]
    writer.close()


def test_without_metadata_once_every_event_is_described(tmp_path):
    writer = efw.EventFileWriter(tmp_path)
    writer.write_events([layer_event(0, [b"zero"])])
    writer.write_events([layer_event(1, [b"one"])])
    assert described(writer.path) == [(0, "actviz/layers/conv1", True), (1, "actviz/layers/conv1", True)]
    writer.close()


def test_records_carry_tensorboards_crc(tmp_path):
    writer = efw.EventFileWriter(tmp_path)
    events = [layer_event(s, random_blobs(s, count=2, size=70_000 + s)) for s in range(4)]
    writer.write_events(events[:1])
    writer.write_events(events[1:])
    records = read_records(writer.path)
    writer.close()
    assert [event_pb2.Event.FromString(r) for r in records[1:]] == events
    assert event_pb2.Event.FromString(records[0]).file_version == "brain.Event:2"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=5000))
def test_masked_crc_matches_tensorboard(data):
    assert efw.masked_crc32c(data) == tensorboard_masked_crc32c(data)


@pytest.mark.parametrize("size", [0, 1, 8, 9, 63, 64, 65, 4096, 100_003])
def test_masked_crc_matches_tensorboard_on_random_sizes(size):
    data = os.urandom(size)
    assert efw.masked_crc32c(data) == tensorboard_masked_crc32c(data)


def test_file_name_suffix(tmp_path):
    writer = efw.EventFileWriter(tmp_path, filename_suffix=".actviz")
    writer.write_events([layer_event(0, [b"x"])])
    name = os.path.basename(writer.path)
    writer.close()
    assert name.endswith(".actviz") and FILE_NAME.match(name[: -len(".actviz")]), name


def test_two_writers_in_one_directory_get_two_files(tmp_path):
    a, b = efw.EventFileWriter(tmp_path), efw.EventFileWriter(tmp_path)
    a.write_events([layer_event(0, [b"a"])])
    b.write_events([layer_event(0, [b"b"])])
    assert a.path != b.path
    assert summary_steps(a.path) == summary_steps(b.path) == [0]
    a.close()
    b.close()


def test_nothing_is_written_before_the_first_event(tmp_path):
    logdir = tmp_path / "a" / "b"
    writer = efw.EventFileWriter(logdir)
    assert logdir.is_dir() and os.listdir(logdir) == []
    assert writer.path is None
    assert writer.write_events([]) == 0
    assert os.listdir(logdir) == []
    writer.close()
    assert os.listdir(logdir) == []


def test_a_remote_scheme_nothing_installed_reaches_says_what_to_install():
    # Remote log dirs themselves: tests/test_remote_logdir.py.
    with pytest.raises(ValueError, match="nosuchscheme://bucket/run.*pip install"):
        efw.EventFileWriter("nosuchscheme://bucket/run")


def test_bad_events_write_nothing(tmp_path):
    writer = efw.EventFileWriter(tmp_path)
    with pytest.raises(TypeError, match="event_pb2.Event"):
        writer.write_events([layer_event(0, [b"x"]), summary_pb2.Summary()])
    no_time = event_pb2.Event(step=3, summary=layer_event(3, [b"x"]).summary)
    with pytest.raises(ValueError, match="wall_time"):
        writer.write_events([layer_event(0, [b"x"]), no_time])
    assert os.listdir(tmp_path) == []
    writer.close()


def test_same_summary_as_tf_summary(tmp_path):
    """summary_v2's image_pb and activations_pb are what TF2's tf.summary.image
    and tf.summary.write write (compared in a subprocess that has TensorFlow)."""
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed: no tf.summary to compare with")
    result = run_python(
        """
        import sys
        import numpy as np
        import tensorflow as tf
        from tensorboard.compat.proto import summary_pb2
        writer = tf.summary.create_file_writer(sys.argv[1])
        with writer.as_default():
            image = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(1, 5, 7, 3)
            tf.summary.image("grid/conv1", image, step=3)
            tf.summary.write(
                "actviz/layers/conv1", tf.constant([b"a", b"", b"\\x00\\xff"]), step=4,
                metadata=summary_pb2.SummaryMetadata.FromString(bytes.fromhex(sys.argv[2])),
            )
        writer.close()
        """,
        str(tmp_path),
        layer_metadata().SerializeToString().hex(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = event_files(tmp_path)
    image, blobs = [e for e in raw_events(path) if e.HasField("summary")]
    png_bytes = image.summary.value[0].tensor.string_val[2]
    ours = summary_v2.image_pb("grid/conv1", png_bytes, 7, 5)
    assert ours.SerializeToString() == image.summary.SerializeToString()
    ours = summary_v2.activations_pb("actviz/layers/conv1", [b"a", b"", b"\x00\xff"],
                                     layer_plugin_data(), version=OLD_FORMAT)
    assert ours.SerializeToString() == blobs.summary.SerializeToString()


# Lifecycle -------------------------------------------------------------------


def test_close_is_idempotent_and_final(tmp_path):
    writer = efw.EventFileWriter(tmp_path)
    writer.write_events([layer_event(0, [b"x"])])
    path = writer.path
    writer.close()
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write_events([layer_event(1, [b"y"])])
    assert summary_steps(path) == [0]
    efw.EventFileWriter(tmp_path / "never_written").close()


def test_concurrent_batches_stay_whole(tmp_path):
    writer = efw.EventFileWriter(tmp_path)
    threads_count, batches, per_batch = 4, 25, 3
    start = threading.Barrier(threads_count)
    written = []

    def work(thread):
        start.wait()  # all threads race for the first write (the file's header)
        for batch in range(batches):
            steps = [thread * 1000 + batch * 10 + i for i in range(per_batch)]
            written.append(writer.write_events([layer_event(s, [os.urandom(3000)]) for s in steps]))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    path = writer.path
    writer.close()
    assert os.path.getsize(path) == sum(written)
    assert len(read_records(path)) == threads_count * batches * per_batch + 1
    assert [e.file_version for e in raw_events(path)].count("brain.Event:2") == 1
    steps = summary_steps(path)
    assert len(steps) == threads_count * batches * per_batch
    groups = [steps[i:i + per_batch] for i in range(0, len(steps), per_batch)]
    for group in groups:
        assert [s % 10 for s in group] == list(range(per_batch)), group
        assert len({s // 10 for s in group}) == 1, group


def test_exit_without_close_leaves_a_complete_file(tmp_path):
    """A process whose writer thread is still writing when the main thread
    ends: the exit handler closes the writer between two batches."""
    result = run_python(
        """
        import atexit, os, sys, threading

        state = {}

        def after_exit_handler():  # registered first, so it runs after the module's
            fds = os.listdir("/proc/self/fd")
            targets = {os.path.realpath("/proc/self/fd/" + fd) for fd in fds}
            print("STILL_OPEN" if state["path"] in targets else "CLOSED", flush=True)

        atexit.register(after_exit_handler)

        from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
        from tb_actviz.write import event_file_writer as efw

        writer = efw.EventFileWriter(sys.argv[1])
        started = threading.Event()

        def loop():
            step = 0
            while True:
                try:
                    writer.write_events([event_pb2.Event(
                        step=step, wall_time=1.0 + step,
                        summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(
                            tag="t", tensor=tensor_pb2.TensorProto(
                                dtype=types_pb2.DT_STRING, string_val=[os.urandom(50_000)] * 3))]))])
                except ValueError:  # closed at exit
                    return
                state["path"] = os.path.realpath(writer.path)
                step += 1
                if step == 3:
                    started.set()

        threading.Thread(target=loop, daemon=True).start()
        started.wait()
        print("STEPS_BEFORE_EXIT", flush=True)
        """,
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "STEPS_BEFORE_EXIT" in result.stdout
    assert result.stdout.strip().endswith("CLOSED"), result.stdout
    (path,) = event_files(tmp_path)
    records = read_records(path)
    steps = summary_steps(path)
    assert len(records) == len(steps) + 1
    assert steps == list(range(len(steps))) and len(steps) >= 3


def test_pure_python_fallback_writes_the_same_records(tmp_path):
    """Without google-crc32c the module falls back to TensorBoard's CRC, warns,
    and writes the same bytes."""
    events = [layer_event(s, random_blobs(s, size=5000)) for s in range(3)]
    result = run_python(
        """
        import sys, warnings
        sys.modules["google_crc32c"] = None  # as if not installed
        from tensorboard.compat.proto import event_pb2
        from tb_actviz.write import event_file_writer as efw
        assert efw.CRC32C_IMPLEMENTATION == "tensorboard (pure Python)", efw.CRC32C_IMPLEMENTATION
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            writer = efw.EventFileWriter(sys.argv[1])
        assert any("google-crc32c" in str(w.message) for w in caught), caught
        events = [event_pb2.Event.FromString(bytes.fromhex(h)) for h in sys.argv[2:]]
        writer.write_events(events)
        writer.close()
        print("imported", sorted(m for m in sys.modules if m.startswith("tensorflow")))
        """,
        str(tmp_path / "fallback"),
        *[e.SerializeToString().hex() for e in events],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "imported []" in result.stdout
    writer = efw.EventFileWriter(tmp_path / "c")
    writer.write_events(events)
    writer.close()
    (fallback,) = event_files(tmp_path / "fallback")
    (accelerated,) = event_files(tmp_path / "c")
    with open(fallback, "rb") as f, open(accelerated, "rb") as g:
        a, b = f.read(), g.read()
    header = len(read_records(fallback)[0]) + 16
    assert a[header:] == b[header:] and len(a[header:]) > 15000


def test_module_does_not_load_tensorflow(tmp_path):
    result = run_python(
        """
        import sys
        from tb_actviz.write import event_file_writer as efw
        writer = efw.EventFileWriter(sys.argv[1])
        from tensorboard.compat.proto import event_pb2
        from tb_actviz import plugin_data_pb2
        from tb_actviz.write import summary_v2
        writer.write_events([
            event_pb2.Event(step=0, wall_time=1.0, summary=summary_v2.activations_pb(
                "t", [b"x"], plugin_data_pb2.ActivationsPluginData())),
            event_pb2.Event(step=0, wall_time=1.0, summary=summary_v2.image_pb("i", b"png", 1, 1)),
        ])
        writer.close()
        loaded = [m for m in sys.modules if m == "tensorflow" or m.startswith("tensorflow.")
                  or m.startswith("tensorboard.summary.writer") or m.startswith("keras")]
        print("LOADED", loaded, efw.CRC32C_IMPLEMENTATION)
        """,
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LOADED []" in result.stdout, result.stdout


# Faults ------------------------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 256 KB tmpfs of its own, to fill up; unmounted afterwards."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    try:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
            capture_output=True, text=True, timeout=60,
        )
    except (FileNotFoundError, PermissionError) as e:
        pytest.skip("cannot mount a small tmpfs to fill up: %s" % e)
    if result.returncode != 0:
        pytest.skip(
            "cannot mount a small tmpfs to fill up (needs root or CAP_SYS_ADMIN): %s"
            % (result.stderr.strip() or result.returncode)
        )
    yield mount_point
    if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def test_full_disk_leaves_no_torn_record(small_tmpfs, tensorboard_log):
    filler = small_tmpfs / "filler"
    filler.write_bytes(os.urandom(64 * 1024))
    writer = efw.EventFileWriter(small_tmpfs / "run")
    written, steps, failure = [], [], None
    for step in range(100):
        batch = [layer_event(step, [os.urandom(15_000 + 17 * step)]) for _ in range(2)]
        free_before = os.statvfs(small_tmpfs).f_bavail * os.statvfs(small_tmpfs).f_frsize
        try:
            written.append(writer.write_events(batch))
        except OSError as e:
            failure = e
            break
        steps += [step, step]
    assert failure is not None, "the 256 KB tmpfs never filled up"
    path = writer.path
    assert failure.errno == errno.ENOSPC
    assert path in str(failure) and "No space left on device" in str(failure), str(failure)
    # The rolled-back write had taken the free pages; truncating gave them back.
    free_after = os.statvfs(small_tmpfs).f_bavail * os.statvfs(small_tmpfs).f_frsize
    assert free_after >= free_before
    assert os.path.getsize(path) == sum(written)
    assert summary_steps(path) == steps
    assert len(read_records(path)) == len(steps) + 1

    filler.unlink()
    after = [layer_event(1000, [os.urandom(15_000)]), layer_event(1001, [b"last"])]
    written.append(writer.write_events(after))
    assert writer.path == path
    assert os.path.getsize(path) == sum(written)
    assert summary_steps(path) == steps + [1000, 1001]
    accumulator = pea.EventAccumulator(str(small_tmpfs / "run"), size_guidance={pea.TENSORS: 0})
    accumulator.Reload()
    assert len(accumulator.Tensors("actviz/layers/conv1")) == len(steps) + 2
    writer.close()
    assert_no_truncation_reported(tensorboard_log)


def test_removed_directory_starts_a_new_file(tmp_path):
    run = tmp_path / "run"
    writer = efw.EventFileWriter(run)
    writer.write_events([layer_event(0, [b"zero"])])
    first = writer.path
    shutil.rmtree(run)
    with pytest.raises(OSError, match="was removed") as raised:
        writer.write_events([layer_event(1, [b"one"])])
    assert first in str(raised.value)
    assert writer.path is None and not run.exists()
    writer.write_events([layer_event(2, [b"two"])])
    second = writer.path
    writer.close()
    assert second != first and os.path.dirname(second) == str(run)
    assert raw_events(second)[0].file_version == "brain.Event:2"
    assert summary_steps(second) == [2]
    accumulator = pea.EventAccumulator(str(run), size_guidance={pea.TENSORS: 0})
    accumulator.Reload()
    assert [t.step for t in accumulator.Tensors("actviz/layers/conv1")] == [2]


def test_moved_directory_keeps_both_files_readable(tmp_path):
    run, moved = tmp_path / "run", tmp_path / "moved"
    writer = efw.EventFileWriter(run)
    writer.write_events([layer_event(0, [b"zero"]), layer_event(1, [b"one"])])
    os.rename(run, moved)
    with pytest.raises(OSError, match="was removed"):
        writer.write_events([layer_event(2, [b"two"])])
    writer.write_events([layer_event(3, [b"three"])])
    writer.close()
    (old,) = event_files(moved)
    (new,) = event_files(run)
    assert summary_steps(old) == [0, 1] and summary_steps(new) == [3]
    for directory, expected in ((moved, [0, 1]), (run, [3])):
        accumulator = pea.EventAccumulator(str(directory), size_guidance={pea.TENSORS: 0})
        accumulator.Reload()
        assert [t.step for t in accumulator.Tensors("actviz/layers/conv1")] == expected


def test_replaced_file_starts_a_new_file(tmp_path):
    writer = efw.EventFileWriter(tmp_path)
    writer.write_events([layer_event(0, [b"zero"])])
    first = writer.path
    os.remove(first)
    with open(first, "wb") as f:  # someone else's file under the same name
        f.write(b"not ours")
    with pytest.raises(OSError, match="replaced"):
        writer.write_events([layer_event(1, [b"one"])])
    writer.write_events([layer_event(2, [b"two"])])
    assert writer.path != first and summary_steps(writer.path) == [2]
    writer.close()
    with open(first, "rb") as f:
        assert f.read() == b"not ours"


def test_directory_that_cannot_be_created_is_retried(tmp_path):
    run = tmp_path / "run"
    writer = efw.EventFileWriter(run)
    writer.write_events([layer_event(0, [b"zero"])])
    shutil.rmtree(run)
    run.write_bytes(b"a file where the run directory was")
    with pytest.raises(OSError, match="was removed"):
        writer.write_events([layer_event(1, [b"one"])])
    with pytest.raises(OSError) as raised:
        writer.write_events([layer_event(2, [b"two"])])
    assert str(run) in str(raised.value) and raised.value.errno == errno.EEXIST
    assert writer.path is None
    run.unlink()
    writer.write_events([layer_event(3, [b"three"])])
    assert summary_steps(writer.path) == [3]
    writer.close()


# The real TensorBoard --------------------------------------------------------------


def _activations_plugin_visible_to_tensorboard(cwd):
    """Whether a `tensorboard` started from here finds the activations plugin
    (asked in a fresh interpreter, away from the repo's tb_actviz.egg-info)."""
    code = (
        "import importlib.metadata as m; print(any(e.name == 'activations' "
        "for e in m.entry_points(group='tensorboard_plugins')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    return result.stdout.strip() == "True"


@pytest.mark.server
@pytest.mark.parametrize("load_fast", ["true", "false"])
@pytest.mark.parametrize("metadata_once", [False, True])
def test_tensorboard_serves_the_written_file(tmp_path, tensorboard_factory, load_fast, metadata_once):
    if not _activations_plugin_visible_to_tensorboard(tmp_path):
        pytest.skip(
            "the activations plugin is not installed here (pip install -e . "
            "or PYTHONPATH=<repo>, which has tb_actviz.egg-info)"
        )
    root = tmp_path / "logs"
    writer = efw.EventFileWriter(root / "run1", metadata_once=metadata_once)
    blobs = {step: [os.urandom(6 * 2 * 4), png(4, 4), png(4, 4)] for step in range(3)}
    for step in range(3):
        writer.write_events([
            layer_event(step, blobs[step], wall_time=1_700_000_000.5 + step),
            image_event("actviz_grid/conv1", png(7, 5), 7, 5, step, 1_700_000_000.5 + step),
        ])
    assert [carried for step, _, carried in described(writer.path)] == (
        [True, True, False, False, False, False] if metadata_once else [True] * 6)
    writer.close()

    server = tensorboard_factory(str(root), load_fast)
    tag = "actviz/layers/conv1"

    def layers_listed():
        runs = server.plugin_json("runs")["runs"]
        listed = [layer["tag"] for run in runs if run["run"] == "run1" for layer in run["layers"]]
        return listed == [tag]

    server.wait_until(layers_listed, "the layer written by EventFileWriter")
    server.wait_until(lambda: server.served_steps("run1", tag) == [0, 1, 2], "steps 0-2")
    for step in range(3):
        for index in range(3):
            status, _, body = server.plugin("blob", run="run1", tag=tag, step=step, index=index)
            assert status == 200 and body == blobs[step][index]

    def image_tag_listed():
        status, _, body = server.get("/data/plugin/images/tags")
        return status == 200 and "actviz_grid/conv1" in json.loads(body).get("run1", {})

    server.wait_until(image_tag_listed, "the image tag")
    status, _, body = server.get(
        "/data/plugin/images/images", {"run": "run1", "tag": "actviz_grid/conv1", "sample": 0}
    )
    assert status == 200
    images = json.loads(body)
    assert [i["step"] for i in images] == [0, 1, 2]
    status, _, body = server.get("/data/plugin/images/individualImage?" + images[0]["query"])
    assert status == 200 and body == png(7, 5)
