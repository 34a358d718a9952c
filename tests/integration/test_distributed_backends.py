"""ActivationLogger in multi-process training on JAX and PyTorch: 2 processes
on 127.0.0.1 (`jax.distributed` on CPU; a gloo `torch.distributed` group),
each running a real `model.fit` with the logger on the same log dir. Only
process 0 / rank 0 writes, every logged step is in the log exactly once, and
both processes exit.

The suite runs once per Keras backend; each test runs only on its own
(`KERAS_BACKEND=jax` / `torch`) and skips elsewhere. The tf.distribute
counterparts are in test_distributed.py.
"""

import collections
import json
import os
import socket
import subprocess
import sys
import time

import keras
import pytest

import paths
from tb_actviz import metadata
from tb_actviz.reader import LogReader

# Bounds the whole 2-process run (each takes a few seconds to ~20 s): a test
# fails on it only when a process hangs.
TIMEOUT = 180
EPOCHS = 2
LAYER_TAG = metadata.layer_tag("c1")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path, chars=3000):
    with open(path, errors="replace") as f:
        return f.read()[-chars:]


def _run_two(tmp_path, script, backend, log_dir):
    """Runs `script INDEX PORT LOG_DIR` for INDEX 0 and 1 with the test's own
    interpreter and KERAS_BACKEND=backend; returns each one's last JSON line.
    Output goes to files (no pipe can fill up); if one process fails, times
    out, or the deadline passes, both are killed and the assertion shows
    each one's exit and stderr tail."""
    port = _free_port()
    # CPU only; the script's directory (sys.path[0]) provides strategy_case.
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    procs, outs, errs, killed = [], [], [], []
    try:
        for index in (0, 1):
            outs.append(tmp_path / ("worker%d.out" % index))
            errs.append(tmp_path / ("worker%d.err" % index))
            with open(outs[-1], "w") as out, open(errs[-1], "w") as err:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, paths.script(script), str(index), str(port), log_dir],
                        stdout=out, stderr=err, env=env, cwd=str(tmp_path),
                    )
                )
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            codes = [p.poll() for p in procs]
            if all(c is not None for c in codes) or any(c not in (None, 0) for c in codes):
                break  # all done, or one failed (the other would wait for it)
            time.sleep(0.1)
    finally:
        for i, p in enumerate(procs):
            if p.poll() is None:
                killed.append(i)
                p.kill()
            p.wait(timeout=30)
    report = "\n".join(
        "--- process %d: exit %s%s, stderr tail:\n%s"
        % (i, p.returncode, " (killed: still running)" if i in killed else "", _tail(errs[i]))
        for i, p in enumerate(procs)
    )
    assert all(p.returncode == 0 for p in procs), report
    results = []
    for i in (0, 1):
        lines = outs[i].read_text().strip().splitlines()
        assert lines, "process %d printed nothing\n%s" % (i, report)
        results.append(json.loads(lines[-1]))
    return results


def _records(path):
    """[(tag, step)] of every summary value in one event file, as written
    (no purging or deduplication, unlike TensorBoard's loaders)."""
    from tensorboard.backend.event_processing import event_file_loader

    return [
        (value.tag, event.step)
        for event in event_file_loader.EventFileLoader(path).Load()
        if event.HasField("summary")
        for value in event.summary.value
    ]


def _assert_one_writer(log_dir, writer_pid, other_pid):
    assert os.listdir(log_dir) == ["train"], os.listdir(log_dir)
    run_dir = os.path.join(log_dir, "train")
    files = [n for n in os.listdir(run_dir) if n != "plugins"]  # plugins/: the pixel files
    assert len(files) == 1, files  # one writer
    pixel_files = os.listdir(os.path.join(run_dir, "plugins", "activations"))
    assert len(pixel_files) == EPOCHS + 1, pixel_files  # one per step, written once
    # events.out.tfevents.<time>.<host>.<pid>.<counter>: the host may hold dots.
    name = files[0]
    assert name.startswith("events.out.tfevents."), name
    assert int(name.split(".")[-2]) == writer_pid, (name, writer_pid, other_pid)

    counts = collections.Counter(_records(os.path.join(run_dir, name)))
    layer_steps = sorted(step for (tag, step) in counts if tag == LAYER_TAG)
    assert layer_steps == list(range(EPOCHS + 1)), counts
    assert counts[(metadata.PROBE_TAG, 0)] == 1, counts  # the probe, logged once
    duplicated = {key: n for key, n in counts.items() if n != 1}
    assert not duplicated, duplicated  # every (tag, step) written exactly once
    # And as TensorBoard's loader (the plugin's) reads the log dir.
    assert LogReader(log_dir).steps("train", LAYER_TAG) == list(range(EPOCHS + 1))


def only_on(backend, what):
    """Skips the test unless this run's Keras backend is `backend`."""
    return pytest.mark.skipif(
        keras.backend.backend() != backend,
        reason="%s: runs with KERAS_BACKEND=%s (this run: %s)" % (what, backend, keras.backend.backend()),
    )


@only_on("jax", "JAX multi-process test")
def test_jax_multi_process_only_process_0_writes(tmp_path):
    log_dir = str(tmp_path / "run")
    results = _run_two(tmp_path, "jax_distributed_worker.py", "jax", log_dir)
    pids = [r.pop("pid") for r in results]
    assert results == [
        # One cluster of 2 processes, one CPU device each. Process 0 compiled
        # its log pipeline once; process 1 never built one.
        {"process_index": 0, "process_count": 2, "global_devices": 2, "chief": True, "traces": 1},
        {"process_index": 1, "process_count": 2, "global_devices": 2, "chief": False, "traces": 0},
    ]
    _assert_one_writer(log_dir, writer_pid=pids[0], other_pid=pids[1])


@only_on("torch", "PyTorch multi-process test")
def test_torch_multi_process_only_rank_0_writes(tmp_path):
    log_dir = str(tmp_path / "run")
    results = _run_two(tmp_path, "torch_distributed_worker.py", "torch", log_dir)
    pids = [r.pop("pid") for r in results]
    assert results == [
        {"rank": 0, "world_size": 2, "chief": True, "traces": 0},
        {"rank": 1, "world_size": 2, "chief": False, "traces": 0},
    ]
    _assert_one_writer(log_dir, writer_pid=pids[0], other_pid=pids[1])
