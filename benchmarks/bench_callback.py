"""Training-side cost of tb_actviz on one Keras backend, beside its floor and peers.

One run measures the backend in use (`KERAS_BACKEND`: tensorflow, jax or
torch); run it once per backend's environment, or once with `--all-backends`
to run it in each given interpreter and print one combined table. On JAX and
PyTorch it never imports TensorFlow (the JSON says `tensorflow_imported`).

VGG16 (`weights=None`, 224x224x3, no top), 8 probe images (scikit-image's
bundled photos, offline). Medians over `--repeats` repetitions (default 5; 3
with `--quick`); in each repetition the floor and the callback are timed in
alternating order (ABAB...), so that the noise of the shared 2-core machine
hits both alike:

- floor: the bare compiled forward pass of the probe to the chosen layers,
  by the backend's best means, outputs copied to numpy: one `tf.function` on
  TensorFlow; `jax.jit` of the extractor's `stateless_call` on JAX; eager
  under `torch.inference_mode()` on PyTorch, and (seed case) the same through
  `torch.compile`, with its compile time and break-even count of logs;
- per log: `--logs` back-to-back logs through the callback's hooks
  (`on_epoch_end`), then `on_train_end` (flush of the log in flight and
  close), divided by the number of logs: everything a log costs, the
  background formatting and writing included; and its ratio to the floor;
- the writer: `EventFileWriter.write_events` throughput (MB/s, CRC32C and
  fsync included) against the bytes a log writes per second of its forward
  pass (target >= 10x);
- cases: (a) seed: block1_conv1 + block5_conv3 (target <= 1.10x the floor);
  (b) all 13 conv layers; (c) block1_conv1 alone, and on TensorFlow
  tf-explain's ActivationsVisualizationCallback; (d) on TensorFlow, the
  hand-written recipe (sub-model + predict + matplotlib 7x7 contourf);
- where one log's time goes (seed case), bytes per layer (13 conv layers),
  memory over `--memory-logs` logs, and on TensorFlow `examples/faces.py`
  fit time with and without the callback.

Then one `JSON {...}` line with every number.

    KERAS_BACKEND=tensorflow .venv/bin/python benchmarks/bench_callback.py --quick
    KERAS_BACKEND=jax .venv-jax/bin/python benchmarks/bench_callback.py --quick
    KERAS_BACKEND=torch .venv-torch/bin/python benchmarks/bench_callback.py --quick
    python benchmarks/bench_callback.py --all-backends --quick \\
        --jax-python .venv-jax/bin/python --torch-python .venv-torch/bin/python
"""

import argparse
import gc
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
from report import fmt_s, fmt_bytes, print_table  # noqa: E402
from measure import (  # noqa: E402,F401 - bench_attribution imports them from here too
    library_revision, load_average, log, median, peak_rss_mb, rss_mb, timed)

BACKENDS = ("tensorflow", "jax", "torch")
VGG16_CONV = [
    "block1_conv1", "block1_conv2",
    "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3",
    "block4_conv1", "block4_conv2", "block4_conv3",
    "block5_conv1", "block5_conv2", "block5_conv3",
]
SEED_LAYERS = ["block1_conv1", "block5_conv3"]
# VGG16's five blocks: (filters, conv layers); 3x3 "same" ReLU convolutions,
# each block ending in a 2x2 max pooling.
VGG16_BLOCKS = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]

TARGET_SEED_RATIO = 1.10
TARGET_ALL_RATIO = 1.5
TARGET_TFE_SPEEDUP = 20.0
TARGET_FACES_OVERHEAD = 0.05
TARGET_BLOCK1_BYTES = 1_000_000
TARGET_WRITER_HEADROOM = 10.0

NOISE_NOTE = (
    "Note: 2 shared CPU cores, other people's processes run meanwhile: the same forward "
    "pass varies by up to 2x from one minute to the next. Read the ratios (each against "
    "a baseline timed alternately in this run), not the absolute times."
)


# Helpers -------------------------------------------------------------------














def probe_images(count=8, size=224, seed=0):
    """`count` natural photos (scikit-image's bundled ones, crops and flips), VGG-preprocessed."""
    import keras
    from skimage import data, transform

    photos = [data.astronaut(), data.chelsea(), data.coffee()]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        photo = photos[i % len(photos)]
        if i >= len(photos):  # random square crop, maybe flipped
            h, w = photo.shape[:2]
            side = int(min(h, w) * rng.uniform(0.5, 0.9))
            top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            photo = photo[top:top + side, left:left + side]
            if rng.random() < 0.5:
                photo = photo[:, ::-1]
        out.append(transform.resize(photo, (size, size), anti_aliasing=True) * 255.0)
    x = np.stack(out).astype("float32")
    return keras.applications.vgg16.preprocess_input(x)


def import_tf_explain():
    """tf-explain 0.3.1's activations callback (it needs OpenCV: requirements-dev)."""
    from tf_explain.callbacks.activations_visualization import (
        ActivationsVisualizationCallback,
    )

    return ActivationsVisualizationCallback




def backend_info(backend):
    """Version and threads of the backend in use."""
    if backend == "tensorflow":
        import tensorflow as tf

        return {"version": tf.__version__}
    if backend == "jax":
        import jax

        return {"version": jax.__version__, "devices": [str(d) for d in jax.devices()]}
    import torch

    return {"version": torch.__version__, "threads": torch.get_num_threads()}


class Context:
    """The model, the probe and the backend of this run."""

    def __init__(self, backend, base, probe_array):
        import keras

        self.backend = backend
        self.base = base
        self.probe_array = probe_array
        self.probe_tensor = keras.ops.convert_to_tensor(probe_array)


# The models -------------------------------------------------------------------


def subclassed_vgg16(size=224):
    """A `keras.Model` subclass with VGG16's 13 conv layers (same filters and
    kernel sizes, named as in `keras.applications.VGG16`) and its 5 max
    poolings, held in lists, with its own `call`; random weights (Keras's
    default initializers, as VGG16 with `weights=None`). Built by one pass
    of a zero image."""
    import keras

    class SubclassedVGG16(keras.Model):
        def __init__(self):
            super().__init__(name="subclassed_vgg16")
            self.convs, self.pools, self.block_sizes = [], [], []
            for b, (filters, count) in enumerate(VGG16_BLOCKS, 1):
                for i in range(1, count + 1):
                    self.convs.append(keras.layers.Conv2D(
                        filters, 3, padding="same", activation="relu",
                        name="block%d_conv%d" % (b, i)))
                self.pools.append(keras.layers.MaxPooling2D(2, 2, name="block%d_pool" % b))
                self.block_sizes.append(count)

        def call(self, x):
            k = 0
            for count, pool in zip(self.block_sizes, self.pools):
                for conv in self.convs[k:k + count]:
                    x = conv(x)
                k += count
                x = pool(x)
            return x

        def layers_to(self, names):
            """The layers `call` runs, in order, up to the last of `names`."""
            order, k = [], 0
            for count, pool in zip(self.block_sizes, self.pools):
                order += list(self.convs[k:k + count]) + [pool]
                k += count
            last = max(i for i, l in enumerate(order) if l.name in names)
            return order[:last + 1]

    model = SubclassedVGG16()
    model(np.zeros((1, size, size, 3), "float32"))
    return model


