"""Training-side cost of tb_actviz, measured side by side with its floor and peers.

Prints, in one run, medians over `--repeats` repetitions (default 5) for VGG16
(`weights=None`, 224x224x3, no top) and 8 probe images (scikit-image's bundled
photos, offline), then one JSON line with every number:

- the floor: a bare forward pass of the probe to the chosen layers through a
  cached extractor under `tf.function`, outputs copied to numpy;
- tb_actviz per log: the training thread's share (`on_epoch_end`) and the full
  cost including the background encode + write (`_writer.wait()` right after),
  and their ratios to the floor;
- cases: (a) seed: block1_conv1 + block5_conv3; (b) all 13 conv layers;
  (c) block1_conv1 alone, against tf-explain's ActivationsVisualizationCallback;
  (d) the hand-written recipe (sub-model + predict + matplotlib 7x7 contourf);
- bytes per log per layer at defaults for every VGG16 conv layer;
- memory: peak RSS and RSS across `--memory-logs` logs of the seed case;
- `examples/faces.py`: `fit` time (wall and CPU) with and without the
  callback (all conv layers, every epoch; both with the example's
  `keras.callbacks.TensorBoard`), interleaved runs.

Floor and tb_actviz are timed alternately inside each repetition so that the
noise of a shared machine hits both alike. Run:

    python benchmarks/bench_callback.py            # full, about 10 minutes
    python benchmarks/bench_callback.py --quick    # under 4 minutes
"""

import argparse
import gc
import io
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
from report import fmt_s, fmt_bytes, print_table  # noqa: E402

VGG16_CONV = [
    "block1_conv1", "block1_conv2",
    "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3",
    "block4_conv1", "block4_conv2", "block4_conv3",
    "block5_conv1", "block5_conv2", "block5_conv3",
]
SEED_LAYERS = ["block1_conv1", "block5_conv3"]

# Targets of issue 4 ("[3 of 5] Speed and size").
TARGET_SEED_RATIO = 1.25
TARGET_ALL_RATIO = 1.5
TARGET_TFE_SPEEDUP = 20.0
TARGET_FACES_OVERHEAD = 0.05
TARGET_BLOCK1_BYTES = 1_000_000


# Helpers -------------------------------------------------------------------


def median(values):
    return float(statistics.median(values)) if values else float("nan")


