"""Plugin-side cost of tb_actviz at scale: a real `tensorboard` serving a big log dir.

For `--load_fast=true` (the Rust data server) and `--load_fast=false` (the
Python loader), on a synthetic log dir of VGG16's 13 conv layers x 300 steps x
2 runs at the callback's defaults (benchmarks/synthetic_logdir.py), measures:

- ready time: from starting `tensorboard` until `/runs` lists all layers of
  every run and `/steps` returns every step of every layer tag (polled);
- latency medians of `/runs`, `/steps`, `/blob` (one strip), `/blobs` (a
  grid of every filter of one step) and `/series` (one filter over all steps);
- the server's memory: RSS of the `tensorboard` process plus its children
  (the Rust `tensorboard_data_server`), from /proc/<pid>/status, when ready,
  after the queries, and the sum of each process's peak (VmHWM).

Prints a table and one JSON line. Talks to 127.0.0.1 only, and stops every
process it started.

    python benchmarks/bench_plugin.py                      # generates the log dir
    python benchmarks/bench_plugin.py --logdir /tmp/synth  # reuses one
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from report import fmt_s, print_table  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = "127.0.0.1"
PREFIX = "/data/plugin/activations/"
LAYER_TAG_PREFIX = "actviz/layers/"

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
    """{'rss_mb': total VmRSS, 'hwm_mb': sum of VmHWM, 'processes': {name: rss_mb}}."""
    pids = process_tree(pid)
    per = {}
    rss = hwm = 0
    for p in pids:
        r = _status_kb(p, "VmRSS")
        rss += r
        hwm += _status_kb(p, "VmHWM")
        name = _comm(p)
        per[name] = per.get(name, 0) + r / 1024.0
    return {"rss_mb": rss / 1024.0, "hwm_mb": hwm / 1024.0, "processes": per}


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


def wait_ready(tb, expected_runs, expected_tags, steps, timeout, sample_memory):
    """Polls until every run lists every tag and every tag serves `steps` steps."""
    deadline = time.perf_counter() + timeout
    first_listed = None
    peak = {"rss_mb": 0.0}
    complete = {}
    while time.perf_counter() < deadline:
        if not tb.alive():
            raise RuntimeError("tensorboard exited early (code %s)" % tb.process.returncode)
        mem = sample_memory()
        if mem["rss_mb"] > peak["rss_mb"]:
            peak = mem
        try:
            runs = {r["run"]: r for r in tb.json("runs")["runs"]}
        except (urllib.error.URLError, ConnectionError, OSError, ValueError):
            time.sleep(0.25)
            continue
        listed = all(
            run in runs and {l["tag"] for l in runs[run]["layers"]} >= set(expected_tags)
            for run in expected_runs
        )
        if listed and first_listed is None:
            first_listed = time.perf_counter() - tb.started
        if listed:
            for run in expected_runs:
                for tag in expected_tags:
                    if complete.get((run, tag)):
                        continue
                    try:
                        got = tb.json("steps", {"run": run, "tag": tag})["steps"]
                    except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                        got = []
                    if len(got) >= steps:
                        complete[(run, tag)] = got
            if len(complete) == len(expected_runs) * len(expected_tags):
                return time.perf_counter() - tb.started, first_listed, complete, peak
        time.sleep(0.25)
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


def bench_mode(logdir, load_fast, summary, args, work):
    runs, tags, steps = summary["runs"], summary["tags"], summary["steps"]
    log("\n--load_fast=%s: starting tensorboard" % load_fast)
    extra = ["--samples_per_plugin=activations=%d" % args.samples] if args.samples else []
    served_steps = min(steps, args.samples) if args.samples else steps
    tb = TensorBoard(logdir, load_fast, os.path.join(work, "tensorboard_%s.log" % load_fast),
                     extra)
    result = {"load_fast": load_fast}
    try:
        ready_s, listed_s, complete, peak = wait_ready(
            tb, runs, tags, served_steps, args.timeout, lambda: tree_memory(tb.process.pid))
        result["ready_s"] = ready_s
        result["layers_listed_s"] = listed_s
        mem_ready = tree_memory(tb.process.pid)
        log("  ready in %.1f s (layers listed at %.1f s); server RSS %.0f MB %s"
            % (ready_s, listed_s, mem_ready["rss_mb"],
               {k: round(v) for k, v in mem_ready["processes"].items()}))
        rng = random.Random(0)
        run, tag = runs[0], tags[0]  # block1_conv1: the largest strips
        step_list = complete[(run, tag)]
        n = args.requests

        layer = next(l for r in tb.json("runs")["runs"] if r["run"] == run
                     for l in r["layers"] if l["tag"] == tag)
        filters = len(layer["filterIndices"])  # blobs 1..filters of a layer step

        def pick_step():
            return step_list[rng.randrange(len(step_list))]

        def blob(i):
            s = pick_step()
            return tb.get("blob", {"run": run, "tag": tag, "step": s["step"],
                                   "index": 1 + rng.randrange(filters), "wall_time": s["wallTime"]})

        def blobs(i):
            s = pick_step()
            return tb.get("blobs", {"run": run, "tag": tag, "step": s["step"],
                                    "indices": "1-%d" % filters, "wall_time": s["wallTime"]})

        def series(i):
            return tb.get("series", {"run": run, "tag": tag, "index": 1 + rng.randrange(filters)})

        def steps_route(i):  # a tag the plugin has not served yet, as a first look does
            return tb.get("steps", {"run": runs[i % len(runs)], "tag": tags[i % len(tags)]})

        def steps_again(i):  # the tab polling the tag on screen
            return tb.get("steps", {"run": run, "tag": tag})

        latency = {}
        for name, fn, count in (
            ("runs", lambda i: tb.get("runs"), n),
            ("steps", steps_route, n),
            ("steps_again", steps_again, n),
            ("blob", blob, n),
            ("blobs", blobs, n),
            ("series", series, max(3, n // 3)),
        ):
            latency[name] = measure_latency(tb, fn, count)
            log("  /%-7s median %s (min %s, max %s), %d B, n=%d"
                % (name, fmt_s(latency[name]["median_s"]), fmt_s(latency[name]["min_s"]),
                   fmt_s(latency[name]["max_s"]), latency[name]["bytes"], count))
        result["latency"] = latency
        mem_after = tree_memory(tb.process.pid)
        result["memory"] = {
            "rss_ready_mb": mem_ready["rss_mb"],
            "rss_after_queries_mb": mem_after["rss_mb"],
            "peak_sampled_rss_mb": max(peak["rss_mb"], mem_after["rss_mb"]),
            "sum_vmhwm_mb": mem_after["hwm_mb"],
            "processes_after_queries_mb": {k: round(v, 1)
                                           for k, v in mem_after["processes"].items()},
        }
        log("  server RSS after queries %.0f MB, sum of peaks (VmHWM) %.0f MB"
            % (mem_after["rss_mb"], mem_after["hwm_mb"]))
    except Exception as e:
        result["error"] = "%s: %s" % (type(e).__name__, e)
        log("  FAILED: %s" % result["error"])
    finally:
        tb.stop()
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default=None,
                        help="reuse this synthetic log dir (else one is generated)")
    parser.add_argument("--out", default=None,
                        help="where to generate the log dir (default: a temporary dir, "
                             "removed at the end)")
    parser.add_argument("--layers", type=int, default=13)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--requests", type=int, default=15,
                        help="requests per route for the latency medians (/series: a third)")
    parser.add_argument("--load_fast", default="true,false",
                        help="comma-separated --load_fast values to measure")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds to wait for tensorboard to serve everything")
    parser.add_argument("--samples", type=int, default=None,
                        help="pass --samples_per_plugin=activations=N to tensorboard (default: "
                             "the plugin's own default) and expect min(N, steps) steps")
    parser.add_argument("--quick", action="store_true",
                        help="a small log dir (13 layers x 30 steps x 2 runs)")
    args = parser.parse_args(argv)
    if args.quick and not args.logdir:
        args.steps = min(args.steps, 30)

    started = time.perf_counter()
    work = tempfile.mkdtemp(prefix="tb_actviz_bench_plugin_")
    try:
        if args.logdir and os.path.isdir(args.logdir):
            logdir = args.logdir
            summary = describe_logdir(logdir)
            log("reusing %s: %d runs, %d layer tags, %d steps, %.2f GB"
                % (logdir, len(summary["runs"]), len(summary["tags"]), summary["steps"],
                   summary["total_bytes"] / 1e9))
        else:
            logdir = args.logdir or args.out or os.path.join(work, "logdir")
            log("generating %s (%d layers x %d steps x %d runs)"
                % (logdir, args.layers, args.steps, args.runs))
            out = subprocess.run(
                [sys.executable, os.path.join(HERE, "synthetic_logdir.py"), "--out", logdir,
                 "--layers", str(args.layers), "--steps", str(args.steps),
                 "--runs", str(args.runs)],
                check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            ).stdout
            summary = json.loads([l for l in out.splitlines() if l.startswith("JSON ")][-1][5:])
            log("  %.2f GB in %.0f s (%.1f MB per step, all layers)"
                % (summary["total_bytes"] / 1e9, summary["seconds"],
                   summary["bytes_per_step"] / 1e6))
        results = {"logdir_bytes": summary["total_bytes"], "runs": len(summary["runs"]),
                   "samples_per_plugin": args.samples,
                   "layers": len(summary["tags"]), "steps": summary["steps"], "modes": {}}
        for mode in [m.strip() for m in args.load_fast.split(",") if m.strip()]:
            results["modes"][mode] = bench_mode(logdir, mode, summary, args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["wall_s"] = time.perf_counter() - started
    report(results)
    print("JSON " + json.dumps(results, sort_keys=True), flush=True)
    return 0 if all("error" not in m for m in results["modes"].values()) else 1


def describe_logdir(logdir):
    """Runs, layer tags and step count of an existing log dir (reads event files)."""
    from tensorboard.backend.event_processing import event_file_loader

    runs, tags, steps, total = [], set(), 0, 0
    for dirpath, _, files in sorted(os.walk(logdir)):
        events = [f for f in files if f.startswith("events.out.tfevents")]
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
        if not events:
            continue
        runs.append(os.path.relpath(dirpath, logdir))
        seen = {}
        for f in events:
            for event in event_file_loader.RawEventFileLoader(os.path.join(dirpath, f)).Load():
                from tensorboard.compat.proto import event_pb2

                e = event_pb2.Event.FromString(event)
                for v in e.summary.value:
                    if v.tag.startswith(LAYER_TAG_PREFIX):
                        tags.add(v.tag)
                        seen.setdefault(v.tag, set()).add(e.step)
        steps = max([steps] + [len(s) for s in seen.values()])
    return {"runs": runs, "tags": sorted(tags), "steps": steps, "total_bytes": total}


def report(r):
    rows = []
    for mode, m in r["modes"].items():
        if "error" in m:
            rows.append(["--load_fast=%s" % mode, "FAILED: " + m["error"]] + [""] * 9)
            continue
        lat = m["latency"]
        mem = m["memory"]
        rows.append([
            "--load_fast=%s" % mode,
            fmt_s(m["layers_listed_s"]), fmt_s(m["ready_s"]),
            fmt_s(lat["runs"]["median_s"]), fmt_s(lat["steps"]["median_s"]),
            fmt_s(lat["steps_again"]["median_s"]),
            fmt_s(lat["blob"]["median_s"]), fmt_s(lat["blobs"]["median_s"]),
            fmt_s(lat["series"]["median_s"]),
            "%.0f MB" % mem["rss_ready_mb"],
            "%.0f MB" % max(mem["rss_after_queries_mb"], mem["peak_sampled_rss_mb"]),
            "%s" % ("ok" if mem["peak_sampled_rss_mb"] < 2048 else "MISSED"),
        ])
    print_table(
        "TensorBoard serving %d runs x %d layers x %d steps (%.2f GB of event files)%s; "
        "latency = median" % (r["runs"], r["layers"], r["steps"], r["logdir_bytes"] / 1e9,
                              ", --samples_per_plugin=activations=%d" % r["samples_per_plugin"]
                              if r.get("samples_per_plugin") else ""),
        ["mode", "layers listed", "all steps", "/runs", "/steps (new tag)", "/steps (again)",
         "/blob", "/blobs (grid)",
         "/series (%d)" % min(r["steps"], r.get("samples_per_plugin") or r["steps"]),
         "RSS ready", "RSS peak", "< 2 GB"],
        rows,
    )
    for mode, m in r["modes"].items():
        if "memory" in m:
            print("  --load_fast=%s processes after queries (MB): %s"
                  % (mode, m["memory"]["processes_after_queries_mb"]))
    print("\nwall time %.0f s" % r["wall_s"], flush=True)


if __name__ == "__main__":
    sys.exit(main())
