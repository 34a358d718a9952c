"""Shared fixtures: real training runs written by `model.fit`, and real
`tensorboard` processes serving them.

Session-scoped and reusable by other test modules (the browser test):

- `trained_logs`: a log root written by real `model.fit` runs with
  `ActivationLogger` (and `keras.callbacks.TensorBoard` on the same log dir).
  Two experiments under one root, so one TensorBoard serves both:
    * `faces`: a small CNN trained on `skimage.data.lfw_subset()` faces for
      `FACES_EPOCHS` epochs, logged every epoch (steps 0..FACES_EPOCHS);
    * `many`: a tiny model logged every batch (`update_freq=1`), 16 steps,
      more than TensorBoard's default of 10 samples for unknown plugins.
- `tensorboard_server`: a running `tensorboard --logdir <root>` on a free
  port, parametrized over `--load_fast=true` and `--load_fast=false`; it is
  ready (every logged step of both runs is served) when the fixture returns.
- `tensorboard_factory`: starts more `tensorboard` processes with other flags;
  each is killed at the end of the test.

Helpers (import them with `from conftest import ...`): `free_port`,
`parse_blobs`, `parse_series`, `dequantize`, `area_average`,
`TensorBoardProcess`.
"""

import dataclasses
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

FACES_EPOCHS = 4
FACES_PROBE_SIZE = 6
FACES_IMAGE_SIZE = 25
FACES_MAX_MAP_SIZE = 16
FACES_MAX_FILTERS = 10
FACES_CLASS_NAMES = ["not face", "face"]
MANY_STEPS = 15  # update_freq=1 batches; with step 0: 16 logged steps

# Deadline for a server or a loader to show data. Not a timing assertion: a
# test only fails on it when the data never shows up.
READY_DEADLINE = 180


# Helpers ---------------------------------------------------------------------


def to_numpy(tensor):
    """A tensor of any Keras backend as numpy (torch: detached, on the host)."""
    import keras

    return np.asarray(keras.ops.convert_to_numpy(tensor))


def compiles_per_training():
    """What `ActivationLogger.trace_count` is after a training: the log
    pipeline is compiled once on TensorFlow and JAX, and runs eagerly (never
    compiled) on PyTorch."""
    import keras

    return 0 if keras.backend.backend() == "torch" else 1


def has_tensorflow():
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


def keras_tensorboard_callback(log_dir):
    """`[keras.callbacks.TensorBoard(log_dir)]` where TensorFlow is installed
    (Keras's own callback needs it on every backend), else `[]`."""
    import keras

    return [keras.callbacks.TensorBoard(log_dir)] if has_tensorflow() else []