def rss_mb():
    """Current resident set size of this process, MB (from /proc)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def log(message):
    print(message, flush=True)








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


# The measured pieces ------------------------------------------------------------


class Floor:
    """Bare forward pass to `names` through a cached, traced extractor."""

    def __init__(self, base, names):
        import keras
        import tensorflow as tf

        extractor = keras.Model(base.inputs, [base.get_layer(n).output for n in names])
        self._fn = tf.function(lambda x: extractor(x, training=False))

    def __call__(self, probe):
        outputs = self._fn(probe)
        return [o.numpy() for o in outputs]


class CallbackCase:
    """An ActivationLogger driven through its Keras hooks as `fit` would."""

    def __init__(self, base, probe, names, log_dir):
        from tb_actviz import ActivationLogger

        self.log_dir = log_dir
        self.cb = ActivationLogger(log_dir, probe, layers=names, verbose=0)
        self.cb.set_model(base)
        self.epoch = 0
        self.setup_s, _ = timed(self._begin)

    def _begin(self):
        self.cb.on_train_begin()
        self.cb.on_epoch_begin(0)  # the initial log (traces, encodes, writes, waits)

    def log(self):
        """One log: (training-thread seconds, background wait seconds, bytes per layer)."""
        train_s, _ = timed(lambda: self.cb.on_epoch_end(self.epoch))
        wait_s, written = timed(self.cb._writer.wait)
        self.epoch += 1
        return train_s, wait_s, written

    def event_bytes(self):
        run_dir = os.path.join(self.log_dir, "train")
        return sum(
            os.path.getsize(os.path.join(run_dir, f))
            for f in os.listdir(run_dir)
            if f.startswith("events.out.tfevents")
        )

    def close(self):
        self.cb.on_train_end()


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


# Benchmark sections ------------------------------------------------------------


def bench_case(base, probe_tensor, probe_array, names, repeats, root, label):
    """Floor vs tb_actviz for one layer set, interleaved; returns a dict."""
    floor = Floor(base, names)
    floor(probe_tensor)  # trace
    case = CallbackCase(base, probe_array, names, os.path.join(root, label))
    case.log()  # warm-up
    floors, trains, waits, event_deltas = [], [], [], []
    written = None
    for _ in range(repeats):
        floors.append(timed(lambda: floor(probe_tensor))[0])
        before = case.event_bytes()
        train_s, wait_s, written = case.log()
        event_deltas.append(case.event_bytes() - before)
        trains.append(train_s)
        waits.append(wait_s)
    trace_count = case.cb.trace_count
    logged_paths = [l.entry.path for l in case.cb._logged]
    geometry = [
        (l.geometry.num_filters, l.geometry.map_height, l.geometry.map_width, l.geometry.factor)
        for l in case.cb._logged
    ]
    case.close()
    fulls = [t + w for t, w in zip(trains, waits)]
    floor_m = median(floors)
    result = {
        "layers": logged_paths,
        "floor_s": floor_m,
        "train_thread_s": median(trains),
        "background_s": median(waits),
        "full_s": median(fulls),
        "ratio_train_thread": median(trains) / floor_m,
        "ratio_full": median(fulls) / floor_m,
        "ratio_full_per_rep_median": median([f / fl for f, fl in zip(fulls, floors)]),
        "setup_s": case.setup_s,
        "trace_count": trace_count,
        "bytes_per_layer": dict(zip(logged_paths, written or [])),
        "geometry": dict(zip(logged_paths, geometry)),
        "event_file_bytes_per_log": median(event_deltas),
        "raw_floor_s": floors,
        "raw_train_s": trains,
        "raw_wait_s": waits,
    }
    log("  %-22s floor %s | tb_actviz train thread %s, full %s (x%.2f) | trace_count %d"
        % (label, fmt_s(floor_m), fmt_s(result["train_thread_s"]), fmt_s(result["full_s"]),
           result["ratio_full"], trace_count))
    return result


def bench_breakdown(base, probe_array, names, repeats, root):
    """Where one log's time goes: traced pipeline, copy, statistics and PNG
    encoding, summary write."""

    case = CallbackCase(base, probe_array, names, os.path.join(root, "breakdown"))
    cb = case.cb
    pipeline, copy, encode, total_write = [], [], [], []
    for _ in range(repeats):
        t_pipe, tensors = timed(lambda: cb._traced(cb._probe_tensor))
        t_copy, results = timed(lambda: cb._summary.to_numpy(tensors))
        t_enc, encoded = timed(lambda: [cb._encode_layer(maps)[0] for maps in results])
        step = 1000 + len(pipeline)

        def write_all():
            for logged, data, blobs in zip(cb._logged, cb._plugin_data, encoded):
                cb._summary.activations(logged.tag, blobs, step, data)

        t_write, _ = timed(lambda: cb._file_writer.write(write_all))
        pipeline.append(t_pipe)
        copy.append(t_copy)
        encode.append(t_enc)
        total_write.append(t_write)
    case.close()
    out = {
        "pipeline_s": median(pipeline),
        "to_numpy_s": median(copy),
        "encode_s": median(encode),
        "write_s": median(total_write),
    }
    log("  breakdown: traced pipeline %s, to_numpy %s, statistics + quantize + PNG encode "
        "(2 threads) %s, write %s"
        % (fmt_s(out["pipeline_s"]), fmt_s(out["to_numpy_s"]), fmt_s(out["encode_s"]),
           fmt_s(out["write_s"])))
    return out


def bench_stats_cost(base, probe_tensor, names, repeats):
    """The forward pass alone against the traced pipeline (forward + area
    average to the stored size) at the callback's defaults."""
    import tensorflow as tf
    from tb_actviz.capture import extractor as ex
    from tb_actviz.capture import layer_selection

    from tb_actviz import callback as defaults

    entries = layer_selection.select_layers(base, names, 16)
    logged = [
        ex.LoggedLayer(e, ex.map_geometry(e.layer, e.output_shape, defaults.DEFAULT_MAX_FILTERS,
                                          defaults.DEFAULT_MAX_MAP_SIZE))
        for e in entries
    ]
    pipeline = ex.LogPipeline(base, logged)  # what the callback traces

    def forward(x):
        outs = pipeline.extractor(x, training=False)
        return outs if isinstance(outs, (list, tuple)) else [outs]

    out = {}
    fns = {"forward": tf.function(forward), "pipeline": tf.function(pipeline)}
    for fn in fns.values():
        tf.nest.map_structure(lambda t: t.numpy(), fn(probe_tensor))
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(timed(lambda: tf.nest.map_structure(
                lambda t: t.numpy(), fn(probe_tensor)))[0])
    for k in fns:
        out[k] = median(times[k])
    log("  pipeline parts (%s): forward %s, forward + area average %s"
        % ("+".join(names), fmt_s(out["forward"]), fmt_s(out["pipeline"])))
    return out