# The measured pieces ------------------------------------------------------------


def make_floor(base, names, backend, torch_compile=False):
    """The bare forward pass to `names`, compiled by the backend's best means:
    a callable probe -> [numpy arrays] (full-size outputs, copied to the host).
    A Functional model: a sub-model to `names`; the subclassed VGG16: its
    layers called by hand (`make_hand_floor`)."""
    import keras

    if hasattr(base, "layers_to"):
        return make_hand_floor(base, names, backend, torch_compile)
    extractor = keras.Model(base.inputs, [base.get_layer(n).output for n in names])
    if backend == "tensorflow":
        import tensorflow as tf

        function = tf.function(lambda x: extractor(x, training=False), autograph=False)
        return lambda x: [o.numpy() for o in function(x)]
    if backend == "jax":
        import jax

        function = jax.jit(
            lambda trainable, non_trainable, x: extractor.stateless_call(
                trainable, non_trainable, x, training=False)[0]
        )
        trainable = [v.value for v in extractor.trainable_variables]
        non_trainable = [v.value for v in extractor.non_trainable_variables]
        return lambda x: [np.asarray(o) for o in function(trainable, non_trainable, x)]
    import torch

    call = lambda x: extractor(x, training=False)  # noqa: E731
    if torch_compile:
        call = torch.compile(call)

    def floor(x):
        with torch.inference_mode():
            return [o.cpu().numpy() for o in call(x)]

    return floor


def make_hand_floor(model, names, backend, torch_compile=False):
    """The subclassed VGG16's bare forward pass to `names` written by hand:
    its layers called in `call`'s order up to the last of `names` (nothing
    after it), the outputs of `names` returned; compiled by the backend's
    best means: one `tf.function` (TensorFlow); `jax.jit` of the same with
    each layer's `stateless_call`, the weights passed as arguments (JAX);
    eager under `torch.inference_mode()` (PyTorch). A callable probe ->
    [numpy arrays]."""
    steps = model.layers_to(names)

    def forward(call, x):
        outputs = {}
        for i, layer in enumerate(steps):
            x = call(i, layer, x)
            if layer.name in names:
                outputs[layer.name] = x
        return [outputs[n] for n in names]

    if backend == "tensorflow":
        import tensorflow as tf

        function = tf.function(lambda x: forward(lambda i, l, x: l(x), x), autograph=False)
        return lambda x: [o.numpy() for o in function(x)]
    if backend == "jax":
        import jax

        function = jax.jit(lambda values, x: forward(
            lambda i, l, x: l.stateless_call(values[i], [], x)[0], x))
        return lambda x: [np.asarray(o) for o in function(
            [[v.value for v in l.trainable_variables] for l in steps], x)]
    import torch

    call = lambda x: forward(lambda i, l, x: l(x), x)  # noqa: E731
    if torch_compile:
        call = torch.compile(call)

    def floor(x):
        with torch.inference_mode():
            return [o.cpu().numpy() for o in call(x)]

    return floor


def _logger_class():
    from tb_actviz import ActivationLogger

    class RecordingLogger(ActivationLogger):
        """Keeps the bytes per tag of the first log written instead of
        printing them (the verbose line)."""

        bytes_per_tag = None

        def _report(self, written):
            self.bytes_per_tag = list(written)

    return RecordingLogger


class LoggerRun:
    """One training's ActivationLogger, driven through its Keras hooks as `fit`
    would: `on_train_begin`, the step-0 log in `on_epoch_begin(0)`, then one
    log per `on_epoch_end`, `on_train_end`."""

    def __init__(self, ctx, names, log_dir):
        self.log_dir = log_dir
        self.cb = _logger_class()(log_dir, ctx.probe_array, layers=names, verbose=1)
        self.cb.set_model(ctx.base)
        self.epoch = 0
        self.train_thread = []
        self.setup_s, _ = timed(self._begin)
        self.bytes_after_setup = self.run_bytes()

    def _begin(self):
        self.cb.on_train_begin()
        self.cb.on_epoch_begin(0)  # step 0: compile, capture, write with the probe
        self.cb.flush()

    def log_once(self):
        """One log's hook, then its background write: (hook seconds, total)."""
        start = time.perf_counter()
        self.cb.on_epoch_end(self.epoch)
        hook = time.perf_counter() - start
        self.cb.flush()
        self.epoch += 1
        self.check()
        return hook, time.perf_counter() - start

    def back_to_back(self, logs):
        """`logs` logs back to back, then `on_train_end` (flush + close):
        seconds per log, everything included."""
        start = time.perf_counter()
        for _ in range(logs):
            begin = time.perf_counter()
            self.cb.on_epoch_end(self.epoch)
            self.train_thread.append(time.perf_counter() - begin)
            self.epoch += 1
        self.cb.on_train_end()
        per_log = (time.perf_counter() - start) / logs
        self.check()
        return per_log

    def check(self):
        failures = self.cb._failures
        if failures.disabled or failures.in_a_row:
            raise RuntimeError("a log failed (see the tb_actviz warning above)")

    def run_bytes(self):
        """Bytes of every file the run holds (event files, and the plugin's
        own files where the library writes them), temporary files excepted."""
        total = 0
        for directory, _, files in os.walk(os.path.join(self.log_dir, "train")):
            total += sum(os.path.getsize(os.path.join(directory, f))
                         for f in files if not f.endswith(".tmp"))
        return total

    def close(self):
        self.cb.on_train_end()
        self.check()


# Benchmark sections ------------------------------------------------------------


