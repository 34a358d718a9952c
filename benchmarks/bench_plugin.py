"""Plugin-side cost of tb_actviz at scale: a real `tensorboard` serving big log dirs.

The claim measured (stored format version 1, docs/format.md "Where the pixels
are"): for any log dir, the server's memory stays within that of the same
TensorBoard on an EMPTY log dir + 300 MiB + a small index per layer-step
(target <= 1 KB), with every logged step of every run listed and servable, on
both loaders (`--load_fast=true`, the Rust data server; `--load_fast=false`,
the Python loader).

Cases (`--cases`, synthetic log dirs from benchmarks/synthetic_logdir.py at
the callback's defaults, written under `--out`, default a new dir in /tmp):

- default: 2 runs x 13 layers (VGG16's conv layers) x 300 steps;
- long:    2 runs x 13 layers x 1000 steps (the plugin keeps 1000 steps a tag);
- sweep:   20 runs x 16 layers x 300 steps (~16 GB of pixel files; layers past
           VGG16's 13 are copies).

For each case and loader it starts `tensorboard` on 127.0.0.1 and measures:

- "runs listed": from starting `tensorboard` until `/runs` lists every layer
  of every run; "all steps": until `/steps` also lists every step of every
  layer tag (polled);
- latency medians of `/runs`, `/steps` (a new tag / the same again), `/blob`
  (one strip of block1_conv1), `/blobs` (every filter of one step: 49) and
  `/series` (one filter over all steps);
- "browse all": `/series` of one filter for every (run, layer) must return
  every listed step (so every step's pixels are read), and `/blobs` of every
  filter at one random step of every (run, layer) must return all strips;
- "right pixels": the first, middle and last step of the first, middle and
  last layer of the first, middle and last run, through `/blobs` (every blob
  of the step), `/blob` and `/series`, must equal byte for byte the blobs read
  straight from the step's pixel file (parsed here from docs/format.md, not by
  tb_actviz) or, in version 0, from the event files;
- the server's memory: VmRSS of the `tensorboard` process plus its children
  (the Rust `tensorboard_data_server`) from /proc/<pid>/status: when ready,
  after the queries, after browsing everything, and the highest sample (every
  0.2 s from start to stop); beside the RSS of the same TensorBoard on an
  empty log dir, measured in the same run.

"RSS - empty" over the case's layer-steps gives the bytes per layer-step (an
upper bound: it includes the plugin's bounded caches and everything else
TensorBoard allocates); a least-squares line over the cases separates the
per-layer-step slope from the fixed part. `--layer-event-summaries` writes
version 1 as it was written before December 2026 (each layer-step's summary in
its own event, the metadata in every event), to measure what the current
layout (the summaries in one event per log, which TensorBoard does not keep;
a tag's metadata once per event file) saves. Cases in `--v0` (default: default,
long) are also written in the previous format (version 0: every blob in the
event files) and measured in the same run; the sweep in version 0 would need
~12-15 GiB of RAM per loader and is never run.

Prints tables and one JSON line. Talks to 127.0.0.1 only, and stops every
process it started. Generated log dirs are removed after each case unless
`--keep`.

    python benchmarks/bench_plugin.py                         # all cases, ~18 min, <= 17 GB in /tmp at a time
    python benchmarks/bench_plugin.py --cases default,long    # no sweep
    python benchmarks/bench_plugin.py --quick                 # small versions of every case, ~5 min
    python benchmarks/bench_plugin.py --logdir /tmp/synth     # measure an existing log dir
"""

import argparse
import concurrent.futures
import json
import os
import random
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from report import fmt_bytes, fmt_s, print_table  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = "127.0.0.1"
PREFIX = "/data/plugin/activations/"
LAYER_TAG_PREFIX = "actviz/layers/"
MIB = 1024 * 1024
PNG_MAGIC = b"\x89PNG"

# name: (runs, layers, steps), and the --quick size.
CASES = {
    "default": {"runs": 2, "layers": 13, "steps": 300, "quick": {"steps": 30}},
    "long": {"runs": 2, "layers": 13, "steps": 1000, "quick": {"steps": 100}},
    "sweep": {"runs": 20, "layers": 16, "steps": 300, "quick": {"runs": 4, "steps": 30}},
}
CASE_ORDER = ["default", "long", "sweep"]
V0_REFUSED = {
    "sweep": "version 0 of the sweep is not run: TensorBoard would hold its ~16 GB of blobs in "
             "~12-15 GiB of RAM per loader, on a 24 GiB shared machine",
}

# Never through a proxy: only 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def log(message):
    print(message, flush=True)


def median(values):
    return float(statistics.median(values)) if values else float("nan")


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# Process memory ---------------------------------------------------------------


def _children(pid):
    kids = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                    kids.extend(int(p) for p in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return kids


def process_tree(pid):
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in tree:
            continue
        tree.append(p)
        todo.extend(_children(p))
    return tree


def _status_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "?"


def tree_memory(pid):
    """{'rss_mb': total VmRSS, 'anon_mb': total RssAnon, 'hwm_mb': sum of VmHWM,
    'processes': {name: rss_mb}, 'processes_anon': {name: anon_mb}} (MiB).

    RssAnon (heap, not file-backed pages) does not move with the page cache:
    after writing GBs, pages of the shared libraries drop out of RSS."""
    pids = process_tree(pid)
    per, per_anon = {}, {}
    rss = anon = hwm = 0
    for p in pids:
        r = _status_kb(p, "VmRSS")
        a = _status_kb(p, "RssAnon")
        rss += r
        anon += a
        hwm += _status_kb(p, "VmHWM")
        name = _comm(p)
        per[name] = per.get(name, 0) + r / 1024.0
        per_anon[name] = per_anon.get(name, 0) + a / 1024.0
    return {"rss_mb": rss / 1024.0, "anon_mb": anon / 1024.0, "hwm_mb": hwm / 1024.0,
            "processes": per, "processes_anon": per_anon}


class MemorySampler:
    """Samples a process tree's RSS every `interval` s on a thread; keeps the highest."""

    def __init__(self, pid, interval=0.2):
        self.pid = pid
        self.interval = interval
        self.peak = {"rss_mb": 0.0, "processes": {}}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            mem = tree_memory(self.pid)
            self.samples += 1
            if mem["rss_mb"] > self.peak["rss_mb"]:
                self.peak = mem
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        return self.peak


# TensorBoard ---------------------------------------------------------------------


def tensorboard_command():
    exe = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    if os.path.exists(exe):
        return [exe]
    found = shutil.which("tensorboard")
    return [found] if found else [sys.executable, "-m", "tensorboard.main"]


class TensorBoard:
    def __init__(self, logdir, load_fast, log_path, extra_args=()):
        self.port = free_port()
        self.base = "http://%s:%d" % (HOST, self.port)
        self.log_file = open(log_path, "wb")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            env.pop(var, None)
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            tensorboard_command() + [
                "--logdir", logdir, "--host", HOST, "--port", str(self.port),
                "--load_fast=%s" % load_fast,
            ] + list(extra_args),
            stdout=self.log_file, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # its own process group: stopped together below
        )

    def get(self, route, params=None, timeout=120):
        url = self.base + PREFIX + route
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with _OPENER.open(url, timeout=timeout) as response:
            return response.status, response.read()

    def json(self, route, params=None):
        status, body = self.get(route, params)
        return json.loads(body)

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(15)
        # A child that outlived its parent in the group (the Rust data server):
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.log_file.close()