def bench_tf_explain(base, probe_array, repeats, root, tb_full_s, tb_train_s):
    try:
        Callback = import_tf_explain()
    except Exception as e:  # pragma: no cover - reported, not fatal
        log("  tf-explain unavailable: %s" % e)
        return {"error": str(e)}
    cb = Callback(
        validation_data=(probe_array, np.zeros(len(probe_array))),
        layers_name=["block1_conv1"],
        output_dir=os.path.join(root, "tf_explain"),
    )
    cb.set_model(base)
    cb.on_epoch_end(0)  # warm-up
    times = [timed(lambda e=e: cb.on_epoch_end(e + 1))[0] for e in range(repeats)]
    cb.file_writer.close()
    t = median(times)
    out = {
        "per_log_s": t,
        "speedup_vs_tb_actviz_full": t / tb_full_s,
        "speedup_vs_tb_actviz_train_thread": t / tb_train_s,
        "raw_s": times,
    }
    log("  tf-explain block1_conv1: %s per log; tb_actviz is %.1fx faster (full), %.1fx "
        "(training thread)" % (fmt_s(t), out["speedup_vs_tb_actviz_full"],
                               out["speedup_vs_tb_actviz_train_thread"]))
    return out


def bench_recipe(base, probe_array, repeats, seed_floor_s, seed_full_s):
    import matplotlib

    matplotlib.use("Agg")
    image = probe_array[:1]
    sizes = []
    recipe_log(base, image, sizes)  # warm-up (matplotlib font cache etc.)
    times = []
    for _ in range(repeats):
        sizes = []
        times.append(timed(lambda: recipe_log(base, image, sizes))[0])
    t = median(times)
    out = {
        "per_log_s": t,
        "png_bytes": sizes,
        "ratio_to_seed_floor": t / seed_floor_s,
        "slower_than_tb_actviz_full": t / seed_full_s,
        "raw_s": times,
    }
    log("  recipe (1 image, 2 layers, 49 maps each): %s (x%.1f the seed floor)"
        % (fmt_s(t), out["ratio_to_seed_floor"]))
    return out


