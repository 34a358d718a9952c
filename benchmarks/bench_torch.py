"""Training-side cost of tb_actviz's PyTorch-native logger, beside its floor.

`tb_actviz.torch.ActivationLogger` on torchvision models (issue "[14]
PyTorch-native", point 9), in `.venv-torch` (PyTorch, torchvision, Lightning):

- floor: the bare eager forward pass of the probe under
  `torch.inference_mode()`, model in eval mode, stopped after the last chosen
  module the way the logger stops it (a forward hook that raises once every
  chosen module has returned), each chosen module's full-size output taken
  in its hook as host numpy (`.cpu().numpy()`: no copy on a CPU model).
  Nothing can log those modules for less. (On CPU the floor keeps the
  chosen modules' full-size outputs alive until it returns, where the
  logger keeps only the pooled maps.)
- per log: `--logs` back-to-back `logger.log(model, step)` calls, then
  `logger.close()` (which waits for the log in flight and closes the
  writer), divided by the number of logs: everything a log costs, the
  background statistics, PNG encoding and file writes included. A fresh
  logger per repetition; its first log (selection, tracing, the probe
  images) is the separate set-up column.
- medians over `--repeats` repetitions (default 5; 3 with `--quick`); in each
  repetition floor and logger are timed one after the other, the order
  alternating between repetitions, so the noise of the shared 2-core machine
  hits both alike; the ratio of the medians and the median of the
  per-repetition ratios; beside them the same ratio in process CPU time
  (every thread's, the background job's included), less sensitive to
  other processes than wall time.

Cases (8 probe images 224x224 from scikit-image's bundled photos, offline,
ImageNet-normalized): (a) `vgg16(weights=None)` first + last conv,
`features.0` + `features.28` (target <= 1.10x); (b) its 13 convs (<= 1.5x);
(c) `resnet18(weights=None)` at the default selection (`layers=None`: 16 of
its 20 convs, spread from first to last; <= 1.10x) and (d) `conv1` +
`layer4.1.conv2` (<= 1.10x).

After (a), (c) and (d): where one log's time goes (the forward to the
modules, the slice + area average on the device, the host copy, the
background job with its statistics + PNG and its file writes, each timed
alone). Then a Lightning fit of a small CNN (3 convs; crops of 8 bundled
photos labelled by photo at each of `--fit-sizes`, 32x32 and 64x64; 512
train / 128 val, batch 32, `--fit-epochs` 20) with
`tb_actviz.lightning.ActivationLogger` (default selection, 8 probe images,
every epoch) against the same fit without it, both with the same
`TensorBoardLogger`, in `--fit-pairs` pairs (default 3; 1 with `--quick`)
in ABBA order after a short warm-up fit of each (target <= +3%, the median
of the pair ratios); beside it the process CPU time, the `log()` calls on
the training thread and the background job's CPU time. If `tb_actviz.lightning`
does not import, the fit uses this script's own minimal Callback around
`tb_actviz.torch.ActivationLogger` and says so.

Ends with one `JSON {...}` line with every number.

    .venv-torch/bin/python benchmarks/bench_torch.py --quick   # ~4 min (load 2), ~8 (load 5)
    .venv-torch/bin/python benchmarks/bench_torch.py           # ~14-26 min

Options: `--repeats`, `--logs`, `--fit-pairs`, `--fit-epochs` (20),
`--fit-sizes` (32,64), `--cases` (seed,all13,resnet,resnet_pair),
`--no-breakdown`, `--no-fit`, `--keep-logs DIR`.
"""

import argparse
import gc
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
from report import fmt_bytes, fmt_s, print_table  # noqa: E402
from measure import (cpu_seconds, library_revision, load_average, log, median, peak_rss_mb,  # noqa: E402
                     rss_mb, timed)

VGG16_CONVS = ["features.%d" % i for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)]
SEED_LAYERS = ["features.0", "features.28"]  # "conv:0", "conv:-1"
RESNET_PAIR = ["conv1", "layer4.1.conv2"]
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], "float32")
IMAGENET_STD = np.array([0.229, 0.224, 0.225], "float32")

TARGET_SEED_RATIO = 1.10
TARGET_ALL_RATIO = 1.5
TARGET_RESNET_RATIO = 1.10
TARGET_FIT_OVERHEAD = 0.03

NOISE_NOTE = (
    "Note: 2 shared CPU cores, other people's processes run meanwhile: the same forward "
    "pass varies by up to 2x from one minute to the next. Read the ratios (each against "
    "a baseline timed alternately in this run), not the absolute times."
)


# Helpers -------------------------------------------------------------------














def verdict(ok):
    return "ok" if ok else "MISSED"


def photo_crops(count, size, seed=0, photos=None):
    """`count` RGB float32 images in [0, 1], (count, size, size, 3): scikit-image's
    bundled photos (offline), the first ones whole, the rest random square crops,
    maybe flipped; and the index of the photo each came from."""
    from skimage import data, transform

    photos = photos or [data.astronaut(), data.chelsea(), data.coffee()]
    rng = np.random.default_rng(seed)
    out, labels = [], []
    for i in range(count):
        k = i % len(photos)
        photo = photos[k]
        if i >= len(photos):
            h, w = photo.shape[:2]
            side = int(min(h, w) * rng.uniform(0.5, 0.9))
            top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            photo = photo[top:top + side, left:left + side]
            if rng.random() < 0.5:
                photo = photo[:, ::-1]
        out.append(transform.resize(photo, (size, size), anti_aliasing=True))
        labels.append(k)
    return np.stack(out).astype("float32"), np.array(labels, "int64")


def probe_images(count=8, size=224):
    """The probe: 8 photos at 224x224 (as bench_callback.py's), ImageNet-normalized
    as torchvision's models take them, NCHW float32."""
    x, _ = photo_crops(count, size)
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


# The floor and the logger --------------------------------------------------


class _FloorDone(BaseException):
    """Stops the floor's forward pass after the last chosen module, as the
    logger's own hook does."""


def make_floor(model, chosen, probe):
    """The bare eager forward of `probe` to the modules `chosen` (in log order)
    under `torch.inference_mode()`: a hook on each takes its full-size output
    as host numpy (`.cpu().numpy()`) and the last one to return stops the pass.
    Hooks for the pass only, like the logger's. A callable -> [numpy arrays]."""
    import torch

    x = torch.from_numpy(probe)
    targets = set(chosen)

    def floor():
        outputs = {}

        def hook(module, args, output):
            if module in outputs or module not in targets:
                return
            outputs[module] = output.detach().cpu().numpy()
            if len(outputs) == len(targets):
                raise _FloorDone

        handles = [m.register_forward_hook(hook) for m in chosen]
        try:
            with torch.inference_mode():
                try:
                    model(x)
                except _FloorDone:
                    pass
        finally:
            for h in handles:
                h.remove()
        return [outputs[m] for m in chosen]

    return floor