_POLL_ERRORS = (urllib.error.URLError, ConnectionError, OSError, ValueError)


def wait_ready(tb, expected_runs, expected_tags, steps, timeout, sample_memory, workers=4):
    """Polls until every run lists every tag and every tag serves `steps` steps.

    Returns (ready_s, first_listed_s, {(run, tag): [steps]}, peak memory sample)."""
    deadline = time.perf_counter() + timeout
    first_listed = None
    peak = {"rss_mb": 0.0}
    complete = {}
    pool = concurrent.futures.ThreadPoolExecutor(workers)

    def steps_of(key):
        try:
            return key, tb.json("steps", {"run": key[0], "tag": key[1]})["steps"]
        except _POLL_ERRORS:
            return key, []

    try:
        while time.perf_counter() < deadline:
            if not tb.alive():
                raise RuntimeError("tensorboard exited early (code %s)" % tb.process.returncode)
            mem = sample_memory()
            if mem["rss_mb"] > peak["rss_mb"]:
                peak = mem
            try:
                runs = {r["run"]: r for r in tb.json("runs")["runs"]}
            except _POLL_ERRORS:
                time.sleep(0.25)
                continue
            listed = all(
                run in runs and {l["tag"] for l in runs[run]["layers"]} >= set(expected_tags)
                for run in expected_runs
            )
            if listed and first_listed is None:
                first_listed = time.perf_counter() - tb.started
            if listed:
                todo = [(run, tag) for run in expected_runs for tag in expected_tags
                        if (run, tag) not in complete]
                for key, got in pool.map(steps_of, todo):
                    if len(got) >= steps:
                        complete[key] = got
                if len(complete) == len(expected_runs) * len(expected_tags):
                    return time.perf_counter() - tb.started, first_listed, complete, peak
            time.sleep(0.25)
    finally:
        pool.shutdown(wait=True)
    raise TimeoutError("tensorboard not ready after %.0f s (%d of %d tags complete)"
                       % (timeout, len(complete), len(expected_runs) * len(expected_tags)))


def measure_latency(tb, fn, count):
    times = []
    sizes = []
    for i in range(count):
        start = time.perf_counter()
        status, body = fn(i)
        times.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError("status %d" % status)
        sizes.append(len(body))
    return {"median_s": median(times), "min_s": min(times), "max_s": max(times),
            "bytes": median(sizes), "count": count}


def parse_series(body):
    """[(step, wall_time, blob bytes)] of a /series response."""
    out, offset, head = [], 0, struct.Struct("<qdI")
    while offset < len(body):
        step, wall_time, length = head.unpack_from(body, offset)
        offset += head.size
        out.append((step, wall_time, body[offset:offset + length]))
        offset += length
    return out


def parse_blobs(body):
    """[blob bytes] of a /blobs response."""
    out, offset = [], 0
    while offset < len(body):
        (length,) = struct.unpack_from("<I", body, offset)
        offset += 4
        out.append(body[offset:offset + length])
        offset += length
    return out


def browse_all(tb, complete, filters, rng, workers=4):
    """Every step of every (run, tag) served: /series of one filter returns every
    listed step with a PNG, /blobs of every filter at one random step returns
    every strip. Returns a summary; problems are listed (at most 10)."""
    problems = []
    jobs = []
    for (run, tag), steps in sorted(complete.items()):
        count = filters[(run, tag)]
        step = steps[rng.randrange(len(steps))]
        jobs.append((run, tag, steps, 1 + rng.randrange(count), step, count))

    def check(job):
        run, tag, steps, index, step, count = job
        found = []
        try:
            _, body = tb.get("series", {"run": run, "tag": tag, "index": index}, timeout=600)
            got = parse_series(body)
            listed = [s["step"] for s in steps]
            if [g[0] for g in got] != listed:
                found.append("%s %s: /series has %d steps, /steps lists %d"
                             % (run, tag, len(got), len(listed)))
            elif not all(g[2][:4] == PNG_MAGIC for g in got):
                found.append("%s %s: /series holds a blob that is not a PNG" % (run, tag))
            _, body = tb.get("blobs", {"run": run, "tag": tag, "step": step["step"],
                                       "indices": "1-%d" % count, "wall_time": step["wallTime"]})
            strips = parse_blobs(body)
            if len(strips) != count or not all(s[:4] == PNG_MAGIC for s in strips):
                found.append("%s %s step %d: /blobs gave %d of %d PNG strips"
                             % (run, tag, step["step"], len(strips), count))
        except (urllib.error.URLError, OSError, struct.error) as e:
            found.append("%s %s: %s" % (run, tag, e))
        return len(steps), found

    started = time.perf_counter()
    served = 0
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for steps, found in pool.map(check, jobs):
            if not found:
                served += steps
            problems.extend(found)
    return {"seconds": time.perf_counter() - started, "tags": len(jobs),
            "layer_steps_expected": sum(len(s) for s in complete.values()),
            "layer_steps_served": served, "problems": problems[:10],
            "problem_count": len(problems)}