def bench_memory(base, probe_array, logs, root):
    case = CallbackCase(base, probe_array, SEED_LAYERS, os.path.join(root, "memory"))
    gc.collect()
    rss, peaks, times = [], [], []
    for i in range(logs):
        train_s, wait_s, _ = case.log()
        times.append(train_s + wait_s)
        rss.append(rss_mb())
        peaks.append(peak_rss_mb())
        if (i + 1) % 25 == 0:
            log("    memory: %d/%d logs, RSS %.0f MB" % (i + 1, logs, rss[-1]))
    case.close()
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
        "per_log_full_s": median(times),
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
            first = not self._initial_logged
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None,
                        help="repetitions per measurement (default 5; 3 with --quick)")
    parser.add_argument("--memory-logs", type=int, default=None,
                        help="logs of the seed case for the memory check (default 100; "
                             "30 with --quick)")
    parser.add_argument("--faces-epochs", type=int, default=None,
                        help="epochs per faces fit (default 30, the example's; 10 with --quick)")
    parser.add_argument("--faces-pairs", type=int, default=None,
                        help="with/without fit pairs (default 6; 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smaller run, under 4 minutes")
    parser.add_argument("--no-breakdown", action="store_true",
                        help="skip the per-part breakdown of one log")
    parser.add_argument("--keep-logs", default=None,
                        help="write the benchmark's log dirs here and keep them")
    args = parser.parse_args(argv)
    quick = args.quick
    repeats = args.repeats or (3 if quick else 5)
    memory_logs = args.memory_logs or (30 if quick else 100)
    faces_epochs = args.faces_epochs or (10 if quick else 30)
    faces_pairs = args.faces_pairs or (3 if quick else 6)

    started = time.perf_counter()
    import keras
    import tensorflow as tf

    keras.utils.disable_interactive_logging()  # no progress bars from the peers' predict
    tf.get_logger().setLevel("ERROR")  # the peers' expected retracing warnings
    log("tb_actviz callback benchmark: TensorFlow %s, Keras %s, %s, %d CPUs, repeats=%d%s"
        % (tf.__version__, keras.__version__, platform.machine(), os.cpu_count(), repeats,
           " (quick)" if quick else ""))
    root = args.keep_logs or tempfile.mkdtemp(prefix="tb_actviz_bench_")
    os.makedirs(root, exist_ok=True)
    results = {"repeats": repeats, "quick": quick, "tensorflow": tf.__version__,
               "keras": keras.__version__, "cpus": os.cpu_count()}
    try:
        keras.utils.set_random_seed(0)
        base = keras.applications.VGG16(weights=None, include_top=False,
                                        input_shape=(224, 224, 3))
        probe_array = probe_images(8, 224)
        probe_tensor = tf.convert_to_tensor(probe_array)
        results["rss_after_model_mb"] = rss_mb()

        phase = time.perf_counter()
        log("\n[1/6] seed case: block1_conv1 + block5_conv3")
        results["seed"] = bench_case(base, probe_tensor, probe_array, SEED_LAYERS,
                                     repeats, root, "seed")
        if not args.no_breakdown:
            results["seed_breakdown"] = bench_breakdown(base, probe_array, SEED_LAYERS,
                                                        repeats, root)
        log("  (%.0f s)" % (time.perf_counter() - phase))
        phase = time.perf_counter()
        log("\n[2/6] all 13 VGG16 conv layers")
        results["all13"] = bench_case(base, probe_tensor, probe_array, VGG16_CONV,
                                      repeats, root, "all13")
        log("  (%.0f s)" % (time.perf_counter() - phase))
        phase = time.perf_counter()
        log("\n[3/6] block1_conv1 alone, and tf-explain")
        results["block1"] = bench_case(base, probe_tensor, probe_array, ["block1_conv1"],
                                       repeats, root, "block1")
        if not args.no_breakdown:
            results["block1_parts"] = bench_stats_cost(base, probe_tensor, ["block1_conv1"],
                                                       repeats)
        results["tf_explain"] = bench_tf_explain(
            base, probe_array, repeats, root,
            results["block1"]["full_s"], results["block1"]["train_thread_s"])
        log("  (%.0f s)" % (time.perf_counter() - phase))
        phase = time.perf_counter()
        log("\n[4/6] hand-written recipe (matplotlib contourf)")
        results["recipe"] = bench_recipe(base, probe_array, repeats,
                                         results["seed"]["floor_s"], results["seed"]["full_s"])
        log("  (%.0f s)" % (time.perf_counter() - phase))
        phase = time.perf_counter()
        log("\n[5/6] memory: %d logs of the seed case" % memory_logs)
        results["memory"] = bench_memory(base, probe_array, memory_logs, root)
        log("  (%.0f s)" % (time.perf_counter() - phase))
        phase = time.perf_counter()
        log("\n[6/6] examples/faces.py: fit with and without the callback")
        results["faces"] = bench_faces(faces_epochs, faces_pairs, root)
        log("  (%.0f s)" % (time.perf_counter() - phase))
    finally:
        if not args.keep_logs:
            shutil.rmtree(root, ignore_errors=True)
    results["peak_rss_mb"] = peak_rss_mb()
    results["wall_s"] = time.perf_counter() - started

    report(results)
    slim = strip_raw(results)
    print("JSON " + json.dumps(slim, sort_keys=True), flush=True)
    return 0


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