def check_logger(logger):
    failures = logger._failures
    if failures.disabled or failures.in_a_row:
        raise RuntimeError("a log failed (see the tb_actviz warning above)")


class LoggerRun:
    """One fresh `tb_actviz.torch.ActivationLogger`: its first log (set-up:
    selection, tracing, the probe images) timed apart, then back-to-back logs."""

    def __init__(self, model, probe, layers, log_dir):
        from tb_actviz.torch import ActivationLogger

        self.log_dir = log_dir
        self.logger = ActivationLogger(log_dir, probe, layers=layers, probe_display="torch",
                                       verbose=0)
        self.model = model
        self.step = 0
        self.train_thread = []
        self.setup_s, _ = timed(self._first)
        self.bytes_after_setup = self.run_bytes()

    def _first(self):
        self.logger.log(self.model, 0)
        self.logger.flush()
        check_logger(self.logger)
        self.step = 1

    @property
    def modules(self):
        return [l.entry.layer for l in self.logger._logged]

    def back_to_back(self, logs):
        """`logs` logs back to back, then `close()` (the log in flight, and the
        writer): seconds per log, everything included."""
        start = time.perf_counter()
        for _ in range(logs):
            begin = time.perf_counter()
            self.logger.log(self.model, self.step)
            self.train_thread.append(time.perf_counter() - begin)
            self.step += 1
        failures = self.logger._failures  # close() drops the writer, not the policy
        self.logger.close()
        per_log = (time.perf_counter() - start) / logs
        if failures.disabled or failures.in_a_row:
            raise RuntimeError("a log failed (see the tb_actviz warning above)")
        return per_log

    def run_bytes(self):
        total = 0
        for directory, _, files in os.walk(self.log_dir):
            total += sum(os.path.getsize(os.path.join(directory, f))
                         for f in files if not f.endswith(".tmp"))
        return total


# Sections --------------------------------------------------------------------


def bench_memory(model, probe, logs, root):
    """`logs` logs of one logger (resnet18's default selection), each
    flushed: this process's RSS after each, the median of the last 10
    against the first 10, and the peak (ru_maxrss) after 10 logs and at the
    end. The logger removes its hooks and keeps no autograd graph, and holds
    one log's maps at a time: the RSS should not grow with the logs."""
    run = LoggerRun(model, probe, None, os.path.join(root, "memory"))
    gc.collect()
    rss, peaks = [], []
    for i in range(logs):
        run.logger.log(run.model, run.step)
        run.step += 1
        run.logger.flush()
        rss.append(rss_mb())
        peaks.append(peak_rss_mb())
    check_logger(run.logger)
    hooks_left = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    run.logger.close()
    out = {
        "logs": logs,
        "rss_first10_median_mb": median(rss[:10]),
        "rss_last10_median_mb": median(rss[-10:]),
        "rss_growth_mb": median(rss[-10:]) - median(rss[:10]),
        "peak_rss_after10_mb": peaks[min(9, logs - 1)],
        "peak_rss_end_mb": peaks[-1],
        "hooks_left_on_model": hooks_left,
        "rss_trace_mb": [round(r, 1) for r in rss],
    }
    log("  memory over %d resnet18 logs: RSS first-10 median %.0f MB, last-10 median %.0f MB "
        "(%+.1f MB); ru_maxrss %.0f -> %.0f MB; hooks left on the model: %d"
        % (logs, out["rss_first10_median_mb"], out["rss_last10_median_mb"], out["rss_growth_mb"],
           out["peak_rss_after10_mb"], out["peak_rss_end_mb"], hooks_left))
    return out


def bench_case(model, probe, layers, repeats, logs, root, label):
    """Floor vs logger per log for one model and selection, alternating; a dict."""
    warm = LoggerRun(model, probe, layers, os.path.join(root, label + "_warm"))
    chosen = warm.modules
    paths = warm.logger.logged_layers
    geometry = [(l.geometry.num_filters, l.geometry.map_height, l.geometry.map_width,
                 l.geometry.factor) for l in warm.logger._logged]
    warm.back_to_back(1)
    floor = make_floor(model, chosen, probe)
    floor_first = timed(floor)[0]
    floor()
    floor_blocks, floor_calls, floor_cpu = [], [], []
    per_log, setups, train_thread, bytes_per_log, log_cpu = [], [], [], [], []

    def time_floor():
        cpu = cpu_seconds()
        times = [timed(floor)[0] for _ in range(logs)]
        floor_cpu.append((cpu_seconds() - cpu) / logs)
        floor_calls.extend(times)
        floor_blocks.append(sum(times) / logs)

    def time_logger():
        run = LoggerRun(model, probe, layers, os.path.join(root, "%s_%d" % (label, len(per_log))))
        setups.append(run.setup_s)
        cpu = cpu_seconds()
        per_log.append(run.back_to_back(logs))
        log_cpu.append((cpu_seconds() - cpu) / logs)
        bytes_per_log.append((run.run_bytes() - run.bytes_after_setup) / logs)
        train_thread.extend(run.train_thread)

    for r in range(repeats):
        if r % 2 == 0:
            time_floor()
            time_logger()
        else:
            time_logger()
            time_floor()
        log("    %s rep %d/%d: floor %s, per log %s (x%.2f); CPU time x%.2f; load %s"
            % (label, r + 1, repeats, fmt_s(floor_blocks[-1]), fmt_s(per_log[-1]),
               per_log[-1] / floor_blocks[-1], log_cpu[-1] / floor_cpu[-1], load_average()))
    floor_s = median(floor_blocks)
    result = {
        "layers": paths,
        "geometry": dict(zip(paths, geometry)),
        "logs_per_repeat": logs,
        "floor_s": floor_s,
        "floor_first_call_s": floor_first,
        "floor_per_call_median_s": median(floor_calls),
        "per_log_s": median(per_log),
        "ratio": median(per_log) / floor_s,
        "ratio_per_repeat_median": median([p / f for p, f in zip(per_log, floor_blocks)]),
        "ratios_per_repeat": [p / f for p, f in zip(per_log, floor_blocks)],
        "train_thread_s": median(train_thread),
        # Process CPU time (every thread: the background job's too), per call / per log.
        "floor_cpu_s": median(floor_cpu),
        "per_log_cpu_s": median(log_cpu),
        "cpu_ratio": median(log_cpu) / median(floor_cpu),
        "setup_s": median(setups),
        "bytes_written_per_log": median(bytes_per_log),
        "raw_floor_s": floor_blocks,
        "raw_per_log_s": per_log,
    }
    log("  %-10s %d modules: floor %s | per log %s (x%.2f, per-rep median x%.2f) | training "
        "thread per log() %s | set-up %s | %s per log"
        % (label, len(paths), fmt_s(floor_s), fmt_s(result["per_log_s"]), result["ratio"],
           result["ratio_per_repeat_median"], fmt_s(result["train_thread_s"]),
           fmt_s(result["setup_s"]), fmt_bytes(result["bytes_written_per_log"])))
    return result


