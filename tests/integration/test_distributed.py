"""ActivationLogger under tf.distribute: MirroredStrategy with a real fit over 2
logical CPU devices, and MultiWorkerMirroredStrategy with 2 worker processes on
127.0.0.1. Each runs in subprocesses (device and cluster set-up is per process).
"""

import importlib.util
import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

import paths
from tb_actviz import metadata
from tb_actviz.reader import LogReader

TIMEOUT = 240

# The workers run tf.distribute strategies: TensorFlow only (the JAX and
# PyTorch multi-process tests are in test_distributed_backends.py).
tensorflow_only = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow" or importlib.util.find_spec("tensorflow") is None,
    reason="tf.distribute test: needs KERAS_BACKEND=tensorflow and TensorFlow installed "
    "(this run: Keras backend %s)" % keras.backend.backend(),
)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _python(script, *args):
    return [sys.executable, paths.script(script), *map(str, args)]


def _last_json(output):
    return json.loads(output.strip().splitlines()[-1])


@tensorflow_only
def test_mirrored_strategy_logs_each_step_once(tmp_path):
    log_dir = str(tmp_path / "run")
    done = subprocess.run(
        _python("mirrored_worker.py", log_dir), capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = _last_json(done.stdout)
    assert result == {"replicas": 2, "traces": 1}

    reader = LogReader(log_dir)
    tag = metadata.layer_tag("c1")
    assert reader.steps("train", tag) == [0, 1, 2]
    # The logged maps are the model's own: compare the last step with a
    # forward pass after training, within one quantization step.
    snapshot = reader.layer("train", tag)
    expected = np.load(os.path.join(log_dir, "final_c1.npy"))  # (N, h, w, C)
    logged = snapshot.values().transpose(1, 2, 3, 0)  # (N, h, w, F)
    span = snapshot.stat("max") - snapshot.stat("min")
    assert np.all(np.abs(logged - expected) <= span.T[:, None, None, :] / 255 + 1e-5)


@tensorflow_only
def test_multi_worker_only_the_chief_writes(tmp_path):
    log_dir = str(tmp_path / "run")
    ports = [_free_port(), _free_port()]
    workers = [
        subprocess.Popen(
            _python("distributed_worker.py", index, *ports, log_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in (0, 1)
    ]
    results = []
    try:
        for worker in workers:
            out, err = worker.communicate(timeout=TIMEOUT)  # nothing hangs
            assert worker.returncode == 0, err[-3000:]
            results.append(_last_json(out))
    finally:
        for worker in workers:
            worker.kill()
    # The chief traced its log pipeline once; the other worker never built one.
    assert results == [{"worker": 0, "traces": 1}, {"worker": 1, "traces": 0}]

    event_files = [n for n in os.listdir(os.path.join(log_dir, "train")) if "tfevents" in n]
    assert len(event_files) == 1, event_files  # one writer: the chief
    reader = LogReader(log_dir)
    assert reader.steps("train", metadata.layer_tag("c1")) == [0, 1, 2]