def bench_case(ctx, names, repeats, logs, root, label, torch_compile=False):
    """Floor vs tb_actviz per log for one layer set, alternating; a dict."""
    arms = {"floor": make_floor(ctx.base, names, ctx.backend)}
    if torch_compile:
        arms["torch.compile"] = make_floor(ctx.base, names, ctx.backend, torch_compile=True)
    first_call, errors = {}, {}
    for name in list(arms):
        try:
            first_call[name] = timed(lambda: arms[name](ctx.probe_tensor))[0]  # compiles
            arms[name](ctx.probe_tensor)
        except Exception as e:  # torch.compile may fail: reported, not fatal
            errors[name] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
            del arms[name]
            log("  %s failed: %s" % (name, errors[name]))
    floor_blocks = {name: [] for name in arms}
    floor_calls = {name: [] for name in arms}
    per_log, setups, compiles, bytes_per_log, train_thread = [], [], [], [], []
    bytes_per_tag = None

    def time_floors():
        for name, fn in arms.items():
            times = [timed(lambda: fn(ctx.probe_tensor))[0] for _ in range(logs)]
            floor_calls[name] += times
            floor_blocks[name].append(sum(times) / logs)

    def time_callback():
        nonlocal bytes_per_tag
        run = LoggerRun(ctx, names, os.path.join(root, "%s_%d" % (label, len(per_log))))
        setups.append(run.setup_s)
        per_log.append(run.back_to_back(logs))
        bytes_per_log.append((run.run_bytes() - run.bytes_after_setup) / logs)
        train_thread.extend(run.train_thread)
        compiles.append(run.cb.trace_count)
        bytes_per_tag = run.cb.bytes_per_tag
        cb = run.cb
        return cb

    for r in range(repeats):
        if r % 2 == 0:
            time_floors()
            cb = time_callback()
        else:
            cb = time_callback()
            time_floors()
    logged_paths = [l.entry.path for l in cb._logged]
    geometry = [
        (l.geometry.num_filters, l.geometry.map_height, l.geometry.map_width, l.geometry.factor)
        for l in cb._logged
    ]
    floor_s = median(floor_blocks["floor"])
    result = {
        "layers": logged_paths,
        "logs_per_repeat": logs,
        "floor_s": floor_s,
        "floor_per_call_median_s": median(floor_calls["floor"]),
        "floor_first_call_s": first_call.get("floor"),
        "per_log_s": median(per_log),
        "ratio": median(per_log) / floor_s,
        "ratio_per_repeat_median": median(
            [p / f for p, f in zip(per_log, floor_blocks["floor"])]),
        "train_thread_s": median(train_thread),
        "setup_s": median(setups),
        "compile_count": compiles[-1],
        "compile_counts": compiles,
        "bytes_per_layer": dict(zip(logged_paths, bytes_per_tag or [])),
        "bytes_written_per_log": median(bytes_per_log),
        "geometry": dict(zip(logged_paths, geometry)),
        "raw_floor_s": floor_blocks["floor"],
        "raw_per_log_s": per_log,
    }
    if torch_compile:
        tc = {"error": errors.get("torch.compile")}
        if "torch.compile" in arms:
            compiled_s = median(floor_blocks["torch.compile"])
            saving = floor_s - compiled_s
            tc.update({
                "floor_s": compiled_s,
                "first_call_s": first_call["torch.compile"],
                "vs_eager": compiled_s / floor_s,
                "per_log_ratio": median(per_log) / compiled_s,
                # Logs until the compile time is paid back by faster passes.
                "break_even_logs": (first_call["torch.compile"] - first_call["floor"]) / saving
                if saving > 0 else None,
                "raw_floor_s": floor_blocks["torch.compile"],
            })
        result["torch_compile"] = tc
    log("  %-8s floor %s | tb_actviz per log %s (x%.2f; training thread %s per hook) | "
        "set-up %s | compiled %s"
        % (label, fmt_s(floor_s), fmt_s(result["per_log_s"]), result["ratio"],
           fmt_s(result["train_thread_s"]), fmt_s(result["setup_s"]), compiles))
    if torch_compile and "floor_s" in result["torch_compile"]:
        tc = result["torch_compile"]
        log("           torch.compile floor %s (x%.2f eager), first call %s"
            % (fmt_s(tc["floor_s"]), tc["vs_eager"], fmt_s(tc["first_call_s"])))
    return result


def _written_bytes(result):
    """What a file write reports: a byte count, or the path of the file."""
    if isinstance(result, bool):
        return 0
    if isinstance(result, int):
        return result
    if isinstance(result, (str, os.PathLike)) and os.path.isfile(result):
        return os.path.getsize(result)
    return 0


class _Timing:
    """Wraps `owner.name` to add up its seconds and the bytes it wrote (as it
    returns them: a count or a file's path)."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name
        self.original = getattr(owner, name)
        self.seconds, self.bytes = 0.0, 0

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                result = self.original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
            self.bytes += _written_bytes(result)
            return result

        setattr(owner, name, wrapper)

    def restore(self):
        if isinstance(self.owner, type(os)):  # a module: put the function back
            setattr(self.owner, self.name, self.original)
        else:  # an instance: drop the wrapper, the class's method shows again
            delattr(self.owner, self.name)


def bench_breakdown(ctx, names, repeats, root):
    """Where one log's time goes, each part run alone on this thread: the
    capture (compiled pipeline + copy to the host: the training thread's
    share), then the background job (`LogWriter._write`), with the time it
    spends in `blob_layout.layer_blobs` (statistics, strips, PNG) and in its
    file writes (`write_events`, and the plugin's own file where the library
    writes one), timed by wrapping those calls."""
    from tb_actviz.write import log_writer

    run = LoggerRun(ctx, names, os.path.join(root, "breakdown"))
    cb = run.cb
    writer = cb._writer
    parts = {"capture": [], "job": [], "encode": [], "files": [], "rest": [], "file_bytes": []}
    for i in range(repeats):
        t, captured = timed(cb._capture)
        parts["capture"].append(t)
        wrapped = [_Timing(writer, "_layer_blobs")]
        files = [_Timing(writer._events, "write_events")]
        if getattr(writer, "_pixel_files", None) is not None:
            files.append(_Timing(writer._pixel_files, "write"))
        try:
            parts["job"].append(timed(lambda: writer._write(1000 + i, captured, False))[0])
        finally:
            for w in wrapped + files:
                w.restore()
        parts["encode"].append(wrapped[0].seconds)
        parts["files"].append(sum(f.seconds for f in files))
        parts["file_bytes"].append(sum(f.bytes for f in files))
        # Per repetition: medians of the parts need not add up to the job's.
        parts["rest"].append(parts["job"][-1] - parts["encode"][-1] - parts["files"][-1])
    run.close()
    out = {k + "_s": median(v) for k, v in parts.items() if k != "file_bytes"}
    out["file_bytes"] = median(parts["file_bytes"])
    out["file_writers"] = [type(f.owner).__name__ for f in files]
    out["files_mb_per_s"] = out["file_bytes"] / out["files_s"] / 1e6
    log("  breakdown: capture (compiled pipeline + copy to host) %s; background job %s "
        "(statistics + strips + PNG %s, file writes %s for %s = %.0f MB/s: %s)"
        % (fmt_s(out["capture_s"]), fmt_s(out["job_s"]), fmt_s(out["encode_s"]),
           fmt_s(out["files_s"]), fmt_bytes(out["file_bytes"]), out["files_mb_per_s"],
           " + ".join(out["file_writers"])))
    return out


def bench_pipeline_parts(ctx, names, repeats):
    """The floor (forward only) against the callback's compiled pipeline
    (forward + area average to the stored size), alternately."""
    from tb_actviz import callback as defaults
    from tb_actviz.capture import backends
    from tb_actviz.capture import extractor as ex
    from tb_actviz.capture import layer_selection

    entries = layer_selection.select_layers(ctx.base, names, 16)
    logged = [ex.LoggedLayer.of(e, defaults.DEFAULT_MAX_FILTERS, defaults.DEFAULT_MAX_MAP_SIZE)
              for e in entries]
    pipeline = backends.compile_pipeline(ex.LogPipeline(ctx.base, logged))
    fns = {"forward": make_floor(ctx.base, names, ctx.backend), "pipeline": pipeline}
    for fn in fns.values():
        fn(ctx.probe_tensor)
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(timed(lambda: fn(ctx.probe_tensor))[0])
    out = {k: median(v) for k, v in times.items()}
    log("  pipeline parts (%s): forward %s (full-size maps to numpy), forward + area average "
        "(stored-size maps to numpy) %s" % ("+".join(names), fmt_s(out["forward"]),
                                              fmt_s(out["pipeline"])))
    return out


def _writer_throughput_here(total_bytes, records, runs=7):
    """`bench_writer.writer_throughput`'s measurement, for when that module
    does not import: `write_events` of one log of `records` blob-sequence
    events of random bytes (CRC32C, os.write, fsync), median of `runs`."""
    from tensorboard.compat.proto import event_pb2

    from tb_actviz import metadata, plugin_data_pb2
    from tb_actviz.write import summary_v2
    from tb_actviz.write import event_file_writer as efw

    size = max(1, total_bytes // records)
    strip = max(1, size // 50)
    events = []
    for i in range(records):
        blobs = [os.urandom(strip) for _ in range(50)]
        plugin_data = plugin_data_pb2.ActivationsPluginData(kind=metadata.Kind.LAYER)
        events.append(event_pb2.Event(
            wall_time=time.time(), step=1,
            summary=summary_v2.activations_pb("actviz/layers/l%d" % i, blobs, plugin_data)))
    with tempfile.TemporaryDirectory(prefix="bench_writer_") as root:
        writer = efw.EventFileWriter(root)
        writer.write_events(events[:1])  # creates the file: the runs time appends only
        times, written = [], 0
        for _ in range(runs):
            start = time.perf_counter()
            written = writer.write_events(events)
            times.append(time.perf_counter() - start)
        writer.close()
    seconds = median(times)
    return {"seconds": seconds, "mb_per_s": written / seconds / 1e6, "bytes": written,
            "crc": efw.CRC32C_IMPLEMENTATION}


def bench_writer_throughput(bytes_per_log, records, floor_s, runs):
    """The writer's MB/s against what one log per forward pass needs."""
    try:
        from bench_writer import writer_throughput

        source = "bench_writer.writer_throughput"
    except Exception as e:  # noqa: BLE001 - reported in the output
        writer_throughput = _writer_throughput_here
        source = "this script's copy: bench_writer.py does not import (%s: %s)" % (
            type(e).__name__, e)
    r = writer_throughput(int(bytes_per_log), records, runs)
    needed = bytes_per_log / floor_s / 1e6
    out = {
        "source": source,
        "crc": r.get("crc"),
        "bytes_per_log": bytes_per_log,
        "records": records,
        "write_s": r["seconds"],
        "writer_mb_per_s": r["mb_per_s"],
        "needed_mb_per_s": needed,
        "headroom": r["mb_per_s"] / needed,
    }
    log("  writer (CRC32C %s): write_events %s per log of %s -> %.0f MB/s; a log per "
        "forward pass needs %.2f MB/s: %.0fx headroom"
        % (out["crc"], fmt_s(out["write_s"]), fmt_bytes(bytes_per_log),
           out["writer_mb_per_s"], needed, out["headroom"]))
    if source != "bench_writer.writer_throughput":
        log("  (measured by %s)" % source)
    return out