class _Timing:
    """Wraps `owner.name` (a module's function or an instance's method) to add
    up its seconds and the bytes it wrote (a count or a file's path)."""

    def __init__(self, owner, name, keep_calls=False):
        self.owner, self.name = owner, name
        self.original = getattr(owner, name)
        self.seconds, self.bytes, self.calls = 0.0, 0, 0
        self.call_seconds, self.call_args = [], []

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                result = self.original(*args, **kwargs)
            finally:
                seconds = time.perf_counter() - start
                self.seconds += seconds
                self.calls += 1
                if keep_calls:
                    self.call_seconds.append(seconds)
                    self.call_args.append((args, kwargs))
            self.bytes += _written_bytes(result)
            return result

        setattr(owner, name, wrapper)

    def restore(self):
        if isinstance(self.owner, type(os)):
            setattr(self.owner, self.name, self.original)
        else:
            delattr(self.owner, self.name)


def _written_bytes(result):
    if isinstance(result, bool):
        return 0
    if isinstance(result, int):
        return result
    if isinstance(result, (str, os.PathLike)) and os.path.isfile(result):
        return os.path.getsize(result)
    return 0


def bench_breakdown(model, probe, layers, repeats, root, label):
    """Where one log's time goes, each part timed on its own, the parts of a
    repetition one after the other:

    - floor: the bare forward to the modules (full-size outputs, no pooling);
    - pass: `capture.first_outputs` (the logger's pass: eval/RNG bookkeeping,
      hooks, forward to the modules, pooling in the hooks), with the time
      spent in `maps.stored_maps` (slice to `max_filters` + area average on
      the device) timed by wrapping it; forward = pass - pooling;
    - `model_state.untouched` alone (eval + fork_rng + flags restored);
    - host copy: `maps.to_host` of the stored maps;
    - the whole capture (`logger._pass()`) for cross-checking;
    - background job as the logger runs it: `log()` (returns after `submit`)
      then `flush()` (waits for the job on its nice-19 worker thread);
    - the same job run on this thread (`LogWriter._write`), split by wrapping
      `LogWriter._layer_blobs` (statistics, 8-bit strips, PNG over the
      writer's 2 threads) and the file writes (`EventFileWriter.write_events`
      + `PixelFileWriter.write`); the rest (summary protos, ...)."""
    from tb_actviz.torch import capture as capture_lib
    from tb_actviz.capture import torch_maps as maps_lib
    from tb_actviz.torch import model_state
    from tb_actviz.write import log_writer

    run = LoggerRun(model, probe, layers, os.path.join(root, "breakdown_" + label))
    lg = run.logger
    writer = lg._writer
    pass_inputs = lg._pass._inputs  # the probe on the model's device: a method since 6e44110
    pass_inputs = pass_inputs() if callable(pass_inputs) else pass_inputs
    floor = make_floor(model, run.modules, probe)
    floor()
    keys = ("floor", "pass", "pooling", "forward", "untouched", "host_copy", "capture",
            "log_call", "flush_wait", "log_plus_flush", "job", "encode", "files", "rest",
            "file_bytes")
    parts = {k: [] for k in keys}
    pooling_per_module = [[] for _ in lg._logged]
    by_geometry = {id(l.geometry): k for k, l in enumerate(lg._logged)}
    step = 1000
    for i in range(repeats):
        parts["floor"].append(timed(floor)[0])
        pooling = _Timing(maps_lib, "stored_maps", keep_calls=True)
        try:
            t, stored = timed(lambda: capture_lib.first_outputs(model, pass_inputs, lg._logged))
        finally:
            pooling.restore()
        parts["pass"].append(t)
        parts["pooling"].append(pooling.seconds)
        parts["forward"].append(t - pooling.seconds)
        for (args, _), seconds in zip(pooling.call_args, pooling.call_seconds):
            pooling_per_module[by_geometry[id(args[1])]].append(seconds)

        def bookkeeping():
            with model_state.untouched(model):
                pass

        parts["untouched"].append(timed(bookkeeping)[0])
        parts["host_copy"].append(timed(lambda: [maps_lib.to_host(m) for m in stored])[0])
        t, captured = timed(lg._pass)
        parts["capture"].append(t)

        step += 1
        t_log = timed(lambda: lg.log(model, step))[0]
        t_flush = timed(lg.flush)[0]
        check_logger(lg)
        parts["log_call"].append(t_log)
        parts["flush_wait"].append(t_flush)
        parts["log_plus_flush"].append(t_log + t_flush)

        wrapped = _Timing(writer, "_layer_blobs")
        files = [_Timing(writer._events, "write_events"), _Timing(writer._pixel_files, "write")]
        step += 1
        try:
            parts["job"].append(timed(lambda: writer._write(step, captured, False))[0])
        finally:
            for w in [wrapped] + files:
                w.restore()
        parts["encode"].append(wrapped.seconds)
        parts["files"].append(sum(f.seconds for f in files))
        parts["file_bytes"].append(sum(f.bytes for f in files))
        parts["rest"].append(parts["job"][-1] - parts["encode"][-1] - parts["files"][-1])
    paths = lg.logged_layers
    geometry = [(l.entry.output_shape, l.geometry.num_filters, l.geometry.factor)
                for l in lg._logged]
    single = _job_parts_single_threaded(captured.layer_maps, repeats)
    slicing = _pooling_alternative(lg._logged, floor(), repeats)
    lg.close()
    out = {k + "_s": median(v) for k, v in parts.items() if k != "file_bytes"}
    out["layers"] = paths
    out["file_bytes"] = median(parts["file_bytes"])
    out["stored_bytes"] = int(sum(m.nbytes for m in captured.layer_maps))
    out["files_mb_per_s"] = out["file_bytes"] / out["files_s"] / 1e6 if out["files_s"] else 0
    out["pooling_per_module_s"] = {
        p: {"output_shape": list(g[0]), "filters": g[1], "factor": g[2], "seconds": median(t)}
        for p, g, t in zip(paths, geometry, pooling_per_module)}
    out["single_threaded"] = single
    out["pool_then_slice"] = slicing
    out["raw"] = parts
    log("  breakdown %s: floor %s; logger's pass %s = forward %s + pooling %s; untouched() %s; "
        "host copy %s; capture %s; log() %s + flush() %s; job alone %s (stats+PNG %s, files %s)"
        % ((label,) + tuple(fmt_s(out[k + "_s"]) for k in (
            "floor", "pass", "forward", "pooling", "untouched", "host_copy", "capture",
            "log_call", "flush_wait", "job", "encode", "files"))))
    slowest = max(out["pooling_per_module_s"].items(), key=lambda kv: kv[1]["seconds"])
    log("    slowest pooling: %s %s, %d filters, factor %d: %s"
        % (slowest[0], tuple(slowest[1]["output_shape"]), slowest[1]["filters"],
           slowest[1]["factor"], fmt_s(slowest[1]["seconds"])))
    log("    job's parts single-threaded, all layers: statistics %s, 8-bit strips %s, PNG %s "
        "(row filter %s, deflate %s)" % tuple(fmt_s(single[k]) for k in (
            "statistics_s", "strips_s", "png_s", "filter_s", "deflate_s")))
    if slicing["modules"]:
        log("    pooled modules' slice + area average as the logger does it %s; pooling every "
            "channel, then slicing %s" % (fmt_s(slicing["slice_then_pool_s"]),
                                          fmt_s(slicing["pool_then_slice_s"])))
    return out