def _spread(items, count=3):
    """First, middle and last of `items` (fewer when there are fewer)."""
    picks = sorted({0, len(items) // 2, len(items) - 1}) if count == 3 else range(len(items))
    return [items[i] for i in picks if 0 <= i < len(items)]


def tfrecords(path):
    """The records of a TFRecord file (uint64 length, its CRC, data, data CRC; CRCs
    not checked), without TensorFlow (TensorBoard's loaders import it when it is
    installed)."""
    with open(path, "rb") as f:
        while True:
            head = f.read(12)
            if len(head) < 12:
                return
            (length,) = struct.unpack("<Q", head[:8])
            data = f.read(length)
            if len(data) < length or len(f.read(4)) < 4:
                return
            yield data


class StoredBlobs:
    """The blobs of (run, tag, step) read straight from a log dir's files, without
    tb_actviz or TensorBoard's loaders: version 1 from the pixel file of the step
    (docs/format.md "Where the pixels are": magic, uint32 header length, JSON
    header, blobs back to back), else (version 0) from the event files."""

    def __init__(self, logdir):
        self.logdir = logdir
        self._listing = {}
        self._events = {}

    def _pixel_file(self, run, step, wall_time):
        folder = os.path.join(self.logdir, run, "plugins", "activations")
        if folder not in self._listing:
            try:
                self._listing[folder] = sorted(os.listdir(folder))
            except OSError:
                self._listing[folder] = []
        name = "%010d.%d.actviz" % (step, round(wall_time * 1e6))
        if name in self._listing[folder]:
            return os.path.join(folder, name)
        return None

    def blobs(self, run, tag, step, wall_time):
        path = self._pixel_file(run, step, wall_time)
        if path is not None:
            with open(path, "rb") as f:
                data = f.read()
            if data[:8] != b"ACTVIZ01":
                raise ValueError("%s: no ACTVIZ01 magic" % path)
            (length,) = struct.unpack_from("<I", data, 8)
            header = json.loads(data[12:12 + length])
            if header["step"] != step:
                raise ValueError("%s: header step %s" % (path, header["step"]))
            offset = 12 + length
            for name, lengths in header["tags"]:
                if name == tag:
                    out = []
                    for n in lengths:
                        out.append(data[offset:offset + n])
                        offset += n
                    return out, "pixel file"
                offset += sum(lengths)
            raise KeyError("%s not in %s" % (tag, path))
        return self._from_events(run, tag, step), "event file"

    def _from_events(self, run, tag, step):
        found = self._events.get((run, tag, step))
        if found is None:
            raise KeyError("%s %s step %d: no pixel file, and not among the event blobs read"
                           % (run, tag, step))
        return found

    def want_from_events(self, run, keys):
        """Reads the event files of `run` once for every (tag, step) in `keys`."""
        from tensorboard.compat.proto import event_pb2

        run_dir = os.path.join(self.logdir, run)
        keys = set(keys)
        for name in sorted(os.listdir(run_dir)):
            if not name.startswith("events.out.tfevents"):
                continue
            for record in tfrecords(os.path.join(run_dir, name)):
                e = event_pb2.Event.FromString(record)
                for v in e.summary.value:
                    if (v.tag, e.step) in keys:
                        self._events[(run, v.tag, e.step)] = list(v.tensor.string_val)


def verify_pixels(tb, logdir, complete, listing, stored):
    """Requests the first, middle and last step of the first, middle and last layer
    of the first, middle and last run through the plugin's routes (/blobs of every
    blob of the step, /blob of one strip, /series of one strip) and compares the
    bytes with the log dir's files; decodes each strip and checks its size."""
    from PIL import Image
    import io

    layers = {(r["run"], l["tag"]): l for r in listing for l in r["layers"]}
    runs = _spread(sorted({run for run, _ in complete}))
    tags = _spread(sorted({tag for _, tag in complete}))
    checks = []
    for run in runs:
        for tag in tags:
            steps = complete[(run, tag)]
            for s in _spread(steps):
                checks.append((run, tag, s["step"], s["wallTime"]))
    for run in runs:  # version 0: read what is needed from the events in one pass per run
        needed = [(tag, step) for r, tag, step, wall in checks if r == run
                  and stored._pixel_file(run, step, wall) is None]
        if needed:
            stored.want_from_events(run, needed)
    problems, sources, requests, compared = [], set(), 0, 0
    started = time.perf_counter()
    series_cache = {}
    for run, tag, step, wall in checks:
        where = "%s %s step %d" % (run, tag, step)
        try:
            truth, source = stored.blobs(run, tag, step, wall)
            sources.add(source)
            layer = layers[(run, tag)]
            count = len(truth) - 1
            status, body = tb.get("blobs", {"run": run, "tag": tag, "step": step,
                                            "indices": "0-%d" % count, "wall_time": wall})
            requests += 1
            got = parse_blobs(body)
            if status != 200 or got != truth:
                problems.append("%s: /blobs 0-%d differs from the stored blobs (status %d, %d "
                                "blobs, %d equal)" % (where, count, status, len(got),
                                                      sum(a == b for a, b in zip(got, truth))))
            index = 1 + (step % count)
            status, body = tb.get("blob", {"run": run, "tag": tag, "step": step,
                                           "index": index, "wall_time": wall})
            requests += 1
            if status != 200 or body != truth[index]:
                problems.append("%s: /blob %d differs (status %d)" % (where, index, status))
            if (run, tag) not in series_cache:
                status, body = tb.get("series", {"run": run, "tag": tag, "index": 1},
                                      timeout=600)
                requests += 1
                series_cache[(run, tag)] = {st: blob for st, _, blob in parse_series(body)}
            if series_cache[(run, tag)].get(step) != truth[1]:
                problems.append("%s: /series index 1 differs at this step" % where)
            for k in (1, count):
                image = Image.open(io.BytesIO(truth[k]))
                expected = (layer["mapWidth"] * layer["numImages"], layer["mapHeight"])
                if image.size != expected:
                    problems.append("%s: strip %d is %s, expected %s" % (where, k, image.size,
                                                                         expected))
            compared += len(truth) + 2
        except (urllib.error.URLError, OSError, KeyError, ValueError, struct.error) as e:
            problems.append("%s: %s: %s" % (where, type(e).__name__, e))
    return {"layer_steps_checked": len(checks), "runs": runs, "tags": tags,
            "blobs_compared": compared, "requests": requests, "sources": sorted(sources),
            "seconds": time.perf_counter() - started, "problems": problems[:10],
            "problem_count": len(problems)}


def _mem_entry(mem):
    return {"rss_mb": round(mem["rss_mb"], 1), "anon_mb": round(mem.get("anon_mb", 0), 1),
            "processes_mb": {k: round(v, 1) for k, v in mem["processes"].items()},
            "processes_anon_mb": {k: round(v, 1)
                                  for k, v in mem.get("processes_anon", {}).items()}}


def bench_mode(logdir, load_fast, summary, args, work, label=""):
    """One TensorBoard on one log dir: ready time, latencies, browse-all, memory."""
    runs, tags, steps = summary["runs"], summary["tags"], summary["steps"]
    log("\n%s--load_fast=%s: starting tensorboard on %s" % (label, load_fast, logdir))
    extra = ["--samples_per_plugin=activations=%d" % args.samples] if args.samples else []
    served_steps = min(steps, args.samples) if args.samples else steps
    tb = TensorBoard(logdir, load_fast, os.path.join(work, "tensorboard_%s.log" % load_fast),
                     extra)
    sampler = MemorySampler(tb.process.pid)
    result = {"load_fast": load_fast}
    try:
        ready_s, listed_s, complete, _ = wait_ready(
            tb, runs, tags, served_steps, args.timeout, lambda: tree_memory(tb.process.pid))
        result["ready_s"] = ready_s
        result["layers_listed_s"] = listed_s
        mem_ready = tree_memory(tb.process.pid)
        result["memory_ready"] = _mem_entry(mem_ready)  # kept even if a later step fails
        log("  every run listed at %s, every step of every layer at %s; server RSS %.0f MiB %s"
            % (fmt_s(listed_s), fmt_s(ready_s), mem_ready["rss_mb"],
               {k: round(v) for k, v in mem_ready["processes"].items()}))
        rng = random.Random(0)
        run, tag = runs[0], tags[0]  # block1_conv1: the largest strips
        step_list = complete[(run, tag)]
        n = args.requests

        listing = tb.json("runs")["runs"]
        filters = {(r["run"], l["tag"]): len(l["filterIndices"])
                   for r in listing for l in r["layers"]}
        count = filters[(run, tag)]  # blobs 1..count of a layer step

        def pick_step():
            return step_list[rng.randrange(len(step_list))]

        def blob(i):
            s = pick_step()
            return tb.get("blob", {"run": run, "tag": tag, "step": s["step"],
                                   "index": 1 + rng.randrange(count), "wall_time": s["wallTime"]})

        def blobs(i):
            s = pick_step()
            return tb.get("blobs", {"run": run, "tag": tag, "step": s["step"],
                                    "indices": "1-%d" % count, "wall_time": s["wallTime"]})

        def series(i):
            return tb.get("series", {"run": run, "tag": tag, "index": 1 + rng.randrange(count)},
                          timeout=600)

        pairs = [(r, t) for r in runs for t in tags]

        def steps_route(i):  # a tag the plugin has not served lately, as a first look does
            r, t = pairs[(i * 7 + 1) % len(pairs)]
            return tb.get("steps", {"run": r, "tag": t})

        def steps_again(i):  # the tab polling the tag on screen
            return tb.get("steps", {"run": run, "tag": tag})

        latency = {}
        for name, fn, reps in (
            ("runs", lambda i: tb.get("runs"), n),
            ("steps", steps_route, n),
            ("steps_again", steps_again, n),
            ("blob", blob, n),
            ("blobs", blobs, n),
            ("series", series, max(3, n // 3)),
        ):
            try:
                latency[name] = measure_latency(tb, fn, reps)
            except (urllib.error.URLError, OSError, RuntimeError) as e:
                # Reported, not fatal: memory and browse-all are still measured.
                latency[name] = {"error": "%s: %s" % (type(e).__name__, e), "median_s": float("nan"),
                                 "min_s": float("nan"), "max_s": float("nan"), "bytes": 0,
                                 "count": reps}
                log("  /%-11s FAILED: %s" % (name, latency[name]["error"]))
                continue
            log("  /%-11s median %s (min %s, max %s), %d B, n=%d"
                % (name, fmt_s(latency[name]["median_s"]), fmt_s(latency[name]["min_s"]),
                   fmt_s(latency[name]["max_s"]), latency[name]["bytes"], reps))
        result["latency"] = latency
        result["blobs_filters"] = count
        result["series_steps"] = len(step_list)
        mem_queries = tree_memory(tb.process.pid)
        log("  server RSS after the queries %.0f MiB; browsing every step of every run..."
            % mem_queries["rss_mb"])
        browse = browse_all(tb, complete, filters, rng)
        result["browse"] = browse
        pixels = verify_pixels(tb, logdir, complete, listing, StoredBlobs(logdir))
        result["pixels"] = pixels
        log("  right pixels: %d layer-steps (first/middle/last step of %d layers x %d runs), "
            "%d blobs compared with the %s in %d requests: %s"
            % (pixels["layer_steps_checked"], len(pixels["tags"]), len(pixels["runs"]),
               pixels["blobs_compared"], " and ".join(pixels["sources"]) or "?",
               pixels["requests"],
               "all equal" if not pixels["problem_count"] else "PROBLEMS: %s" % pixels["problems"]))
        mem_browse = tree_memory(tb.process.pid)
        log("  browse all: %d of %d layer-steps served (%d /series + %d /blobs) in %s%s; "
            "server RSS %.0f MiB"
            % (browse["layer_steps_served"], browse["layer_steps_expected"], browse["tags"],
               browse["tags"], fmt_s(browse["seconds"]),
               "; PROBLEMS: %s" % browse["problems"] if browse["problems"] else "",
               mem_browse["rss_mb"]))
        time.sleep(1.0)
        mem_end = tree_memory(tb.process.pid)
        peak = sampler.stop()
        result["memory"] = {
            "ready": _mem_entry(mem_ready),
            "after_queries": _mem_entry(mem_queries),
            "after_browse": _mem_entry(mem_browse),
            "end": _mem_entry(mem_end),
            "peak": _mem_entry(peak),
            "peak_samples": sampler.samples,
            "sum_vmhwm_mb": round(mem_end["hwm_mb"], 1),
        }
        log("  peak sampled RSS %.0f MiB (%d samples), sum of peaks (VmHWM) %.0f MiB"
            % (peak["rss_mb"], sampler.samples, mem_end["hwm_mb"]))
    except Exception as e:
        result["error"] = "%s: %s" % (type(e).__name__, e)
        log("  FAILED: %s" % result["error"])
    finally:
        sampler.stop()
        tb.stop()
    return result


def measure_empty(load_fast, work, settle_s=3.0):
    """RSS of the same TensorBoard on an empty log dir, once it serves /runs."""
    empty = tempfile.mkdtemp(prefix="empty_", dir=work)
    tb = TensorBoard(empty, load_fast, os.path.join(work, "tensorboard_empty_%s.log" % load_fast))
    try:
        deadline = time.perf_counter() + 180
        while True:
            if not tb.alive():
                raise RuntimeError("tensorboard exited early (code %s)" % tb.process.returncode)
            if time.perf_counter() > deadline:
                raise TimeoutError("tensorboard on an empty log dir not serving after 180 s")
            try:
                if tb.json("runs")["runs"] == [] and (
                        load_fast != "true" or len(process_tree(tb.process.pid)) > 1):
                    break
            except _POLL_ERRORS:
                pass
            time.sleep(0.25)
        up_s = time.perf_counter() - tb.started
        for _ in range(15):
            tb.get("runs")
        time.sleep(settle_s)
        samples = []
        for _ in range(5):
            samples.append(tree_memory(tb.process.pid))
            time.sleep(0.4)
        samples.sort(key=lambda m: m["rss_mb"])
        mem = samples[len(samples) // 2]
        return dict(_mem_entry(mem), up_s=up_s)
    finally:
        tb.stop()
        shutil.rmtree(empty, ignore_errors=True)


# Log dirs ------------------------------------------------------------------------


# Stored map side of VGG16's 13 conv layers at the callback's defaults (<= 32 px);
# synthetic_logdir repeats them past 13 layers.
_MAP_SIDES = [32, 32, 28, 28, 28, 28, 28, 28, 28, 28, 14, 14, 14]


def estimate_bytes(runs, layers, steps, format_version, filters=49, images=8):
    """A generous estimate of a synthetic log dir's size, for the disk check (the
    PNG strips of synthetic_logdir take ~0.6 B per pixel; either format)."""
    per_step = sum(filters * images * (side * side * 0.75 + 30) + 3000
                   for side in (_MAP_SIDES[i % len(_MAP_SIDES)] for i in range(layers)))
    return runs * steps * per_step


def generate_logdir(path, runs, layers, steps, format_version, work, layer_event_summaries=False):
    """Writes a synthetic log dir (progress printed); returns its summary.
    `layer_event_summaries`: version 1 as written before December 2026."""
    need = estimate_bytes(runs, layers, steps, format_version)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    free = shutil.disk_usage(parent).free
    if free < need + 2e9:
        raise RuntimeError("not enough disk under %s: %s free, this log dir needs about %s (+2 GB "
                           "margin)" % (parent, fmt_bytes(free), fmt_bytes(need)))
    log("generating %s: %d runs x %d layers x %d steps, format %d (about %s; %s free)"
        % (path, runs, layers, steps, format_version, fmt_bytes(need), fmt_bytes(free)))
    err_path = os.path.join(work, "synthetic_%s.err" % os.path.basename(path))
    started = time.perf_counter()
    with open(err_path, "w") as err:
        process = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "synthetic_logdir.py"), "--out", path,
             "--layers", str(layers), "--steps", str(steps), "--runs", str(runs),
             "--format", str(format_version)]
            + (["--layer-event-summaries"] if layer_event_summaries else []),
            stdout=subprocess.PIPE, stderr=err, text=True,
        )
        last_print = 0.0
        summary = None
        for line in process.stdout:
            line = line.rstrip()
            if line.startswith("JSON "):
                summary = json.loads(line[5:])
            elif " steps (" in line:
                done, _, total = line.split(": ")[-1].partition("/")
                now = time.perf_counter()
                if total.split()[0] == str(steps) and done == str(steps) or now - last_print > 15:
                    log("  " + line.strip())
                    last_print = now
        if process.wait() != 0 or summary is None:
            with open(err_path) as f:
                tail = f.read()[-2000:]
            raise RuntimeError("synthetic_logdir.py failed (code %s): %s" % (process.returncode, tail))
    log("  wrote %s in %.0f s: event files %s, plugin files %s"
        % (fmt_bytes(summary["total_bytes"]), time.perf_counter() - started,
           fmt_bytes(summary["event_bytes"]), fmt_bytes(summary["plugin_bytes"])))
    with open(path + ".json", "w") as f:
        json.dump(summary, f)
    return summary


def reusable(path, runs, layers, steps, format_version, layer_event_summaries=False):
    """The saved summary of a log dir generated earlier with these parameters, or None."""
    try:
        with open(path + ".json") as f:
            summary = json.load(f)
    except (OSError, ValueError):
        return None
    if (len(summary["runs"]), len(summary["tags"]), summary["steps"], summary["format"],
            summary.get("layer_event_summaries", False)) != (
            runs, layers, steps, format_version, layer_event_summaries and format_version >= 1) \
            or not os.path.isdir(path):
        return None
    return summary


def describe_logdir(logdir):
    """Runs, layer tags, step count and sizes of an existing log dir (reads event files)."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.compat.proto import event_pb2

    runs, tags, steps, total, plugin = [], set(), 0, 0, 0
    for dirpath, _, files in sorted(os.walk(logdir)):
        events = [f for f in files if f.startswith("events.out.tfevents")]
        size = sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
        total += size
        if os.sep + os.path.join("plugins", "activations") in dirpath:
            plugin += size
        if not events:
            continue
        runs.append(os.path.relpath(dirpath, logdir))
        seen = {}
        for f in events:
            for event in event_file_loader.RawEventFileLoader(os.path.join(dirpath, f)).Load():
                e = event_pb2.Event.FromString(event)
                for v in e.summary.value:
                    if v.tag.startswith(LAYER_TAG_PREFIX):
                        tags.add(v.tag)
                        seen.setdefault(v.tag, set()).add(e.step)
        steps = max([steps] + [len(s) for s in seen.values()])
    return {"runs": runs, "tags": sorted(tags), "steps": steps, "total_bytes": total,
            "plugin_bytes": plugin, "event_bytes": total - plugin, "format": None}


# Main ----------------------------------------------------------------------------


def case_sizes(args):
    sizes = {}
    for name in CASE_ORDER:
        spec = dict(CASES[name])
        quick = spec.pop("quick")
        if args.quick:
            spec.update(quick)
        if name == "default":
            for key in ("runs", "layers", "steps"):
                if getattr(args, key) is not None:
                    spec[key] = getattr(args, key)
        sizes[name] = spec
    return sizes


def run_case(name, spec, args, root, work, formats):
    """Generates (or reuses) the case's log dirs and measures every loader on each."""
    case = {"name": name, "runs": spec["runs"], "layers": spec["layers"], "steps": spec["steps"],
            "layer_steps": spec["runs"] * spec["layers"] * spec["steps"], "formats": {}}
    log("\n=== case %s: %d runs x %d layers x %d steps = %d layer-steps; formats %s"
        % (name, spec["runs"], spec["layers"], spec["steps"], case["layer_steps"],
           ", ".join("version %d" % f for f in formats)))
    made = []
    started = time.perf_counter()
    try:
        for fmt in formats:
            older = args.layer_event_summaries and fmt >= 1
            path = os.path.join(root, "%s_v%d%s" % (name, fmt, "_layer_events" if older else ""))
            summary = reusable(path, spec["runs"], spec["layers"], spec["steps"], fmt, older) \
                if args.reuse else None
            if summary is not None:
                log("reusing %s (generated earlier)" % path)
            else:
                if os.path.exists(path):
                    shutil.rmtree(path)
                made.append(path)
                summary = generate_logdir(path, spec["runs"], spec["layers"], spec["steps"], fmt,
                                          work, older)
            entry = {"event_bytes": summary["event_bytes"], "plugin_bytes": summary["plugin_bytes"],
                     "total_bytes": summary["total_bytes"], "modes": {}}
            case["formats"][str(fmt)] = entry
            for mode in args.modes:
                entry["modes"][mode] = bench_mode(path, mode, summary, args, work,
                                                  label="[%s, version %d] " % (name, fmt))
            if not args.keep:  # free the disk before the next format / case
                shutil.rmtree(path, ignore_errors=True)
                try:
                    os.remove(path + ".json")
                except OSError:
                    pass
    finally:
        if not args.keep:
            for path in made:
                shutil.rmtree(path, ignore_errors=True)
                try:
                    os.remove(path + ".json")
                except OSError:
                    pass
    case["seconds"] = time.perf_counter() - started
    return case


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASE_ORDER),
                        help="comma-separated cases among %s (default: all)" % ", ".join(CASE_ORDER))
    parser.add_argument("--layer-event-summaries", action="store_true",
                        help="generate version 1 as written before December 2026 (each layer-step's "
                             "summary in its event, every event with its metadata), to compare")
    parser.add_argument("--v0", default="default,long",
                        help="cases also measured in the previous format, version 0 (default: "
                             "default,long; 'none' for none; never the sweep)")
    parser.add_argument("--logdir", default=None,
                        help="measure this existing log dir instead of the synthetic cases")
    parser.add_argument("--out", default=None,
                        help="where to generate the log dirs (default: a new dir in /tmp, "
                             "removed at the end)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated log dirs (in --out) instead of removing them")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse log dirs a previous run kept in --out with --keep")
    parser.add_argument("--layers", type=int, default=None, help="the default case's layers (13)")
    parser.add_argument("--steps", type=int, default=None, help="the default case's steps (300)")
    parser.add_argument("--runs", type=int, default=None, help="the default case's runs (2)")
    parser.add_argument("--requests", type=int, default=15,
                        help="requests per route for the latency medians (/series: a third)")
    parser.add_argument("--load_fast", default="true,false",
                        help="comma-separated --load_fast values to measure")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds to wait for tensorboard to serve everything")
    parser.add_argument("--samples", type=int, default=None,
                        help="pass --samples_per_plugin=activations=N to tensorboard (default: "
                             "the plugin's own default) and expect min(N, steps) steps")
    parser.add_argument("--budget-mib", type=float, default=300,
                        help="the fixed part of the memory claim (MiB over the empty log dir)")
    parser.add_argument("--index-bytes", type=float, default=1024,
                        help="the per-layer-step part of the memory claim (bytes)")
    parser.add_argument("--quick", action="store_true",
                        help="small cases: default 2 x 13 x 30, long 2 x 13 x 100, sweep "
                             "4 x 16 x 30; no second empty-log-dir measure")
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.load_fast.split(",") if m.strip()]
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown and not args.logdir:
        parser.error("unknown case(s) %s: choose among %s" % (unknown, ", ".join(CASE_ORDER)))
    v0 = set() if args.v0.strip() in ("", "none") else {c.strip() for c in args.v0.split(",")}

    started = time.perf_counter()
    work = tempfile.mkdtemp(prefix="tb_actviz_bench_plugin_")
    root = args.out or tempfile.mkdtemp(prefix="tb_actviz_bench_logdirs_", dir="/tmp")
    os.makedirs(root, exist_ok=True)
    results = {"empty": {}, "cases": [], "samples_per_plugin": args.samples,
               "budget_mib": args.budget_mib, "index_bytes": args.index_bytes,
               "quick": args.quick, "notes": []}
    log("log dirs under %s (%s free); work files in %s"
        % (root, fmt_bytes(shutil.disk_usage(root).free), work))
    if args.layer_event_summaries:
        results["notes"].append(
            "version 1 written as before December 2026 (--layer-event-summaries): each layer-step's "
            "summary in its own event, every event with its metadata")
    try:
        for mode in args.modes:
            log("\nempty log dir, --load_fast=%s" % mode)
            e = measure_empty(mode, work)
            results["empty"][mode] = {"start": e}
            log("  serving after %s; server RSS %.0f MiB %s"
                % (fmt_s(e["up_s"]), e["rss_mb"], e["processes_mb"]))
        if args.logdir:
            summary = describe_logdir(args.logdir)
            log("measuring %s: %d runs, %d layer tags, %d steps, event files %s, plugin files %s"
                % (args.logdir, len(summary["runs"]), len(summary["tags"]), summary["steps"],
                   fmt_bytes(summary["event_bytes"]), fmt_bytes(summary["plugin_bytes"])))
            case = {"name": "logdir", "runs": len(summary["runs"]), "layers": len(summary["tags"]),
                    "steps": summary["steps"], "formats": {},
                    "layer_steps": len(summary["runs"]) * len(summary["tags"]) * summary["steps"]}
            entry = {"event_bytes": summary["event_bytes"], "plugin_bytes": summary["plugin_bytes"],
                     "total_bytes": summary["total_bytes"], "modes": {}}
            case["formats"]["?"] = entry
            for mode in args.modes:
                entry["modes"][mode] = bench_mode(args.logdir, mode, summary, args, work)
            results["cases"].append(case)
        else:
            sizes = case_sizes(args)
            for name in [c for c in CASE_ORDER if c in cases]:
                formats = [1]
                if name in V0_REFUSED:
                    results["notes"].append(V0_REFUSED[name])
                    log(V0_REFUSED[name])
                elif name in v0:
                    formats.append(0)
                results["cases"].append(run_case(name, sizes[name], args, root, work, formats))
        if not args.quick:
            for mode in args.modes:
                log("\nempty log dir again, --load_fast=%s" % mode)
                e = measure_empty(mode, work)
                results["empty"][mode]["end"] = e
                log("  server RSS %.0f MiB %s" % (e["rss_mb"], e["processes_mb"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep and not args.out:
            shutil.rmtree(root, ignore_errors=True)
    for mode, e in results["empty"].items():
        # The lower of the two empty measures: the stricter baseline.
        measured = [x for x in (e.get("start"), e.get("end")) if x]
        e["rss_mb"] = min(x["rss_mb"] for x in measured)
        e["anon_mb"] = min(x["anon_mb"] for x in measured)
        e["processes_anon_mb"] = {
            name: min(x["processes_anon_mb"].get(name, 0) for x in measured)
            for name in measured[0]["processes_anon_mb"]}
    results["wall_s"] = time.perf_counter() - started
    analyse(results)
    report(results)
    print("JSON " + json.dumps(results, sort_keys=True), flush=True)
    failed = [m for c in results["cases"] for f in c["formats"].values()
              for m in f["modes"].values() if "error" in m or m.get("browse", {}).get("problems")
              or m.get("pixels", {}).get("problem_count")]
    return 1 if failed else 0


# Analysis and report ----------------------------------------------------------


def _fit(points):
    """Least squares y = a + b x over [(x, y)]: (a, b), or None for < 2 distinct x."""
    if len({x for x, _ in points}) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    b = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    return my - b * mx, b


def analyse(r):
    """Adds the claim's numbers to every measured mode, and the fits over cases."""
    fits = {}
    for case in r["cases"]:
        for fmt, entry in case["formats"].items():
            for mode, m in entry["modes"].items():
                if "memory" not in m or mode not in r["empty"]:
                    continue
                empty = r["empty"][mode]["rss_mb"]
                mem = m["memory"]
                worst = max(mem["peak"]["rss_mb"], mem["end"]["rss_mb"],
                            mem["after_browse"]["rss_mb"])
                over = worst - empty
                limit = r["budget_mib"] + case["layer_steps"] * r["index_bytes"] / MIB
                anon_empty = r["empty"][mode]["anon_mb"]
                anon_worst = max(mem["peak"]["anon_mb"], mem["end"]["anon_mb"],
                                 mem["after_browse"]["anon_mb"])
                m["claim"] = {
                    "anon_empty_mb": anon_empty,
                    "anon_over_empty_mb": anon_worst - anon_empty,
                    "anon_bytes_per_layer_step": (anon_worst - anon_empty) * MIB
                    / case["layer_steps"],
                    "empty_mb": empty,
                    "worst_rss_mb": worst,
                    "over_empty_mb": over,
                    "over_empty_after_browse_mb": mem["after_browse"]["rss_mb"] - empty,
                    "over_empty_ready_mb": mem["ready"]["rss_mb"] - empty,
                    "bytes_per_layer_step": over * MIB / case["layer_steps"],
                    "limit_over_empty_mb": limit,
                    "met": over <= limit and m["browse"]["layer_steps_served"]
                    == m["browse"]["layer_steps_expected"] and not m["browse"]["problems"]
                    and not m.get("pixels", {}).get("problem_count", 1),
                }
                if fmt == "1":
                    for what in ("ready", "after_browse"):
                        fits.setdefault((mode, what), []).append(
                            (case["layer_steps"], (mem[what]["rss_mb"] - empty) * MIB))
                        fits.setdefault((mode, what + "_anon"), []).append(
                            (case["layer_steps"], (mem[what]["anon_mb"] - anon_empty) * MIB))
    r["fits"] = {}
    for (mode, what), points in sorted(fits.items()):
        fit = _fit(points)
        if fit:
            r["fits"].setdefault(mode, {})[what] = {
                "fixed_mb": fit[0] / MIB, "bytes_per_layer_step": fit[1], "points": points}


def _mib(x):
    return "%.0f" % x


def report(r):
    for case in r["cases"]:
        title = ("case %s: %d runs x %d layers x %d steps = %d layer-steps"
                 % (case["name"], case["runs"], case["layers"], case["steps"], case["layer_steps"]))
        mem_rows, speed_rows = [], []
        for mode in r["empty"]:
            for fmt, entry in sorted(case["formats"].items(), reverse=True):
                m = entry["modes"].get(mode)
                if m is None:
                    continue
                label = ["--load_fast=%s" % mode, fmt]
                if "error" in m:
                    mem_rows.append(label + ["FAILED: " + m["error"]] + [""] * 10)
                    speed_rows.append(label + ["FAILED"] + [""] * 9)
                    continue
                mem, c = m["memory"], m["claim"]
                mem_rows.append(label + [
                    fmt_bytes(entry["event_bytes"]), fmt_bytes(entry["plugin_bytes"]),
                    _mib(c["empty_mb"]), _mib(mem["ready"]["rss_mb"]),
                    _mib(mem["after_browse"]["rss_mb"]), _mib(c["worst_rss_mb"]),
                    _mib(c["over_empty_mb"]), "%.0f" % c["bytes_per_layer_step"],
                    "<= %.0f" % c["limit_over_empty_mb"],
                    "ok" if c["met"] else "MISSED",
                    "%s (%.0f B)" % (_mib(c["anon_over_empty_mb"]), c["anon_bytes_per_layer_step"]),
                ])
                lat, b, px = m["latency"], m["browse"], m.get("pixels")
                speed_rows.append(label + [
                    fmt_s(m["layers_listed_s"]), fmt_s(m["ready_s"]),
                    "%d/%d in %s" % (b["layer_steps_served"], b["layer_steps_expected"],
                                     fmt_s(b["seconds"])),
                    ("%d/%d equal" % (px["layer_steps_checked"] - px["problem_count"],
                                      px["layer_steps_checked"])) if px else "-",
                    fmt_s(lat["runs"]["median_s"]), fmt_s(lat["steps"]["median_s"]),
                    fmt_s(lat["steps_again"]["median_s"]), fmt_s(lat["blob"]["median_s"]),
                    fmt_s(lat["blobs"]["median_s"]), fmt_s(lat["series"]["median_s"]),
                ])
        print_table(
            title + ": memory in MiB (RSS of tensorboard + its data server; 'worst' = highest "
            "of the 0.2 s samples and after browsing)",
            ["loader", "format", "event files", "plugin files", "RSS empty dir", "RSS ready",
             "RSS after browse-all", "RSS worst", "worst - empty", "B / layer-step",
             "claim: %.0f MiB + %.0f B/layer-step" % (r["budget_mib"], r["index_bytes"]), "",
             "heap (RssAnon) worst - empty (B/layer-step)"],
            mem_rows)
        # Where it is: each process over its own empty-log-dir heap.
        rows = []
        for mode in r["empty"]:
            for fmt, entry in sorted(case["formats"].items(), reverse=True):
                m = entry["modes"].get(mode)
                if not m or "memory" not in m:
                    continue
                base = r["empty"][mode]["processes_anon_mb"]
                for proc in sorted(m["memory"]["ready"]["processes_anon_mb"]):
                    rows.append(["--load_fast=%s" % mode, fmt, proc, _mib(base.get(proc, 0))] + [
                        _mib(m["memory"][when]["processes_anon_mb"].get(proc, 0) - base.get(proc, 0))
                        for when in ("ready", "after_queries", "after_browse")] + [
                        "%.0f" % ((m["memory"]["ready"]["processes_anon_mb"].get(proc, 0)
                                   - base.get(proc, 0)) * MIB / case["layer_steps"])])
        print_table(
            title + ": heap (RssAnon, MiB) of each process over the same process on the empty "
            "log dir",
            ["loader", "format", "process", "empty", "ready", "after queries", "after browse-all",
             "ready: B / layer-step"], rows)
        any_mode = next((m for f in case["formats"].values() for m in f["modes"].values()
                         if "latency" in m), None)
        print_table(
            title + ": speed (latency = median; noisy shared 2-core machine)",
            ["loader", "format", "runs listed", "all steps", "browse-all layer-steps", "right pixels (layer-steps)",
             "/runs", "/steps (new tag)", "/steps (again)", "/blob",
             "/blobs (%s filters)" % (any_mode["blobs_filters"] if any_mode else "?"),
             "/series (%s steps)" % (any_mode["series_steps"] if any_mode else "?")],
            speed_rows)
    # Version 0 against version 1, same case, same run.
    rows = []
    for case in r["cases"]:
        if "0" not in case["formats"] or "1" not in case["formats"]:
            continue
        for mode in r["empty"]:
            m0 = case["formats"]["0"]["modes"].get(mode, {})
            m1 = case["formats"]["1"]["modes"].get(mode, {})
            if "claim" not in m0 or "claim" not in m1:
                continue
            c0, c1 = m0["claim"], m1["claim"]
            rows.append([case["name"], "--load_fast=%s" % mode,
                         fmt_bytes(case["formats"]["0"]["event_bytes"]),
                         fmt_bytes(case["formats"]["1"]["event_bytes"]),
                         _mib(c0["worst_rss_mb"]), _mib(c1["worst_rss_mb"]),
                         "%.2fx" % (c1["worst_rss_mb"] / c0["worst_rss_mb"]),
                         _mib(c0["over_empty_mb"]), _mib(c1["over_empty_mb"]),
                         "%.1fx" % (c0["over_empty_mb"] / max(c1["over_empty_mb"], 1e-9)),
                         "%s / %s" % (fmt_s(m0["ready_s"]), fmt_s(m1["ready_s"]))])
    if rows:
        print_table(
            "RSS against today's (version 0) format on the same log dir in the same run (MiB)",
            ["case", "loader", "v0 event files", "v1 event files", "v0 RSS worst",
             "v1 RSS worst", "v1 / v0", "v0 - empty", "v1 - empty", "(v0-empty)/(v1-empty)",
             "all steps v0 / v1"], rows)
    for note in r["notes"]:
        print("  " + note)
    # Fits.
    rows = []
    for mode, fits in r["fits"].items():
        for what, f in fits.items():
            rows.append(["--load_fast=%s" % mode,
                         what.replace("_anon", " (heap)").replace("_", " "),
                         "%.0f" % f["bytes_per_layer_step"], "%.0f" % f["fixed_mb"],
                         ", ".join("%d: %.0f" % (x, y / MIB) for x, y in f["points"])])
    if rows:
        print_table(
            "Version 1: RSS - empty = fixed + slope x layer-steps (least squares over the cases; "
            "'ready' = the loaders' index before any pixel is read, 'after browse' adds the "
            "plugin's filled caches)",
            ["loader", "when", "slope B / layer-step", "fixed MiB",
             "points (layer-steps: MiB over empty)"], rows)
    empties = ", ".join(
        "--load_fast=%s %s MiB (heap %s)" % (mode, " then ".join(
            "%.0f" % e[k]["rss_mb"] for k in ("start", "end") if k in e), " then ".join(
            "%.0f" % e[k]["anon_mb"] for k in ("start", "end") if k in e))
        for mode, e in r["empty"].items())
    print("\nempty log dir RSS (start of run, end of run; the lower is the baseline): %s"
          % empties)
    verdicts = [(c["name"], f, mode, m["claim"]["met"]) for c in r["cases"]
                for f, e in c["formats"].items() if f != "0"
                for mode, m in e["modes"].items() if "claim" in m]
    print("claim (version 1, RSS <= empty + %.0f MiB + %.0f B x layer-steps, every step "
          "served): %s" % (r["budget_mib"], r["index_bytes"],
                           ", ".join("%s/load_fast=%s %s" % (c, mode, "ok" if ok else "MISSED")
                                     for c, f, mode, ok in verdicts) or "-"))
    print("wall time %.0f s" % r["wall_s"], flush=True)


if __name__ == "__main__":
    sys.exit(main())