def bench_tf_explain(ctx, repeats, root, tb_per_log_s, tb_train_s):
    try:
        Callback = import_tf_explain()
    except Exception as e:  # pragma: no cover - reported, not fatal
        log("  tf-explain unavailable: %s" % e)
        return {"error": str(e)}
    probe_array = ctx.probe_array
    cb = Callback(
        validation_data=(probe_array, np.zeros(len(probe_array))),
        layers_name=["block1_conv1"],
        output_dir=os.path.join(root, "tf_explain"),
    )
    cb.set_model(ctx.base)
    cb.on_epoch_end(0)  # warm-up
    times = [timed(lambda e=e: cb.on_epoch_end(e + 1))[0] for e in range(repeats)]
    cb.file_writer.close()
    t = median(times)
    out = {
        "per_log_s": t,
        "speedup_vs_tb_actviz": t / tb_per_log_s,
        "speedup_vs_tb_actviz_train_thread": t / tb_train_s,
        "raw_s": times,
    }
    log("  tf-explain block1_conv1: %s per log; tb_actviz is %.1fx faster (per log), %.1fx "
        "(training thread)" % (fmt_s(t), out["speedup_vs_tb_actviz"],
                               out["speedup_vs_tb_actviz_train_thread"]))
    return out


def recipe_log(base, probe_image, out):
    """The hand-written recipe, once: sub-model + predict + 7x7 contourf grid per layer."""
    import keras
    import matplotlib.pyplot as plt

    for index in (1, -2):
        sub = keras.Model(base.input, base.layers[index].output)
        maps = sub.predict(probe_image, verbose=0)
        fig = plt.figure(figsize=(10, 10))
        for f in range(49):
            ax = fig.add_subplot(7, 7, f + 1)
            ax.contourf(maps[0, :, :, f], 7, cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)
        out.append(len(buffer.getvalue()))



def bench_recipe(ctx, repeats, seed_floor_s, seed_per_log_s):
    import matplotlib

    matplotlib.use("Agg")
    image = ctx.probe_array[:1]
    sizes = []
    recipe_log(ctx.base, image, sizes)  # warm-up (matplotlib font cache etc.)
    times = []
    for _ in range(repeats):
        sizes = []
        times.append(timed(lambda: recipe_log(ctx.base, image, sizes))[0])
    t = median(times)
    out = {
        "per_log_s": t,
        "png_bytes": sizes,
        "ratio_to_seed_floor": t / seed_floor_s,
        "slower_than_tb_actviz": t / seed_per_log_s,
        "raw_s": times,
    }
    log("  recipe (1 image, 2 layers, 49 maps each): %s (x%.1f the seed floor)"
        % (fmt_s(t), out["ratio_to_seed_floor"]))
    return out


def bench_memory(ctx, logs, root):
    run = LoggerRun(ctx, SEED_LAYERS, os.path.join(root, "memory"))
    gc.collect()
    rss, peaks, times = [], [], []
    for i in range(logs):
        _, total = run.log_once()
        times.append(total)
        rss.append(rss_mb())
        peaks.append(peak_rss_mb())
        if (i + 1) % 25 == 0:
            log("    memory: %d/%d logs, RSS %.0f MB" % (i + 1, logs, rss[-1]))
    run.close()
    head = rss[:10]
    tail = rss[-10:]
    out = {
        "logs": logs,
        "rss_first10_median_mb": median(head),
        "rss_last10_median_mb": median(tail),
        "rss_growth_mb": median(tail) - median(head),
        "rss_growth_per_log_kb": (median(tail) - median(head)) * 1024 / max(1, logs - 10),
        "peak_rss_after10_mb": peaks[min(9, logs - 1)],
        "peak_rss_end_mb": peaks[-1],
        "per_log_one_at_a_time_s": median(times),
        "rss_trace_mb": [round(r, 1) for r in rss],
    }
    log("  memory over %d seed logs: RSS first-10 median %.0f MB, last-10 median %.0f MB "
        "(%+.1f MB); ru_maxrss %.0f -> %.0f MB"
        % (logs, out["rss_first10_median_mb"], out["rss_last10_median_mb"],
           out["rss_growth_mb"], out["peak_rss_after10_mb"], out["peak_rss_end_mb"]))
    return out