def _job_parts_single_threaded(layer_maps, repeats):
    """The background job's numpy/zlib parts for every layer, on this thread
    alone (no pool): statistics, 8-bit strips, PNG (its row filter and
    deflate apart). Medians over `repeats`."""
    from tb_actviz.format import images, map_encoding

    times = {k: [] for k in ("statistics", "strips", "png", "filter", "deflate")}
    for _ in range(repeats):
        total = dict.fromkeys(times, 0.0)
        for maps in layer_maps:
            t, stats = timed(lambda: map_encoding.statistics(maps))
            total["statistics"] += t
            t, strips = timed(lambda: map_encoding.strips(maps, stats))
            total["strips"] += t
            total["png"] += timed(lambda: images.encode_pngs(strips))[0]
            count, height, width = strips.shape[:3]
            t, rows = timed(lambda: images._FILTERS[images.PNG_FILTER](
                strips.reshape(count, height, -1), 1 if strips.ndim == 3 else 3))
            total["filter"] += t
            total["deflate"] += timed(lambda: [
                images._deflate.compress(r, images.PNG_COMPRESS_LEVEL) for r in rows])[0]
        for k, v in total.items():
            times[k].append(v)
    return {k + "_s": median(v) for k, v in times.items()}


def _pooling_alternative(logged, outputs, repeats):
    """For the logged modules the logger slices to `max_filters` channels and
    area-averages (factor > 1, fewer filters than channels): the logger's
    `maps.stored_maps` (slice, then pool: the slice is not contiguous, so
    `avg_pool2d` copies it first) against pooling every channel, then
    slicing (no copy; more channels pooled), alternately, on the modules'
    outputs from the floor. Not what the logger does: a measured
    alternative."""
    import torch
    import torch.nn.functional as F

    from tb_actviz.capture import torch_maps as maps_lib

    chosen = [(l, o) for l, o in zip(logged, outputs)
              if l.geometry.factor > 1 and l.geometry.map_kind == "maps"
              and l.geometry.channels_first and o.shape[1] > l.geometry.num_filters]
    a, b = [], []
    with torch.inference_mode():
        tensors = [(l.geometry, torch.from_numpy(o)) for l, o in chosen]

        def slice_then_pool():
            return [maps_lib.stored_maps(x, g) for g, x in tensors]

        def pool_then_slice():
            return [F.avg_pool2d(x.float(), g.factor, g.factor, ceil_mode=True)[:, :g.num_filters]
                    for g, x in tensors]

        if tensors:
            for x, y in zip(slice_then_pool(), pool_then_slice()):
                assert torch.allclose(x, y, rtol=1e-5, atol=1e-5)
            for r in range(2 * repeats + 1):
                order = (slice_then_pool, pool_then_slice) if r % 2 else (pool_then_slice,
                                                                          slice_then_pool)
                for fn in order:
                    t = timed(fn)[0]
                    (a if fn is slice_then_pool else b).append(t)
    return {"modules": [l.entry.path for l, _ in chosen],
            "shapes": [list(o.shape) for _, o in chosen],
            "slice_then_pool_s": median(a), "pool_then_slice_s": median(b)}


# The Lightning fit -----------------------------------------------------------


FIT_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry",
              "hubble_deep_field", "colorwheel", "retina")


def fit_data(train, val, size):
    """Crops of 8 bundled photos at `size`, labelled by photo (8 classes)."""
    from skimage import data

    photos = [_shrunk(getattr(data, n)()[..., :3], 4 * size) for n in FIT_PHOTOS]
    x, y = photo_crops(train + val, size, seed=1, photos=photos)
    x = np.ascontiguousarray(((x - 0.5) / 0.25).transpose(0, 3, 1, 2))
    order = np.random.default_rng(2).permutation(len(x))
    x, y = x[order], y[order]
    return (x[:train], y[:train]), (x[train:], y[train:])


def _shrunk(photo, side):
    """`photo` area-downsampled so that its shorter side is about `side` (the
    crops are then resized from a few hundred pixels, not from 1411)."""
    from skimage import transform

    factor = min(photo.shape[:2]) / side
    if factor <= 1:
        return photo
    shape = (int(photo.shape[0] / factor), int(photo.shape[1] / factor))
    return (transform.resize(photo, shape, anti_aliasing=True) * 255).astype("uint8")