def report(r):
    rows = []
    for key, label, target in (("seed", "(a) seed: block1_conv1 + block5_conv3",
                                TARGET_SEED_RATIO),
                               ("all13", "(b) all 13 conv layers", TARGET_ALL_RATIO),
                               ("block1", "(c) block1_conv1 alone", None)):
        c = r[key]
        rows.append([
            label, fmt_s(c["floor_s"]), fmt_s(c["train_thread_s"]),
            "x%.2f" % c["ratio_train_thread"], fmt_s(c["background_s"]),
            fmt_s(c["full_s"]), "x%.2f" % c["ratio_full"],
            ("<= x%.2f %s" % (target, verdict(c["ratio_full"] <= target))) if target else "-",
            c["trace_count"],
        ])
    print_table(
        "Per log, VGG16 224x224, 8 probe images, medians of %d (full = training thread + "
        "background encode/write)" % r["repeats"],
        ["case", "floor", "train thread", "ratio", "background", "full", "ratio",
         "target (full)", "traces"],
        rows,
    )

    peers = []
    tfe = r.get("tf_explain", {})
    if "per_log_s" in tfe:
        peers.append([
            "tf-explain ActivationsVisualizationCallback, block1_conv1",
            fmt_s(tfe["per_log_s"]), "x%.1f" % (tfe["per_log_s"] / r["block1"]["floor_s"]),
            "%.1fx (train thread %.1fx)" % (tfe["speedup_vs_tb_actviz_full"],
                                            tfe["speedup_vs_tb_actviz_train_thread"]),
            ">= 20x %s" % verdict(tfe["speedup_vs_tb_actviz_full"] >= TARGET_TFE_SPEEDUP),
        ])
    else:
        peers.append(["tf-explain", "did not run: %s" % tfe.get("error"), "-", "-", "-"])
    rec = r["recipe"]
    peers.append([
        "recipe: sub-model + predict + 7x7 contourf, layers 1 and -2, 1 image",
        fmt_s(rec["per_log_s"]), "x%.1f" % rec["ratio_to_seed_floor"],
        "%.1fx (vs seed case)" % rec["slower_than_tb_actviz_full"], "-",
    ])
    print_table("Peers (per log; floor = the same layers' bare forward pass)",
                ["peer", "per log", "vs floor", "tb_actviz faster by", "target"], peers)

    if "seed_breakdown" in r:
        b = r["seed_breakdown"]
        p = r.get("block1_parts", {})
        rows = [
            ["seed: traced pipeline (forward + area average to the stored size)",
             fmt_s(b["pipeline_s"])],
            ["seed: copy of the stored float32 maps to numpy", fmt_s(b["to_numpy_s"])],
            ["seed: statistics + 8-bit strips + PNG encode (2 threads, level 1)",
             fmt_s(b["encode_s"])],
            ["seed: tf.summary.write + flush", fmt_s(b["write_s"])],
        ]
        if p:
            rows += [
                ["block1_conv1: forward only", fmt_s(p["forward"])],
                ["block1_conv1: forward + area average (the traced pipeline)",
                 fmt_s(p["pipeline"])],
            ]
        print_table("Where one log's time goes (medians)", ["part", "time"], rows)

    geometry = r["all13"]["geometry"]
    rows = []
    for name, nbytes in r["all13"]["bytes_per_layer"].items():
        f, h, w, factor = geometry[name]
        target = ""
        if name.endswith("block1_conv1"):
            target = "<= 1 MB %s" % verdict(nbytes <= TARGET_BLOCK1_BYTES)
        rows.append([name, "%d x %dx%d (/%d)" % (f, h, w, factor), fmt_bytes(nbytes), target])
    total = sum(r["all13"]["bytes_per_layer"].values())
    rows.append(["total (blobs)", "", fmt_bytes(total), ""])
    rows.append(["event file growth per log", "", fmt_bytes(r["all13"]["event_file_bytes_per_log"]),
                 ""])
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

    f = r["faces"]
    print_table(
        "examples/faces.py: fit, %d epochs, %d conv layers x %d probe images logged every "
        "epoch (medians of %d interleaved pairs)" % (f["epochs"], f["layers_logged"],
                                                     f["probe_images"], f["pairs"]),
        ["without", "with", "overhead (median pair ratio)", "pair ratios", "target",
         "CPU time without / with"],
        [[fmt_s(f["fit_without_s"]), fmt_s(f["fit_with_s"]), "%+.1f%%" % (100 * f["overhead"]),
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
            ["first on_epoch_begin (trace + first run of the pipeline, step 0)",
             fmt_s(f["hook_initial_log_s"]), "once"],
            ["on_epoch_end (one log; waits for the previous background job)",
             fmt_s(f["hook_on_epoch_end_s"]), "x%d" % f["epochs"]],
            ["on_train_end (flush, close)", fmt_s(f["hook_on_train_end_s"]), "once"],
            ["total on the training thread, per fit",
             fmt_s(f["hooks_per_fit_s"]), "%.1f%% of fit without" % (100 * f["hooks_share_of_fit"])],
        ],
    )
    print("\nwall time %.0f s" % r["wall_s"], flush=True)


if __name__ == "__main__":
    sys.exit(main())