def bench_faces(epochs, pairs, root):
    import keras

    sys.path.insert(0, os.path.join(REPO, "examples"))
    import faces
    from tb_actviz import ActivationLogger

    image_size, probe_size = 64, 8  # examples/faces.py's defaults
    (x_train, y_train), (x_val, y_val) = faces.load_faces(image_size)
    hooks = {"on_train_begin": [], "first_on_epoch_begin": [], "on_epoch_end": [],
             "on_train_end": []}

    class TimedLogger(ActivationLogger):
        """Times the callback's hooks on the training thread."""

        def on_train_begin(self, logs=None):
            hooks["on_train_begin"].append(timed(lambda: super(TimedLogger, self)
                                                 .on_train_begin(logs))[0])

        def on_epoch_begin(self, epoch, logs=None):
            first = not self._schedule.initial_logged
            t = timed(lambda: super(TimedLogger, self).on_epoch_begin(epoch, logs))[0]
            if first:
                hooks["first_on_epoch_begin"].append(t)

        def on_epoch_end(self, epoch, logs=None):
            hooks["on_epoch_end"].append(timed(lambda: super(TimedLogger, self)
                                               .on_epoch_end(epoch, logs))[0])

        def on_train_end(self, logs=None):
            hooks["on_train_end"].append(timed(lambda: super(TimedLogger, self)
                                               .on_train_end(logs))[0])

    def run(with_callback, index):
        keras.utils.clear_session()
        gc.collect()
        keras.utils.set_random_seed(0)
        model = faces.build_model(image_size)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        # Both arms keep the example's keras.callbacks.TensorBoard: the
        # difference is the example's ActivationLogger alone.
        log_dir = os.path.join(root, "faces_%d_%s" % (index, "with" if with_callback else "without"))
        callbacks = [keras.callbacks.TensorBoard(log_dir)]
        if with_callback:
            cb = faces.activation_logger(
                log_dir, x_val, y_val, probe_size,
                logger_class=TimedLogger, verbose=0,
            )
            callbacks.append(cb)
        cpu_before = os.times()
        seconds, _ = timed(lambda: model.fit(
            x_train, y_train, validation_data=(x_val, y_val), epochs=epochs,
            batch_size=16, verbose=0, callbacks=callbacks))
        cpu_after = os.times()
        cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
        layers = len(callbacks[-1]._logged) if with_callback else 0
        return seconds, cpu, layers

    run(False, -1)  # warm-up: the first fits in the process pay one-off costs
    run(True, -1)
    without, with_cb, ratios, cpu_without, cpu_with = [], [], [], [], []
    layers = 0
    for p in range(pairs):
        order = (False, True) if p % 2 == 0 else (True, False)  # ABBA
        pair = {}
        for flag in order:
            seconds, cpu, n = run(flag, p)
            pair[flag] = seconds, cpu
            layers = max(layers, n)
        without.append(pair[False][0])
        with_cb.append(pair[True][0])
        cpu_without.append(pair[False][1])
        cpu_with.append(pair[True][1])
        ratios.append(pair[True][0] / pair[False][0])
        log("    faces pair %d: without %.2f s (CPU %.2f s), with %.2f s (CPU %.2f s)"
            % (p + 1, pair[False][0], pair[False][1], pair[True][0], pair[True][1]))
    out = {
        "epochs": epochs,
        "pairs": pairs,
        "layers_logged": layers,
        "probe_images": probe_size,
        "fit_without_s": median(without),
        "fit_with_s": median(with_cb),
        "ratio_of_medians": median(with_cb) / median(without),
        "median_pair_ratio": median(ratios),
        "overhead": median(ratios) - 1.0,
        "raw_without_s": without,
        "raw_with_s": with_cb,
        "raw_pair_ratios": ratios,
        "cpu_without_s": median(cpu_without),
        "cpu_with_s": median(cpu_with),
        "cpu_overhead": median(cpu_with) / median(cpu_without) - 1.0,
        "hook_on_train_begin_s": median(hooks["on_train_begin"]),
        "hook_initial_log_s": median(hooks["first_on_epoch_begin"]),
        "hook_on_epoch_end_s": median(hooks["on_epoch_end"]),
        "hook_on_train_end_s": median(hooks["on_train_end"]),
    }
    per_fit_hooks = (out["hook_on_train_begin_s"] + out["hook_initial_log_s"]
                     + epochs * out["hook_on_epoch_end_s"] + out["hook_on_train_end_s"])
    out["hooks_per_fit_s"] = per_fit_hooks
    out["hooks_share_of_fit"] = per_fit_hooks / out["fit_without_s"]
    log("  faces: fit %d epochs without %.2f s, with %.2f s: overhead %+.1f%% (median of "
        "pair ratios %s); CPU time %+.1f%%"
        % (epochs, out["fit_without_s"], out["fit_with_s"], 100 * out["overhead"],
           " ".join("%.3f" % r for r in ratios), 100 * out["cpu_overhead"]))
    return out