def small_cnn_module(classes=8):
    import lightning.pytorch as pl
    import torch
    import torch.nn.functional as F
    from torch import nn

    class SmallCNN(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
            self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
            self.conv3 = nn.Conv2d(64, 128, 3, padding=1)
            self.head = nn.Linear(128, classes)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = F.relu(self.conv3(x))
            return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = F.cross_entropy(self(x), y)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val_loss", F.cross_entropy(self(x), y))

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    return SmallCNN()


def own_lightning_callback():
    """The stand-in for `tb_actviz.lightning.ActivationLogger` (same
    arguments), if that module does not import: step 0 at train start, then
    `tb_actviz.torch.ActivationLogger.log(pl_module, epoch)` every
    `every_n_epochs` in `on_train_epoch_end`, into `trainer.logger.log_dir`."""
    import lightning.pytorch as pl

    from tb_actviz.torch import ActivationLogger as TorchLogger

    class OwnActivationLogger(pl.Callback):
        def __init__(self, probe, layers=None, log_dir=None, every_n_epochs=1, **options):
            self.probe, self.layers, self.log_dir = probe, layers, log_dir
            self.every_n_epochs, self.options = every_n_epochs, options
            self.logger = None

        def on_train_start(self, trainer, pl_module):
            if trainer.is_global_zero:
                log_dir = self.log_dir or trainer.logger.log_dir
                self.logger = TorchLogger(log_dir, self.probe, layers=self.layers, **self.options)
                self.logger.log(pl_module, 0)

        def on_train_epoch_end(self, trainer, pl_module):
            epoch = trainer.current_epoch + 1
            if self.logger is not None and epoch % self.every_n_epochs == 0:
                self.logger.log(pl_module, epoch)

        def on_train_end(self, trainer, pl_module):
            if self.logger is not None:
                self.logger.close()

        def on_exception(self, trainer, pl_module, exception):
            self.on_train_end(trainer, pl_module)

    return OwnActivationLogger


def lightning_callback_class():
    """(class, where it comes from, why not the library's)."""
    try:
        from tb_actviz.lightning import ActivationLogger

        return ActivationLogger, "tb_actviz.lightning.ActivationLogger", None
    except Exception as e:  # noqa: BLE001 - not written yet, or broken: reported
        return (own_lightning_callback(),
                "this script's own Callback around tb_actviz.torch.ActivationLogger",
                "%s: %s" % (type(e).__name__, e))


def bench_fit(epochs, pairs, root, size=32, train=512, val=128, batch=32):
    """A Lightning fit of a small CNN with and without the activation logger:
    fresh seeded model and Trainer per fit (both with the same
    TensorBoardLogger, no progress bar, checkpointing or summary), one short
    warm-up fit of each arm, then `pairs` pairs in ABBA order."""
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.loggers import TensorBoardLogger

    from tb_actviz.torch import capture as capture_lib
    from tb_actviz.torch import logger as torch_logger
    from tb_actviz.write import background, log_writer

    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    callback_class, source, why = lightning_callback_class()
    if why:
        log("  tb_actviz.lightning unavailable (%s): using %s" % (why, source))
    else:
        log("  using %s" % source)
    (x_train, y_train), (x_val, y_val) = fit_data(train, val, size)
    probe = (x_val[:8], y_val[:8])

    # Times every tb_actviz.torch.ActivationLogger.log call (the training
    # thread's share), whichever callback makes it, and within it the wait for
    # the previous log's background job (LogWriter.collect) and the capture
    # (ProbePass.__call__: the probe's pass, pooling, host copy).
    log_calls, waits, captures, layers_seen = [], [], [], []
    original_log = torch_logger.ActivationLogger.log
    original_collect = log_writer.LogWriter.collect
    original_pass = capture_lib.ProbePass.__call__

    def timed_log(self, model, step):
        start = time.perf_counter()
        try:
            return original_log(self, model, step)
        finally:
            log_calls.append((time.perf_counter() - start, step))
            if not layers_seen and self.logged_layers:
                layers_seen.extend(self.logged_layers)

    def timed_collect(self):
        start = time.perf_counter()
        try:
            return original_collect(self)
        finally:
            waits.append(time.perf_counter() - start)

    # CPU time of the background job: LogWriter._write on the worker thread
    # (time.thread_time), plus the shares (PNGs or whole layers) its pool
    # runs on the helper thread (BackgroundWorker.map_shares, which the
    # LogWriter binds at creation).
    job_cpu = []
    original_write = log_writer.LogWriter._write
    original_map_shares = background.BackgroundWorker.map_shares

    def timed_write(self, *args, **kwargs):
        start = time.thread_time()
        try:
            return original_write(self, *args, **kwargs)
        finally:
            job_cpu.append(time.thread_time() - start)

    def timed_map_shares(self, fn, items, cost=None):
        def timed_fn(share):
            start = time.thread_time()
            try:
                return fn(share)
            finally:
                if threading.current_thread().name.startswith("tb_actviz_encoder"):
                    job_cpu.append(time.thread_time() - start)

        return original_map_shares(self, timed_fn, items, cost)

    def timed_pass(self):
        start = time.perf_counter()
        try:
            return original_pass(self)
        finally:
            captures.append(time.perf_counter() - start)

    def one_fit(with_logger, tag, fit_epochs):
        gc.collect()
        pl.seed_everything(0, verbose=False)
        model = small_cnn_module()
        g = torch.Generator().manual_seed(0)
        train_loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train)),
            batch_size=batch, shuffle=True, generator=g)
        val_loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.from_numpy(x_val), torch.from_numpy(y_val)),
            batch_size=batch)
        callbacks = []
        cb = None
        if with_logger:
            cb = callback_class(probe, verbose=0)
            callbacks.append(cb)
        trainer = pl.Trainer(
            max_epochs=fit_epochs, accelerator="cpu", devices=1,
            logger=TensorBoardLogger(root, name="fit_" + tag), callbacks=callbacks,
            enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
            log_every_n_steps=8)
        for values in (log_calls, waits, captures, job_cpu):
            del values[:]
        cpu0 = cpu_seconds()
        seconds, _ = timed(lambda: trainer.fit(model, train_loader, val_loader))
        cpu = cpu_seconds() - cpu0
        steps = sorted(s for _, s in log_calls)
        info = {"log_calls": len(log_calls), "log_call_s": [t for t, _ in log_calls],
                "steps": steps, "collect_s": list(waits), "capture_s": list(captures),
                "job_cpu_s": sum(job_cpu)}
        if with_logger:
            info["run_dir"] = trainer.logger.log_dir
        return seconds, cpu, info

    torch_logger.ActivationLogger.log = timed_log
    log_writer.LogWriter.collect = timed_collect
    log_writer.LogWriter._write = timed_write
    background.BackgroundWorker.map_shares = timed_map_shares
    capture_lib.ProbePass.__call__ = timed_pass
    try:
        log("  warm-up fits (2 epochs each, not counted)")
        one_fit(False, "warm_without", 2)
        _, _, warm_info = one_fit(True, "warm_with", 2)
        if warm_info["log_calls"] != 3:
            log("  note: 2-epoch warm-up fit made %d log() calls (steps %s), expected 3 "
                "(step 0 + 2 epochs)" % (warm_info["log_calls"], warm_info["steps"]))
        without, with_, ratios, cpu_without, cpu_with = [], [], [], [], []
        calls, collect_s, capture_s, job_cpu_per_fit = [], [], [], []
        log_total_per_fit, collect_total_per_fit, capture_total_per_fit = [], [], []
        info_with = {}
        for p in range(pairs):
            order = (False, True) if p % 2 == 0 else (True, False)
            pair = {}
            for flag in order:
                pair[flag] = one_fit(flag, "%d_%s" % (p, "with" if flag else "without"), epochs)
            without.append(pair[False][0])
            with_.append(pair[True][0])
            cpu_without.append(pair[False][1])
            cpu_with.append(pair[True][1])
            ratios.append(pair[True][0] / pair[False][0])
            info_with = pair[True][2]
            calls.extend(info_with["log_call_s"])
            collect_s.extend(info_with["collect_s"])
            capture_s.extend(info_with["capture_s"])
            job_cpu_per_fit.append(info_with["job_cpu_s"])
            log_total_per_fit.append(sum(info_with["log_call_s"]))
            collect_total_per_fit.append(sum(info_with["collect_s"]))
            capture_total_per_fit.append(sum(info_with["capture_s"]))
            log("    fit pair %d: without %.2f s (CPU %.2f s), with %.2f s (CPU %.2f s), "
                "%d log() calls, ratio %.3f"
                % (p + 1, pair[False][0], pair[False][1], pair[True][0], pair[True][1],
                   info_with["log_calls"], ratios[-1]))
    finally:
        torch_logger.ActivationLogger.log = original_log
        log_writer.LogWriter.collect = original_collect
        log_writer.LogWriter._write = original_write
        background.BackgroundWorker.map_shares = original_map_shares
        capture_lib.ProbePass.__call__ = original_pass
    run_files = []
    if info_with.get("run_dir") and os.path.isdir(info_with["run_dir"]):
        for directory, _, files in os.walk(info_with["run_dir"]):
            run_files += [os.path.relpath(os.path.join(directory, f), info_with["run_dir"])
                          for f in files]
    out = {
        "callback": source,
        "callback_fallback_reason": why,
        "epochs": epochs,
        "pairs": pairs,
        "image_size": size,
        "train_images": train,
        "val_images": val,
        "batch_size": batch,
        "log_calls_per_fit": info_with.get("log_calls"),
        "logged_steps": info_with.get("steps"),
        "fit_without_s": median(without),
        "fit_with_s": median(with_),
        "median_pair_ratio": median(ratios),
        "overhead": median(ratios) - 1.0,
        "raw_pair_ratios": ratios,
        "raw_without_s": without,
        "raw_with_s": with_,
        "cpu_without_s": median(cpu_without),
        "cpu_with_s": median(cpu_with),
        "cpu_overhead": median(cpu_with) / median(cpu_without) - 1.0,
        "layers": layers_seen,
        "log_call_median_s": median(calls),
        "log_call_max_s": max(calls) if calls else None,
        # collect() runs twice per log (log() and submit()), and at close.
        "collect_median_s": median(collect_s),
        "collect_max_s": max(collect_s) if collect_s else None,
        # Per fit: medians over the pairs' fits with the logger.
        "collect_total_s_per_fit": median(collect_total_per_fit),
        "capture_total_s_per_fit": median(capture_total_per_fit),
        "capture_median_s": median(capture_s),
        "job_cpu_s_per_fit": median(job_cpu_per_fit),
        "log_call_first_s": info_with["log_call_s"][0] if info_with.get("log_call_s") else None,
        "log_calls_total_s_per_fit": median(log_total_per_fit),
        "run_dir_event_and_pixel_files": len(run_files),
    }
    out["log_calls_share_of_fit"] = out["log_calls_total_s_per_fit"] / out["fit_without_s"]
    # What the logger costs a fit, counted rather than timed against a noisy
    # baseline: its training-thread time plus its background CPU time (all
    # of the nice-19 job's CPU counted as taken from training, as if training
    # kept every core busy meanwhile; none of it is, if it runs in gaps).
    out["accounted_s_per_fit"] = out["log_calls_total_s_per_fit"] + out["job_cpu_s_per_fit"]
    out["accounted_share_of_fit"] = out["accounted_s_per_fit"] / out["fit_without_s"]
    log("  fit %d epochs: without %.2f s, with %.2f s: overhead %+.1f%% (pair ratios %s); "
        "CPU %+.1f%%; log() on the training thread %s median, %s per fit (%.1f%% of the fit); "
        "+ background CPU %s per fit: %.1f%% accounted"
        % (epochs, out["fit_without_s"], out["fit_with_s"], 100 * out["overhead"],
           " ".join("%.3f" % r for r in ratios), 100 * out["cpu_overhead"],
           fmt_s(out["log_call_median_s"]), fmt_s(out["log_calls_total_s_per_fit"]),
           100 * out["log_calls_share_of_fit"], fmt_s(out["job_cpu_s_per_fit"]),
           100 * out["accounted_share_of_fit"]))
    return out