def free_port():
    """A TCP port that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_blobs(body):
    """Splits a `/blobs` body: repeated (u32 LE length, bytes)."""
    blobs, offset = [], 0
    while offset < len(body):
        assert offset + 4 <= len(body), "truncated length prefix"
        (n,) = struct.unpack_from("<I", body, offset)
        offset += 4
        assert offset + n <= len(body), "truncated blob"
        blobs.append(body[offset:offset + n])
        offset += n
    return blobs


def parse_series(body):
    """Splits a `/series` body: repeated (i64 step, f64 wall time, u32 length, bytes)."""
    entries, offset = [], 0
    while offset < len(body):
        assert offset + 20 <= len(body), "truncated series header"
        step, wall_time, n = struct.unpack_from("<qdI", body, offset)
        offset += 20
        assert offset + n <= len(body), "truncated series blob"
        entries.append((step, wall_time, body[offset:offset + n]))
        offset += n
    return entries


def dequantize(q, low, high):
    """docs/format.md: x ~= min + q * (max - min) / 255."""
    return low + q.astype(np.float64) / 255.0 * (high - low)


def area_average(x, factor):
    """Mean of each factor x factor block of an NHWC array, over the values
    inside the map (edge blocks are partial)."""
    if factor == 1:
        return x.astype(np.float64)
    n, h, w, c = x.shape
    oh, ow = -(-h // factor), -(-w // factor)
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            block = x[:, i * factor:(i + 1) * factor, j * factor:(j + 1) * factor, :]
            out[:, i, j, :] = block.astype(np.float64).mean(axis=(1, 2))
    return out


def pixel_file_blobs(run_dir, tag, step, wall_time):
    """The blobs of `tag` in the plugin's own file of one log, parsed as
    docs/format.md describes it (independently of tb_actviz's reader)."""
    import json

    name = "%010d.%d.actviz" % (step, round(wall_time * 1e6))
    with open(os.path.join(run_dir, "plugins", "activations", name), "rb") as f:
        data = f.read()
    assert data[:8] == b"ACTVIZ01"
    (length,) = struct.unpack_from("<I", data, 8)
    header = json.loads(data[12:12 + length])
    assert (header["step"], header["wall_time"]) == (step, wall_time)
    offset = 12 + length
    for name, lengths in header["tags"]:
        blobs = []
        for n in lengths:
            blobs.append(data[offset:offset + n])
            offset += n
        if name == tag:
            return blobs
    raise KeyError(tag)


def read_run(run_dir, events_only=False):
    """Every tensor summary of one run directory, read by TensorBoard's Python
    loader: {tag: [(step, wall_time, numpy value), ...]} sorted by step, and
    {tag: SummaryMetadata}. For the layer tags of format version 1 the value
    is the blobs of the plugin's own file of that log (the event holds only a
    summary), unless `events_only`."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.util import tensor_util

    from tb_actviz import metadata

    accumulator = pea.EventAccumulator(run_dir, size_guidance={pea.TENSORS: 0})
    accumulator.Reload()
    values, metadatas = {}, {}
    for tag in accumulator.Tags()[pea.TENSORS]:
        md = accumulator.SummaryMetadata(tag)
        in_plugin_files = (
            not events_only
            and md.plugin_data.plugin_name == metadata.PLUGIN_NAME
            and metadata.pixels_in_plugin_files(
                metadata.parse_plugin_metadata(md.plugin_data.content))
        )

        def value(e):
            if in_plugin_files:
                return np.array(pixel_file_blobs(run_dir, tag, e.step, e.wall_time), dtype=object)
            return tensor_util.make_ndarray(e.tensor_proto)

        values[tag] = sorted(
            ((e.step, e.wall_time, value(e)) for e in accumulator.Tensors(tag)),
            key=lambda item: item[0],
        )
        metadatas[tag] = md
    return values, metadatas


def logged_steps(run_dir, tag):
    values, _ = read_run(run_dir)
    return [step for step, _, _ in values.get(tag, [])]


def decode_png(data):
    """A PNG the tests wrote or were served, decoded (bounded as every
    decode is, generously: tests' images are small)."""
    from tb_actviz.format import images

    return images.decode_png(data, max_side=16384)


# Training runs ---------------------------------------------------------------


@dataclasses.dataclass
class LoggedExperiment:
    """One `model.fit` run logged by ActivationLogger under `root/name`."""

    root: str
    name: str
    log_dir: str
    run: str  # run name as TensorBoard shows it (relative to root)
    steps: list
    layers: dict  # layer path -> expected geometry/metadata
    probe_x: np.ndarray
    probe_labels: list
    # Layer outputs for the probe, (N, ...) float32, before training (step 0)
    # and after the last epoch (the last step).
    initial_outputs: dict
    final_outputs: dict
    # Tags beside the layers' and the probe's (attributions=True).
    attribution_tags: tuple = ()

    def tag(self, path):
        return "actviz/layers/" + path


def _faces_data():
    from skimage import data, transform

    images = data.lfw_subset()
    labels = np.array([1] * 100 + [0] * 100)
    x = np.stack([transform.resize(im, (FACES_IMAGE_SIZE, FACES_IMAGE_SIZE)) for im in images])
    x = x[..., None].astype("float32")
    order = np.random.default_rng(0).permutation(len(x))
    return x[order], labels[order]


def _outputs(model, names, x):
    import keras

    probe_model = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    outs = probe_model(x, training=False)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    return {n: np.asarray(keras.ops.convert_to_numpy(o)) for n, o in zip(names, outs)}


def _train_faces(root):
    import keras
    from tb_actviz import ActivationLogger

    keras.utils.set_random_seed(0)
    x, y = _faces_data()
    x_train, y_train = x[:160], y[:160]
    probe_x, probe_y = x[160:160 + FACES_PROBE_SIZE], y[160:160 + FACES_PROBE_SIZE]
    model = keras.Sequential(
        [
            keras.Input((FACES_IMAGE_SIZE, FACES_IMAGE_SIZE, 1)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(name="pool1"),
            keras.layers.Conv2D(12, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(2, activation="softmax", name="dense"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    names = ["conv1", "conv2", "dense"]
    initial = _outputs(model, names, probe_x)
    log_dir = os.path.join(root, "faces")
    model.fit(
        x_train,
        y_train,
        epochs=FACES_EPOCHS,
        batch_size=32,
        verbose=0,
        callbacks=keras_tensorboard_callback(log_dir) + [
            ActivationLogger(
                log_dir,
                probe=(probe_x, probe_y),
                layers=["conv*", "dense"],
                max_map_size=FACES_MAX_MAP_SIZE,
                max_filters=FACES_MAX_FILTERS,
                class_names=FACES_CLASS_NAMES,
                attributions=True,
                verbose=0,
            ),
        ],
    )
    final = _outputs(model, names, probe_x)
    n = FACES_PROBE_SIZE
    layers = {
        # 25x25 > 16: factor ceil(25/16) = 2, stored 13x13.
        "conv1": dict(index=0, cls="Conv2D", output_shape=[25, 25, 8], map_kind="maps",
                      F=8, H=13, W=13, source=(25, 25), factor=2),
        "conv2": dict(index=2, cls="Conv2D", output_shape=[12, 12, 12], map_kind="maps",
                      F=FACES_MAX_FILTERS, H=12, W=12, source=(12, 12), factor=1),
        "dense": dict(index=4, cls="Dense", output_shape=[2], map_kind="units",
                      F=1, H=1, W=2, source=(1, 2), factor=1),
    }
    for geometry in layers.values():
        geometry["N"] = n
    return LoggedExperiment(
        root=root,
        name="faces",
        log_dir=log_dir,
        run="faces/train",
        steps=list(range(FACES_EPOCHS + 1)),
        layers=layers,
        probe_x=probe_x,
        probe_labels=[FACES_CLASS_NAMES[int(v)] for v in probe_y],
        initial_outputs=initial,
        final_outputs=final,
        attribution_tags=("actviz/attribution/grad_cam", "actviz/attribution/saliency"),
    )


def _train_many(root):
    import keras
    from tb_actviz import ActivationLogger

    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2 * MANY_STEPS, 8, 8, 1)).astype("float32")
    y = rng.normal(size=(2 * MANY_STEPS, 1)).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, name="c"),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ]
    )
    model.compile("sgd", "mse")
    initial = _outputs(model, ["c"], x[:3])
    log_dir = os.path.join(root, "many")
    model.fit(
        x, y, epochs=1, batch_size=2, verbose=0,
        callbacks=[ActivationLogger(log_dir, probe=x[:3], layers="c", update_freq=1, verbose=0)],
    )
    return LoggedExperiment(
        root=root,
        name="many",
        log_dir=log_dir,
        run="many/train",
        steps=list(range(MANY_STEPS + 1)),
        layers={"c": dict(index=0, cls="Conv2D", output_shape=[6, 6, 4], map_kind="maps",
                          F=4, H=6, W=6, source=(6, 6), factor=1, N=3)},
        probe_x=x[:3],
        probe_labels=["", "", ""],
        initial_outputs=initial,
        final_outputs=_outputs(model, ["c"], x[:3]),
    )


@dataclasses.dataclass
class TrainedLogs:
    root: str
    faces: LoggedExperiment
    many: LoggedExperiment

    @property
    def experiments(self):
        return [self.faces, self.many]


@pytest.fixture(scope="session")
def trained_logs(tmp_path_factory):
    """A log root written by real `model.fit` runs (see module docstring)."""
    root = str(tmp_path_factory.mktemp("logs"))
    return TrainedLogs(root=root, faces=_train_faces(root), many=_train_many(root))


# TensorBoard processes -----------------------------------------------------------


def tensorboard_executable():
    path = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    return path if os.path.exists(path) else "tensorboard"


class TensorBoardProcess:
    """A real `tensorboard` subprocess on a free port of 127.0.0.1."""

    def __init__(self, logdir, load_fast, extra_args=(), log_path=None):
        self.logdir = logdir
        self.load_fast = load_fast  # "true" or "false"
        self.extra_args = list(extra_args)
        self.log_path = log_path
        self.process = None
        self.port = None

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        for _ in range(3):
            self.port = free_port()
            args = [tensorboard_executable()]
            if self.logdir is not None:  # None: the extra args name the runs (--logdir_spec)
                args += ["--logdir", self.logdir]
            args += [
                "--port", str(self.port),
                "--host", "127.0.0.1",
                "--load_fast=%s" % self.load_fast,
            ] + self.extra_args
            log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            if log is not subprocess.DEVNULL:
                log.close()
            if self._wait_listening():
                return self
            if "address already in use" not in self.output().lower():
                break
        raise RuntimeError("tensorboard did not start:\n%s" % self.output())

    def _wait_listening(self):
        deadline = time.monotonic() + READY_DEADLINE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                status, _, body = self.get("/data/plugins_listing")
                if status == 200 and "activations" in json.loads(body):
                    return True
            except OSError:
                pass
            time.sleep(0.3)
        return False

    def output(self):
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-5000:]

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        # The process group is the one this object started (start_new_session),
        # so the Rust data server child goes with it.
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    # HTTP ------------------------------------------------------------------

    def get(self, path, params=None):
        """GET a raw path (not re-quoted): (status, headers, body bytes)."""
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def plugin(self, route, **params):
        return self.get("/data/plugin/activations/" + route, params or None)

    def plugin_json(self, route, **params):
        status, _, body = self.plugin(route, **params)
        assert status == 200, (route, params, status, body[:500])
        return json.loads(body)

    def served_steps(self, run, tag):
        status, _, body = self.plugin("steps", run=run, tag=tag)
        if status != 200:
            return []
        return [s["step"] for s in json.loads(body)["steps"]]

    def wait_until(self, predicate, what):
        """Polls `predicate()` until true; fails (with the server log) if it never is."""
        deadline = time.monotonic() + READY_DEADLINE
        while True:
            try:
                if predicate():
                    return
            except (OSError, ValueError, KeyError):
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("tensorboard never served %s\n%s" % (what, self.output()))
            time.sleep(0.5)

    def wait_for_experiments(self, experiments, steps=None):
        """Waits until every step of every layer of `experiments` is served."""

        def ready():
            for exp in experiments:
                expected = steps if steps is not None else exp.steps
                for path in exp.layers:
                    if self.served_steps(exp.run, exp.tag(path)) != expected:
                        return False
            return True

        self.wait_until(ready, "every logged step of %s" % [e.run for e in experiments])


def _start(tmp_path_factory, logdir, load_fast, extra_args=()):
    log_path = str(tmp_path_factory.mktemp("tensorboard_output") / "tensorboard.log")
    return TensorBoardProcess(logdir, load_fast, extra_args, log_path).start()


@pytest.fixture(
    scope="session", params=["true", "false"], ids=["load_fast=true", "load_fast=false"]
)
def tensorboard_server(request, trained_logs, tmp_path_factory):
    """`tensorboard --logdir <trained_logs.root>`, ready with every step served."""
    server = _start(tmp_path_factory, trained_logs.root, request.param)
    request.addfinalizer(server.stop)
    server.wait_for_experiments(trained_logs.experiments)
    return server


@pytest.fixture
def tensorboard_factory(request, tmp_path_factory):
    """`start(logdir, load_fast, extra_args=())` -> a started TensorBoardProcess,
    killed at the end of the test."""
    started = []

    def start(logdir, load_fast, extra_args=()):
        server = TensorBoardProcess(
            logdir, load_fast, extra_args,
            str(tmp_path_factory.mktemp("tensorboard_output") / "tensorboard.log"),
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


# The browser fixtures live in browser_support.py; importing them here makes
# one session-wide instance that every test module shares.
from browser_support import browser, showcase_training, tab  # noqa: E402,F401


# A real small file system ----------------------------------------------------


class SmallFileSystem:
    """A tmpfs of a few hundred KB mounted for one test, to run out of space
    for real. `fill()` takes all the space left; `free()` gives it back."""

    def __init__(self, path):
        self.path = path
        self._filler = os.path.join(path, "filler")

    def fill(self):
        chunk = b"\0" * 4096
        with open(self._filler, "ab", buffering=0) as f:
            try:
                while True:
                    f.write(chunk)
            except OSError:
                pass  # ENOSPC: full
        # Partial pages can leave a few bytes: take them too.
        with open(self._filler, "ab", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0")
            except OSError:
                pass

    def free(self):
        if os.path.exists(self._filler):
            os.remove(self._filler)


@pytest.fixture
def small_filesystem(tmp_path):
    """A tmpfs (2 MiB) mounted at a temporary folder. Mounting needs root (or
    CAP_SYS_ADMIN): elsewhere the test is skipped, saying why."""
    path = str(tmp_path / "tmpfs")
    os.makedirs(path)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", path],
        capture_output=True, text=True,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here to fill a disk for real (needs root): "
                    + done.stderr.strip())
    try:
        yield SmallFileSystem(path)
    finally:
        subprocess.run(["umount", "-l", path], check=False)