# Main ----------------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None,
                        help="repetitions per measurement (default 5; 3 with --quick)")
    parser.add_argument("--logs", type=int, default=None,
                        help="back-to-back logs per repetition (default 8; 4 with --quick)")
    parser.add_argument("--memory-logs", type=int, default=None,
                        help="logs of the seed case for the memory check (default 100; "
                             "30 with --quick)")
    parser.add_argument("--faces-epochs", type=int, default=None,
                        help="epochs per faces fit (default 30, the example's; 10 with --quick)")
    parser.add_argument("--faces-pairs", type=int, default=None,
                        help="with/without fit pairs (default 6; 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smaller run")
    parser.add_argument("--no-breakdown", action="store_true",
                        help="skip the per-part breakdown of one log")
    parser.add_argument("--keep-logs", default=None,
                        help="write the benchmark's log dirs here and keep them")
    parser.add_argument("--all-backends", action="store_true",
                        help="run this script once per backend, in the interpreters given by "
                             "--<backend>-python (default: $BENCH_<BACKEND>_PYTHON, else this "
                             "interpreter), one after the other, and print one combined table")
    for backend in BACKENDS:
        parser.add_argument("--%s-python" % backend, default=None, metavar="PATH",
                            help="the interpreter of the %s environment (--all-backends)"
                                 % backend)
    return parser.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.all_backends:
        return run_all_backends(args, argv)
    quick = args.quick
    repeats = args.repeats or (3 if quick else 5)
    logs = args.logs or (4 if quick else 8)
    memory_logs = args.memory_logs or (30 if quick else 100)
    faces_epochs = args.faces_epochs or (10 if quick else 30)
    faces_pairs = args.faces_pairs or (3 if quick else 6)

    started = time.perf_counter()
    import keras

    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise SystemExit("KERAS_BACKEND=%s: this benchmark runs on %s" % (backend, BACKENDS))
    on_tf = backend == "tensorflow"
    keras.utils.disable_interactive_logging()  # no progress bars from the peers' predict
    if on_tf:
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # the peers' expected retracing warnings
    info = backend_info(backend)
    log("tb_actviz callback benchmark: backend %s %s, Keras %s, Python %s, %s, %d CPUs%s, "
        "repeats=%d, logs=%d%s"
        % (backend, info["version"], keras.__version__, platform.python_version(),
           platform.machine(), os.cpu_count(),
           ", torch threads %d" % info["threads"] if "threads" in info else "",
           repeats, logs, " (quick)" if quick else ""))
    log("tb_actviz at %s (%s)" % (REPO, library_revision()))
    log(NOISE_NOTE)
    log("load average at start: %s" % load_average())
    root = args.keep_logs or tempfile.mkdtemp(prefix="tb_actviz_bench_")
    os.makedirs(root, exist_ok=True)
    results = {"backend": backend, "backend_version": info["version"], "repeats": repeats,
               "logs": logs, "quick": quick, "keras": keras.__version__,
               "cpus": os.cpu_count(), "load_average_start": load_average(),
               "revision": library_revision()}
    if "threads" in info:
        results["torch_threads"] = info["threads"]
    sections = 7 if on_tf else 5
    number = iter(range(1, sections + 1))

    def phase(title):
        log("\n[%d/%d] %s" % (next(number), sections, title))
        return time.perf_counter()

    try:
        keras.utils.set_random_seed(0)
        base = keras.applications.VGG16(weights=None, include_top=False,
                                        input_shape=(224, 224, 3))
        ctx = Context(backend, base, probe_images(8, 224))
        results["rss_after_model_mb"] = rss_mb()

        t = phase("seed case: block1_conv1 + block5_conv3")
        results["seed"] = bench_case(ctx, SEED_LAYERS, repeats, logs, root, "seed",
                                     torch_compile=backend == "torch")
        seed = results["seed"]
        results["writer"] = bench_writer_throughput(
            seed["bytes_written_per_log"], len(SEED_LAYERS), seed["floor_s"],
            7 if not quick else 5)
        if not args.no_breakdown:
            results["seed_breakdown"] = bench_breakdown(ctx, SEED_LAYERS, repeats, root)
        log("  (%.0f s)" % (time.perf_counter() - t))

        t = phase("all 13 VGG16 conv layers")
        results["all13"] = bench_case(ctx, VGG16_CONV, repeats, logs, root, "all13")
        log("  (%.0f s)" % (time.perf_counter() - t))

        t = phase("block1_conv1 alone" + (", and tf-explain" if on_tf else ""))
        results["block1"] = bench_case(ctx, ["block1_conv1"], repeats, logs, root, "block1")
        if not args.no_breakdown:
            results["block1_parts"] = bench_pipeline_parts(ctx, ["block1_conv1"], repeats)
        if on_tf:
            results["tf_explain"] = bench_tf_explain(
                ctx, repeats, root, results["block1"]["per_log_s"],
                results["block1"]["train_thread_s"])
        log("  (%.0f s)" % (time.perf_counter() - t))

        if on_tf:
            t = phase("hand-written recipe (matplotlib contourf)")
            results["recipe"] = bench_recipe(ctx, repeats, seed["floor_s"], seed["per_log_s"])
            log("  (%.0f s)" % (time.perf_counter() - t))

        t = phase("subclassed VGG16-like model: seed pair, all 13 conv layers")
        keras.utils.set_random_seed(0)
        sub_ctx = Context(backend, subclassed_vgg16(224), ctx.probe_array)
        results["sub_seed"] = bench_case(sub_ctx, SEED_LAYERS, repeats, logs, root, "sub_seed")
        results["sub_all13"] = bench_case(sub_ctx, VGG16_CONV, repeats, logs, root, "sub_all13")
        del sub_ctx
        gc.collect()
        log("  (%.0f s)" % (time.perf_counter() - t))

        t = phase("memory: %d logs of the seed case" % memory_logs)
        results["memory"] = bench_memory(ctx, memory_logs, root)
        log("  (%.0f s)" % (time.perf_counter() - t))

        if on_tf:
            t = phase("examples/faces.py: fit with and without the callback")
            results["faces"] = bench_faces(faces_epochs, faces_pairs, root)
            log("  (%.0f s)" % (time.perf_counter() - t))
        else:
            log("\n(TensorFlow only, skipped on %s: tf-explain, the hand-written recipe, "
                "examples/faces.py pairs)" % backend)
    finally:
        if not args.keep_logs:
            shutil.rmtree(root, ignore_errors=True)
    results["peak_rss_mb"] = peak_rss_mb()
    results["load_average_end"] = load_average()
    results["tensorflow_imported"] = "tensorflow" in sys.modules
    results["wall_s"] = time.perf_counter() - started

    report(results)
    if not on_tf and results["tensorflow_imported"]:
        log("ERROR: TensorFlow was imported on the %s backend" % backend)
    print("JSON " + json.dumps(strip_raw(results), sort_keys=True), flush=True)
    return 1 if (not on_tf and results["tensorflow_imported"]) else 0


def strip_raw(results):
    def walk(v):
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items() if not k.startswith("raw_")
                    and k != "rss_trace_mb"}
        if isinstance(v, float):
            return round(v, 5)
        if isinstance(v, tuple):
            return list(v)
        return v
    return walk(results)


def verdict(ok):
    return "ok" if ok else "MISSED"


# --all-backends ------------------------------------------------------------------