# Main ------------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None,
                        help="repetitions per case (default 5; 3 with --quick)")
    parser.add_argument("--logs", type=int, default=None,
                        help="back-to-back logs per repetition (default 8; 4 with --quick)")
    parser.add_argument("--fit-pairs", type=int, default=None,
                        help="with/without Lightning fit pairs (default 3; 1 with --quick)")
    parser.add_argument("--fit-epochs", type=int, default=20, help="epochs per fit (20)")
    parser.add_argument("--fit-sizes", default="32,64",
                        help="image sides of the Lightning fit's data, one fit comparison "
                             "each (default 32,64)")
    parser.add_argument("--cases", default="seed,all13,resnet,resnet_pair",
                        help="comma-separated subset of seed,all13,resnet,resnet_pair")
    parser.add_argument("--quick", action="store_true", help="a smaller run")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the breakdown")
    parser.add_argument("--no-fit", action="store_true", help="skip the Lightning fit")
    parser.add_argument("--memory-logs", type=int, default=None,
                        help="logs of resnet18's default selection for the memory check "
                             "(default 100; 30 with --quick; 0 skips it)")
    parser.add_argument("--keep-logs", default=None,
                        help="write the benchmark's log dirs here and keep them")
    return parser.parse_args(argv)


# The cases whose one log is broken down into parts (after the case).
BREAKDOWN_CASES = ("seed", "resnet", "resnet_pair")