def _child_argv(argv):
    """This run's arguments without the --all-backends ones."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name == "--all-backends":
            continue
        if name in ["--%s-python" % b for b in BACKENDS]:
            skip = "=" not in arg
            continue
        out.append(arg)
    return out


def run_all_backends(args, argv):
    """Runs this script per backend, one after the other, its output
    prefixed with the backend; then one table of every backend's seed case."""
    started = time.perf_counter()
    child_argv = _child_argv(argv)
    results, failures = {}, {}
    for backend in BACKENDS:
        python = (getattr(args, "%s_python" % backend)
                  or os.environ.get("BENCH_%s_PYTHON" % backend.upper()) or sys.executable)
        argv_b = list(child_argv)
        if args.keep_logs:
            i = argv_b.index(next(a for a in argv_b if a.startswith("--keep-logs")))
            argv_b[i:i + (1 if "=" in argv_b[i] else 2)] = [
                "--keep-logs=" + os.path.join(args.keep_logs, backend)]
        command = [python, os.path.abspath(__file__)] + argv_b
        log("== %s: KERAS_BACKEND=%s %s" % (backend, backend, " ".join(command)))
        begin = time.perf_counter()
        env = dict(os.environ, KERAS_BACKEND=backend)
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in process.stdout:
            if line.startswith("JSON "):
                results[backend] = json.loads(line[5:])
            else:
                sys.stdout.write("[%s] %s" % (backend, line))
                sys.stdout.flush()
        rc = process.wait()
        if rc or backend not in results:
            failures[backend] = "exit status %d" % rc
            results.pop(backend, None)
        log("== %s: %.0f s" % (backend, time.perf_counter() - begin))

    rows = []
    for backend in BACKENDS:
        if backend not in results:
            rows.append([backend, "failed: %s" % failures.get(backend, "?")] + [""] * 11)
            continue
        r = results[backend]
        s, w = r["seed"], r["writer"]
        tc = s.get("torch_compile") or {}

        def ratio(key, target):
            c = r.get(key)
            return "x%.2f %s" % (c["ratio"], verdict(c["ratio"] <= target)) if c else "-"

        rows.append([
            "%s %s" % (backend, r["backend_version"]),
            fmt_s(s["floor_s"]),
            ("%s (x%.2f), compile %s" % (fmt_s(tc["floor_s"]), tc["vs_eager"],
                                         fmt_s(tc["first_call_s"])))
            if "floor_s" in tc else ("failed" if tc.get("error") else "-"),
            fmt_s(s["per_log_s"]),
            "x%.2f" % s["ratio"],
            "<= x%.2f %s" % (TARGET_SEED_RATIO, verdict(s["ratio"] <= TARGET_SEED_RATIO)),
            ratio("all13", TARGET_ALL_RATIO),
            ratio("sub_seed", TARGET_SEED_RATIO),
            ratio("sub_all13", TARGET_ALL_RATIO),
            "%.0f / %.2f" % (w["writer_mb_per_s"], w["needed_mb_per_s"]),
            "%.0fx %s" % (w["headroom"], verdict(w["headroom"] >= TARGET_WRITER_HEADROOM)),
            "no" if not r["tensorflow_imported"] else "yes",
            "%.0f s" % r["wall_s"],
        ])
    print_table(
        "All backends: seed case (VGG16 224x224, 8 images, block1_conv1 + block5_conv3), "
        "medians; per log = back-to-back logs + flush + close, / logs; the ratios of all 13 "
        "(<= x%.2f) and of the subclassed model's seed pair (<= x%.2f) and all 13"
        % (TARGET_ALL_RATIO, TARGET_SEED_RATIO),
        ["backend", "floor", "torch.compile floor", "per log", "ratio", "target",
         "all 13", "subclassed seed", "subclassed all 13",
         "writer MB/s / needed", "headroom (>= 10x)", "TF imported", "run"],
        rows,
    )
    log(NOISE_NOTE)
    log("total %.0f s" % (time.perf_counter() - started))
    print("JSON " + json.dumps(results, sort_keys=True), flush=True)
    return 1 if failures else 0


# Report --------------------------------------------------------------------------