CASES = {
    "seed": ("vgg16", SEED_LAYERS, "(a) vgg16 features.0 + features.28 (conv:0, conv:-1)",
             TARGET_SEED_RATIO),
    "all13": ("vgg16", VGG16_CONVS, "(b) vgg16 all 13 convs", TARGET_ALL_RATIO),
    "resnet": ("resnet18", None, "(c) resnet18 default selection (layers=None)",
               TARGET_RESNET_RATIO),
    "resnet_pair": ("resnet18", RESNET_PAIR, "(d) resnet18 conv1 + layer4.1.conv2",
                    TARGET_RESNET_RATIO),
}


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    quick = args.quick
    repeats = args.repeats or (3 if quick else 5)
    logs = args.logs or (4 if quick else 8)
    fit_pairs = args.fit_pairs or (1 if quick else 3)
    memory_logs = args.memory_logs if args.memory_logs is not None else (30 if quick else 100)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    fit_sizes = [int(x) for x in args.fit_sizes.split(",") if x.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        raise SystemExit("unknown --cases %s; choose from %s" % (unknown, list(CASES)))

    started = time.perf_counter()
    import torch
    import torchvision

    log("tb_actviz PyTorch-native benchmark: torch %s, torchvision %s, Python %s, %s, %d CPUs, "
        "torch threads %d, repeats=%d, logs=%d, fit pairs=%d%s"
        % (torch.__version__, torchvision.__version__, platform.python_version(),
           platform.machine(), os.cpu_count(), torch.get_num_threads(), repeats, logs,
           fit_pairs, " (quick)" if quick else ""))
    log("tb_actviz at %s (%s)" % (REPO, library_revision()))
    log(NOISE_NOTE)
    log("load average at start: %s" % load_average())
    results = {"torch": torch.__version__, "torchvision": torchvision.__version__,
               "python": platform.python_version(), "cpus": os.cpu_count(),
               "torch_threads": torch.get_num_threads(), "repeats": repeats, "logs": logs,
               "fit_pairs": fit_pairs, "quick": quick, "revision": library_revision(),
               "load_average_start": load_average(), "load_averages": {}}
    root = args.keep_logs or tempfile.mkdtemp(prefix="tb_actviz_bench_torch_")
    os.makedirs(root, exist_ok=True)
    sections = len(cases) + (0 if args.no_fit else 1) + (1 if memory_logs else 0)
    number = iter(range(1, sections + 1))

    def phase(title):
        log("\n[%d/%d] %s (load %s)" % (next(number), sections, title, load_average()))
        return time.perf_counter()

    try:
        probe = probe_images(8, 224)
        models = {}

        def model_named(name):
            if name not in models:
                torch.manual_seed(0)
                models[name] = getattr(torchvision.models, name)(weights=None).eval()
            return models[name]

        results["breakdown"] = {}
        for key in cases:
            arch, layers, title, _ = CASES[key]
            t = phase(title)
            results[key] = bench_case(model_named(arch), probe, layers, repeats, logs, root, key)
            results[key]["seconds"] = time.perf_counter() - t
            results["load_averages"][key] = load_average()
            if key in BREAKDOWN_CASES and not args.no_breakdown:
                log("  where one log's time goes (%s)" % key)
                results["breakdown"][key] = bench_breakdown(
                    model_named(arch), probe, layers, repeats, root, key)
                results["load_averages"][key + " breakdown"] = load_average()
        if memory_logs:
            phase("memory: %d logs of resnet18's default selection" % memory_logs)
            results["memory"] = bench_memory(model_named("resnet18"), probe, memory_logs, root)
            results["load_averages"]["memory"] = load_average()
        models.clear()
        gc.collect()
        if not args.no_fit:
            t = phase("Lightning fit of a small CNN, %d epochs, with and without the logger"
                      % args.fit_epochs)
            results["fits"] = []
            for size in fit_sizes:
                log("  %dx%d images" % (size, size))
                fit = bench_fit(args.fit_epochs, fit_pairs, root, size=size)
                fit["seconds"] = time.perf_counter() - t
                results["fits"].append(fit)
                results["load_averages"]["fit %d" % size] = load_average()
                t = time.perf_counter()
    finally:
        if not args.keep_logs:
            shutil.rmtree(root, ignore_errors=True)
    results["load_average_end"] = load_average()
    results["tensorflow_imported"] = "tensorflow" in sys.modules
    results["wall_s"] = time.perf_counter() - started
    report(results, cases)
    print("JSON " + json.dumps(strip_raw(results), sort_keys=True), flush=True)
    return 0


def _png_codec():
    """What the PNG encoder uses: (row filter, deflate module, level)."""
    try:
        from tb_actviz.format import images

        return ({images.UP: "Up", images.PAETH: "Paeth"}[images.PNG_FILTER],
                images._deflate.__name__, images.PNG_COMPRESS_LEVEL)
    except Exception:  # noqa: BLE001
        return "?", "?", "?"


def strip_raw(results):
    def walk(v):
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items() if not k.startswith("raw")}
        if isinstance(v, float):
            return round(v, 5)
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        return v
    return walk(results)