def report(r):
    backend = r["backend"]
    rows = []
    for key, label, target in (("seed", "(a) seed: block1_conv1 + block5_conv3",
                                TARGET_SEED_RATIO),
                               ("all13", "(b) all 13 conv layers", TARGET_ALL_RATIO),
                               ("block1", "(c) block1_conv1 alone", None),
                               ("sub_seed", "(e) subclassed: block1_conv1 + block5_conv3",
                                TARGET_SEED_RATIO),
                               ("sub_all13", "(f) subclassed: all 13 conv layers",
                                TARGET_ALL_RATIO)):
        c = r.get(key)
        if c is None:
            continue
        rows.append([
            label, fmt_s(c["floor_s"]), fmt_s(c["per_log_s"]), "x%.2f" % c["ratio"],
            "x%.2f" % c["ratio_per_repeat_median"],
            ("<= x%.2f %s" % (target, verdict(c["ratio"] <= target))) if target else "-",
            fmt_s(c["train_thread_s"]), fmt_s(c["setup_s"]), c["compile_count"],
        ])
    print_table(
        "Per log on %s, VGG16 224x224 (Functional; (e), (f): the subclassed VGG16-like model, "
        "floor its layers called by hand), 8 probe images, medians of %d repetitions of %d "
        "back-to-back logs (per log = the logs + flush + close, / %d)"
        % (backend, r["repeats"], r["logs"], r["logs"]),
        ["case", "floor", "per log", "ratio", "ratio (per-rep median)", "target",
         "training thread per hook", "set-up (compile + step 0)", "compiles"],
        rows,
    )
    tc = r["seed"].get("torch_compile")
    if tc is not None:
        if "floor_s" in tc:
            even = tc["break_even_logs"]
            print_table(
                "torch.compile on the seed floor (eager under inference_mode is the floor)",
                ["eager floor", "torch.compile floor", "vs eager", "first call (compile)",
                 "per log / compiled floor", "pays back after"],
                [[fmt_s(r["seed"]["floor_s"]), fmt_s(tc["floor_s"]), "x%.2f" % tc["vs_eager"],
                  fmt_s(tc["first_call_s"]), "x%.2f" % tc["per_log_ratio"],
                  ("%.0f logs" % even) if even is not None else "never (not faster)"]],
            )
        else:
            print("\ntorch.compile on the seed floor failed: %s" % tc["error"])

    w = r["writer"]
    target = ">= %.0fx" % TARGET_WRITER_HEADROOM
    rows = [[
        "EventFileWriter.write_events, one synthetic log of that size (%s CRC32C)" % w["crc"],
        fmt_bytes(w["bytes_per_log"]), fmt_s(w["write_s"]), "%.0f" % w["writer_mb_per_s"],
        "%.2f" % w["needed_mb_per_s"], "%.0fx" % w["headroom"],
        "%s %s" % (target, verdict(w["headroom"] >= TARGET_WRITER_HEADROOM)),
    ]]
    b = r.get("seed_breakdown")
    if b and b["files_s"] > 0:
        headroom = b["files_mb_per_s"] / w["needed_mb_per_s"]
        rows.append([
            "the seed log's own file writes (%s), timed in place" % " + ".join(b["file_writers"]),
            fmt_bytes(b["file_bytes"]), fmt_s(b["files_s"]), "%.0f" % b["files_mb_per_s"],
            "%.2f" % w["needed_mb_per_s"], "%.0fx" % headroom,
            "%s %s" % (target, verdict(headroom >= TARGET_WRITER_HEADROOM)),
        ])
    print_table(
        "Writer throughput (serialize, CRC, write, fsync) vs what logging needs: the seed "
        "case's bytes per log / its floor (one log per forward pass)",
        ["measure", "bytes per log", "time", "MB/s", "needed MB/s", "headroom", "target"],
        rows,
    )
    if not w["source"].startswith("bench_writer"):
        print("(synthetic log measured by %s)" % w["source"])

    peers = []
    tfe = r.get("tf_explain")
    if tfe is not None:
        if "per_log_s" in tfe:
            peers.append([
                "tf-explain ActivationsVisualizationCallback, block1_conv1",
                fmt_s(tfe["per_log_s"]), "x%.1f" % (tfe["per_log_s"] / r["block1"]["floor_s"]),
                "%.1fx (training thread %.1fx)" % (tfe["speedup_vs_tb_actviz"],
                                                   tfe["speedup_vs_tb_actviz_train_thread"]),
                ">= 20x %s" % verdict(tfe["speedup_vs_tb_actviz"] >= TARGET_TFE_SPEEDUP),
            ])
        else:
            peers.append(["tf-explain", "did not run: %s" % tfe.get("error"), "-", "-", "-"])
    rec = r.get("recipe")
    if rec is not None:
        peers.append([
            "recipe: sub-model + predict + 7x7 contourf, layers 1 and -2, 1 image",
            fmt_s(rec["per_log_s"]), "x%.1f" % rec["ratio_to_seed_floor"],
            "%.1fx (vs seed case)" % rec["slower_than_tb_actviz"], "-",
        ])
    if peers:
        print_table("Peers (per log; floor = the same layers' bare forward pass)",
                    ["peer", "per log", "vs floor", "tb_actviz faster by", "target"], peers)

    if "seed_breakdown" in r:
        b = r["seed_breakdown"]
        p = r.get("block1_parts", {})
        rows = [
            ["seed: floor (bare forward, full-size maps to numpy)", fmt_s(r["seed"]["floor_s"])],
            ["seed: capture = compiled pipeline (forward + area average) + copy to host "
             "(training thread)", fmt_s(b["capture_s"])],
            ["seed: background job, whole (training waits for it only if the next log "
             "comes first)", fmt_s(b["job_s"])],
            ["  statistics + 8-bit strips + PNG (LogWriter._layer_blobs, 2 threads)",
             fmt_s(b["encode_s"])],
            ["  file writes (%s: serialize, CRC32C, write, fsync), %s"
             % (" + ".join(b["file_writers"]), fmt_bytes(b["file_bytes"])),
             "%s (%.0f MB/s)" % (fmt_s(b["files_s"]), b["files_mb_per_s"])],
            ["  the rest (summary protos, ...; median of job - parts per repetition)",
             fmt_s(b.get("rest_s", b["job_s"] - b["encode_s"] - b["files_s"]))],
        ]
        if p:
            rows += [
                ["block1_conv1: forward only (the floor)", fmt_s(p["forward"])],
                ["block1_conv1: compiled pipeline (forward + area average)",
                 fmt_s(p["pipeline"])],
            ]
        print_table("Where one log's time goes on %s (each part alone, medians)" % backend,
                    ["part", "time"], rows)

    geometry = r["all13"]["geometry"]
    rows = []
    for name, nbytes in r["all13"]["bytes_per_layer"].items():
        f, h, w_, factor = geometry[name]
        target = ""
        if name.endswith("block1_conv1"):
            target = "<= 1 MB %s" % verdict(nbytes <= TARGET_BLOCK1_BYTES)
        rows.append([name, "%d x %dx%d (/%d)" % (f, h, w_, factor), fmt_bytes(nbytes), target])
    total = sum(r["all13"]["bytes_per_layer"].values())
    rows.append(["total (blobs)", "", fmt_bytes(total), ""])
    rows.append(["written per log (growth of the run dir's files)", "",
                 fmt_bytes(r["all13"]["bytes_written_per_log"]), ""])
    from tb_actviz import callback as defaults

    print_table("Bytes per log per layer at defaults (%d filters max, maps <= %d px, 8 images)"
                % (defaults.DEFAULT_MAX_FILTERS, defaults.DEFAULT_MAX_MAP_SIZE),
                ["layer", "filters x map (downsample)", "bytes", "target"], rows)

    m = r["memory"]
    print_table(
        "Memory (seed case, %d logs)" % m["logs"],
        ["measure", "value"],
        [
            ["RSS after building VGG16", "%.0f MB" % r["rss_after_model_mb"]],
            ["RSS, median of logs 1-10", "%.0f MB" % m["rss_first10_median_mb"]],
            ["RSS, median of the last 10 logs", "%.0f MB" % m["rss_last10_median_mb"]],
            ["growth", "%+.1f MB (%+.1f KB per log)" % (m["rss_growth_mb"],
                                                        m["rss_growth_per_log_kb"])],
            ["peak RSS (ru_maxrss) after 10 logs / at the end",
             "%.0f MB / %.0f MB" % (m["peak_rss_after10_mb"], m["peak_rss_end_mb"])],
            ["peak RSS of the whole benchmark", "%.0f MB" % r["peak_rss_mb"]],
        ],
    )

    f = r.get("faces")
    if f is not None:
        print_table(
            "examples/faces.py: fit, %d epochs, %d conv layers x %d probe images logged every "
            "epoch (medians of %d interleaved pairs)" % (f["epochs"], f["layers_logged"],
                                                         f["probe_images"], f["pairs"]),
            ["without", "with", "overhead (median pair ratio)", "pair ratios", "target",
             "CPU time without / with"],
            [[fmt_s(f["fit_without_s"]), fmt_s(f["fit_with_s"]),
              "%+.1f%%" % (100 * f["overhead"]),
              " ".join("%.2f" % x for x in f["raw_pair_ratios"]),
              "<= 5%% %s" % verdict(f["overhead"] <= TARGET_FACES_OVERHEAD),
              "%s / %s (%+.1f%%)" % (fmt_s(f["cpu_without_s"]), fmt_s(f["cpu_with_s"]),
                                     100 * f["cpu_overhead"])]],
        )
        print_table(
            "examples/faces.py: the callback's hooks on the training thread (medians)",
            ["hook", "time", "per fit"],
            [
                ["on_train_begin (select layers, build the extractor)",
                 fmt_s(f["hook_on_train_begin_s"]), "once"],
                ["first on_epoch_begin (compile + first run of the pipeline, step 0)",
                 fmt_s(f["hook_initial_log_s"]), "once"],
                ["on_epoch_end (one log; waits for the previous background job)",
                 fmt_s(f["hook_on_epoch_end_s"]), "x%d" % f["epochs"]],
                ["on_train_end (flush, close)", fmt_s(f["hook_on_train_end_s"]), "once"],
                ["total on the training thread, per fit",
                 fmt_s(f["hooks_per_fit_s"]),
                 "%.1f%% of fit without" % (100 * f["hooks_share_of_fit"])],
            ],
        )
    print("\n" + NOISE_NOTE)
    print("load average at start %s, at end %s; tensorflow imported: %s"
          % (r["load_average_start"], r["load_average_end"],
             "yes" if r["tensorflow_imported"] else "no"))
    print("wall time %.0f s" % r["wall_s"], flush=True)


if __name__ == "__main__":
    sys.exit(main())