def report(r, cases):
    rows = []
    for key in cases:
        c = r[key]
        _, _, title, target = CASES[key]
        rows.append([
            title, len(c["layers"]), fmt_s(c["floor_s"]), fmt_s(c["per_log_s"]),
            "x%.2f" % c["ratio"], "x%.2f" % c["ratio_per_repeat_median"],
            " ".join("%.2f" % x for x in c["ratios_per_repeat"]),
            "<= x%.2f %s" % (target, verdict(c["ratio"] <= target)),
            "x%.2f" % c["cpu_ratio"],
            fmt_s(c["train_thread_s"]), fmt_s(c["setup_s"]), fmt_bytes(c["bytes_written_per_log"]),
            r["load_averages"].get(key, "-"),
        ])
    if rows:
        print_table(
            "Per log / floor, torchvision models (weights=None) at 224x224, 8 probe images, "
            "medians of %d repetitions of %d back-to-back logs (per log = the logs + close(), / %d; "
            "floor = bare eager forward to the same modules under inference_mode, mean of %d calls)"
            % (r["repeats"], r["logs"], r["logs"], r["logs"]),
            ["case", "modules", "floor", "per log", "ratio", "ratio (per-rep median)",
             "per-rep ratios", "target", "CPU time ratio", "log() on training thread",
             "set-up (first log)", "written per log", "load after"],
            rows,
        )
    if "resnet" in r:
        print("(c) resnet18 default selection: %s" % ", ".join(r["resnet"]["layers"]))

    breakdowns = r.get("breakdown") or {}
    if breakdowns:
        labels = list(breakdowns)
        lines = [
            ("floor: bare forward to the modules, full-size outputs as numpy", "floor_s"),
            ("logger's pass (capture.first_outputs): eval/RNG, hooks, forward, pooling",
             "pass_s"),
            ("  forward to the modules (pass - pooling)", "forward_s"),
            ("  slice to 49 filters + area average on the device (maps.stored_maps)",
             "pooling_s"),
            ("model_state.untouched alone (eval, fork_rng, flags restored)", "untouched_s"),
            ("host copy of the stored maps (maps.to_host)", "host_copy_s"),
            ("whole capture (logger._pass(): pass + host copy)", "capture_s"),
            ("log() call (training thread: capture, submit)", "log_call_s"),
            ("flush() right after: the job on its nice-19 worker thread", "flush_wait_s"),
            ("background job run alone on this thread (LogWriter._write)", "job_s"),
            ("  statistics + 8-bit strips + PNG (LogWriter._layer_blobs, 2 threads)",
             "encode_s"),
            ("  file writes (EventFileWriter + PixelFileWriter)", "files_s"),
            ("  the rest (summary protos, ...)", "rest_s"),
        ]
        rows = [[text] + [fmt_s(breakdowns[k][key]) for k in labels] for text, key in lines]
        for text, key in (
                ("job's parts on one thread: statistics (map_encoding.statistics)",
                 "statistics_s"),
                ("  8-bit strips (map_encoding.strips)", "strips_s"),
                ("  PNG (images.encode_pngs)", "png_s"),
                ("    of which row filter (%s, numpy)" % _png_codec()[0], "filter_s"),
                ("    of which deflate (%s, level %s)" % _png_codec()[1:], "deflate_s")):
            rows.append([text] + [fmt_s(breakdowns[k]["single_threaded"][key]) for k in labels])
        rows.append(["pooled modules: slice, then pool (the logger: maps.stored_maps)"] + [
            fmt_s(breakdowns[k]["pool_then_slice"]["slice_then_pool_s"]) for k in labels])
        rows.append(["  alternative: pool every channel, then slice"] + [
            fmt_s(breakdowns[k]["pool_then_slice"]["pool_then_slice_s"]) for k in labels])
        rows.append(["  (the pooled modules with more channels than filters)"] + [
            ", ".join(breakdowns[k]["pool_then_slice"]["modules"]) or "-" for k in labels])
        rows.append(["(stored maps / bytes written per log)"] + [
            "%s / %s" % (fmt_bytes(breakdowns[k]["stored_bytes"]),
                         fmt_bytes(breakdowns[k]["file_bytes"])) for k in labels])
        rows.append(["(slowest module's pooling)"] + [
            "%s %s" % max(((p, fmt_s(v["seconds"])) for p, v in
                           breakdowns[k]["pooling_per_module_s"].items()),
                          key=lambda pv: breakdowns[k]["pooling_per_module_s"][pv[0]]["seconds"])
            for k in labels])
        print_table("Where one log's time goes (each part alone, medians of %d)" % r["repeats"],
                    ["part"] + labels, rows)

    memory = r.get("memory")
    if memory:
        print_table(
            "Memory: %d logs of resnet18's default selection, one logger, each log flushed"
            % memory["logs"],
            ["RSS first-10 median", "RSS last-10 median", "growth", "ru_maxrss after 10 / end",
             "hooks left on the model"],
            [["%.0f MB" % memory["rss_first10_median_mb"], "%.0f MB" % memory["rss_last10_median_mb"],
              "%+.1f MB" % memory["rss_growth_mb"],
              "%.0f / %.0f MB" % (memory["peak_rss_after10_mb"], memory["peak_rss_end_mb"]),
              memory["hooks_left_on_model"]]],
        )

    fits = r.get("fits") or []
    if fits:
        f0 = fits[0]
        print_table(
            "Lightning fit: small CNN (3 convs 32/64/128), %d train / %d val crops, batch %d, "
            "%d epochs, %s (default selection: %s; 8 probe images) at step 0 and every epoch "
            "(%s log() calls per fit); %d pair(s) per size in ABBA order after a warm-up"
            % (f0["train_images"], f0["val_images"], f0["batch_size"], f0["epochs"],
               f0["callback"], ", ".join(f0.get("layers") or ["?"]),
               f0["log_calls_per_fit"], f0["pairs"]),
            ["images", "without", "with", "overhead (median pair ratio)", "pair ratios",
             "target", "CPU without / with", "log() calls per fit",
             "+ background CPU per fit", "accounted share"],
            [["%dx%d" % (f["image_size"], f["image_size"]), fmt_s(f["fit_without_s"]),
              fmt_s(f["fit_with_s"]), "%+.1f%%" % (100 * f["overhead"]),
              " ".join("%.3f" % x for x in f["raw_pair_ratios"]),
              "<= +3%% %s" % verdict(f["overhead"] <= TARGET_FIT_OVERHEAD),
              "%s / %s (%+.1f%%)" % (fmt_s(f["cpu_without_s"]), fmt_s(f["cpu_with_s"]),
                                     100 * f["cpu_overhead"]),
              "%s (%.1f%%)" % (fmt_s(f["log_calls_total_s_per_fit"]),
                               100 * f["log_calls_share_of_fit"]),
              fmt_s(f["job_cpu_s_per_fit"]),
              "%.1f%%" % (100 * f["accounted_share_of_fit"])] for f in fits],
        )
        sizes = ["%dx%d" % (f["image_size"], f["image_size"]) for f in fits]
        lines = [
            ("log() call (step 0 and every epoch end), median", "log_call_median_s"),
            ("log() call, max", "log_call_max_s"),
            ("  capture (ProbePass: probe pass, pooling, host copy), median",
             "capture_median_s"),
            ("  LogWriter.collect (waits for the previous job; twice per log + close), max",
             "collect_max_s"),
            ("per fit: log() calls", "log_calls_total_s_per_fit"),
            ("  of which captures", "capture_total_s_per_fit"),
            ("  of which waits for the previous log's background job", "collect_total_s_per_fit"),
            ("per fit: background job CPU (worker + PNG helper thread, nice 19)",
             "job_cpu_s_per_fit"),
            ("per fit: accounted = log() calls + background CPU", "accounted_s_per_fit"),
            ("fit without the logger (median)", "fit_without_s"),
        ]
        print_table(
            "Lightning fit: the logger's time (per call: every counted fit's log() calls; per "
            "fit: medians over the fits with the logger)",
            ["measure"] + sizes,
            [[text] + [fmt_s(f[key]) if f.get(key) is not None else "-" for f in fits]
             for text, key in lines],
        )
        for f in fits:
            if f["callback_fallback_reason"]:
                print("tb_actviz.lightning did not import (%s): the fit used %s"
                      % (f["callback_fallback_reason"], f["callback"]))
    print("\n" + NOISE_NOTE)
    print("load average at start %s, at end %s; per section: %s"
          % (r["load_average_start"], r["load_average_end"],
             ", ".join("%s %s" % kv for kv in r["load_averages"].items())))
    print("wall time %.0f s" % r["wall_s"], flush=True)


if __name__ == "__main__":
    sys.exit(main())
