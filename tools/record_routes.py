"""Records what every route of the Activations plugin answers on one log dir,
so that a refactor of the read side can be shown to change no answer.

    python tools/record_routes.py --logdir DIR --out OUT.json [--load_fast true|false]
        [--expect_package DIR] [--settle SECONDS] [--tensorboard_log PATH]

Starts a real `tensorboard --logdir DIR --load_fast=...` (the executable next to
this interpreter) on a free port of 127.0.0.1, waits until `/runs` and every
tag's `/steps` stop changing, then requests every route of docs/http_api.md
for every run and tag (`/runs`, `/steps`, `/blob` for every served and skipped
step and every blob index plus one past the end, with and without the right
`wall_time` and with a wrong one, `/blobs`, `/series` for every index plus one
past the end, `/summaries`), the static files, and malformed requests; writes

    {"<path>?<query>": [status, content_type, sha256(body), head, cache_control]}

as sorted JSON, `head` the first 200 bytes of the body (UTF-8, backslash
escapes) when the status is not 200, else null. Every request is built from
the log dir's own data (runs, tags, steps, wall times), so two recordings of
one log dir by the same code are identical.

Which `tb_actviz` TensorBoard imports is the one this interpreter imports
under the same environment (PYTHONPATH wins over the editable install):
printed on stderr, and checked with `--expect_package`.

Compare two recordings with tools/compare_routes.py. Standard library only.
"""

import argparse
import hashlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

PREFIX = "/data/plugin/activations/"
READY_DEADLINE = 300  # seconds for tensorboard to list the plugin / settle
HEAD_BYTES = 200
# Prints the file of the module that TensorBoard's entry point names.
PLUGIN_MODULE_FILE = """
import importlib, importlib.metadata as m
(ep,) = [e for e in m.entry_points(group="tensorboard_plugins") if e.name == "activations"]
print(importlib.import_module(ep.module).__file__)
"""


# TensorBoard process (after tests/support/tensorboard_process.py's TensorBoardProcess)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tensorboard_executable():
    path = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    return path if os.path.exists(path) else "tensorboard"


class TensorBoard:
    def __init__(self, logdir, load_fast, log_path):
        self.logdir = logdir
        self.load_fast = load_fast
        self.log_path = log_path
        self.process = None
        self.port = None

    def start(self):
        for _ in range(3):
            self.port = free_port()
            args = [tensorboard_executable(), "--logdir", self.logdir, "--port", str(self.port),
                    "--host", "127.0.0.1", "--load_fast=%s" % self.load_fast]
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)
            if self._wait_listening():
                return self
            if "address already in use" not in self.output().lower():
                break
            self.stop()
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
            except (OSError, ValueError):
                pass
            time.sleep(0.3)
        return False

    def output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-5000:]
        except OSError:
            return ""

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        # Our own process group (start_new_session): the Rust data server goes with it.
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def get(self, path):
        """GET a path with its query as given: (status, headers, body)."""
        url = "http://127.0.0.1:%d%s" % (self.port, path)
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()


# Requests --------------------------------------------------------------------


def query(route, params):
    """`PREFIX + route` with `params` (a list of pairs, in order) percent-encoded."""
    path = PREFIX + route
    if params:
        path += "?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    return path


def json_of(server, path):
    status, _, body = server.get(path)
    if status != 200:
        return None
    return json.loads(body)


def tags_of(run):
    """[(tag, blob count)] of one run of /runs, from its metadata."""
    tags = []
    if run.get("probe"):
        tags.append((run["probe"]["tag"], int(run["probe"]["numImages"])))
    for layer in run.get("layers", []):
        tags.append((layer["tag"], 1 + len(layer["filterIndices"])))
    for kernel in run.get("kernels", []):
        tags.append((kernel["tag"], 2))  # docs/format.md: [F, 2] ranges, one PNG
    for attribution in run.get("attributions", []):
        tags.append((attribution["tag"], 2))  # the record, the strip
    return tags


def all_tags(runs_json):
    """[(run, tag, blob count or None)] of every listed and unreadable tag."""
    out = []
    for run in runs_json.get("runs", []):
        for tag, count in tags_of(run):
            out.append((run["run"], tag, count))
    for u in runs_json.get("unreadable", []):
        out.append((u["run"], u["tag"], None))
    return out


def snapshot(server):
    """What /runs and every tag's /steps answer now (bodies), or None."""
    status, _, runs_body = server.get(PREFIX + "runs")
    if status != 200:
        return None
    runs_json = json.loads(runs_body)
    steps = []
    for run, tag, _ in all_tags(runs_json):
        status, _, body = server.get(query("steps", [("run", run), ("tag", tag)]))
        steps.append((run, tag, status, body))
    return runs_body, steps


def wait_settled(server, settle, poll=1.0):
    """Polls until /runs and every /steps answer the same for `settle` seconds
    (longer than TensorBoard's 5 s reload interval) and list some run."""
    deadline = time.monotonic() + READY_DEADLINE
    last, since = None, None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError("tensorboard exited:\n%s" % server.output())
        try:
            now = snapshot(server)
        except (OSError, ValueError):
            now = None
        if now is not None and json.loads(now[0]).get("runs"):
            if now == last:
                if time.monotonic() - since >= settle:
                    return now
            else:
                last, since = now, time.monotonic()
        time.sleep(poll)
    raise RuntimeError("tensorboard never settled:\n%s" % server.output())


def static_files():
    """The front end's files, from the tb_actviz this interpreter imports."""
    spec = importlib.util.find_spec("tb_actviz")
    folder = os.path.join(os.path.dirname(spec.origin), "frontend")
    names = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            names.append(os.path.relpath(os.path.join(dirpath, name), folder).replace(os.sep, "/"))
    return sorted(names)


def malformed(run, tag, step):
    """Requests that must answer 400 or 404 (and never 500)."""
    r = [("run", run)]
    t = [("tag", tag)]
    s = str(step)
    out = []
    for route in ("steps", "blob", "blobs", "series", "summaries"):
        extra = {"steps": [], "blob": [("step", s), ("index", "0")],
                 "blobs": [("step", s), ("indices", "0")], "series": [("index", "0")],
                 "summaries": []}[route]
        out.append(query(route, t + extra))  # no run
        out.append(query(route, r + extra))  # no tag
        out.append(query(route, [("run", "no such run")] + t + extra))
        out.append(query(route, r + [("tag", "actviz/layers/no such tag")] + extra))
        out.append(query(route, [("run", "")] + t + extra))
    for bad in ("", "abc", "-1", "+1", "1.0", " 1", "0x1", "\u0661", "99999999999999999999",
                "9007199254740993", "123456789"):
        out.append(query("blob", r + t + [("step", bad), ("index", "0")]))
        out.append(query("blobs", r + t + [("step", bad), ("indices", "0")]))
    for bad in ("", "-1", "abc", "1.5", "\u0661", "99999999999999999999", "4096"):
        out.append(query("blob", r + t + [("step", s), ("index", bad)]))
        out.append(query("series", r + t + [("index", bad)]))
    out.append(query("blob", r + t + [("step", s)]))  # no index
    out.append(query("blobs", r + t + [("step", s)]))  # no indices
    out.append(query("series", r + t))  # no index
    for bad in ("", ",", "-1", "0,-1", "2-0", "0-", "-", "a", "0,,1", "0-1024", "0-1023",
                "0-99999999999999999999", "0," * 4097, "\u0661"):
        out.append(query("blobs", r + t + [("step", s), ("indices", bad)]))
    for bad in ("abc", "nan", "inf", "-1", "0", "1e400", ""):
        out.append(query("blob", r + t + [("step", s), ("index", "0"), ("wall_time", bad)]))
        out.append(query("blobs", r + t + [("step", s), ("indices", "0"), ("wall_time", bad)]))
    out.append(query("blob", r + t + [("step", s), ("index", "0"), ("index", "1")]))  # repeated
    out.append(query("runs", [("run", run)]))  # an ignored parameter
    out.append(PREFIX + "no_such_route")
    return out


def requests_for(runs_json, steps_by_tag):
    """Every request path, in a deterministic order."""
    paths = [PREFIX + "runs", "/data/plugins_listing"]
    paths.append(PREFIX + "index.js")
    for name in static_files():
        paths.append(PREFIX + "static/" + urllib.parse.quote(name))
    for bad in ("", "..", "../__init__.py", "%2e%2e/__init__.py", "..%2f__init__.py",
                "/etc/passwd", "%2fetc%2fpasswd", "..\\__init__.py", "%5c..%5c__init__.py",
                "no_such_file.js", "./app.js"):
        paths.append(PREFIX + "static/" + bad)
    paths.append(PREFIX + "static")
    firsts = {}  # run -> (run, tag, step) for the malformed requests: a layer if any
    for run, tag, count in all_tags(runs_json):
        rt = [("run", run), ("tag", tag)]
        paths.append(query("steps", rt))
        paths.append(query("summaries", rt))
        steps_json = steps_by_tag.get((run, tag))
        served = steps_json["steps"] if steps_json else []
        skipped = steps_json.get("skipped", []) if steps_json else []
        known = count if count is not None else 2
        for index in range(known + 1):  # one past the end: 404
            paths.append(query("series", rt + [("index", str(index))]))
        for entry in served:
            s, w = str(entry["step"]), repr(float(entry["wallTime"]))
            if run not in firsts or (tag.startswith("actviz/layers/")
                                     and not firsts[run][1].startswith("actviz/layers/")):
                firsts[run] = (run, tag, s)
            for index in range(known + 1):
                paths.append(query("blob", rt + [("step", s), ("index", str(index))]))
            for index in range(min(known, 2)):
                paths.append(query("blob", rt + [("step", s), ("index", str(index)), ("wall_time", w)]))
            paths.append(query("blob", rt + [("step", s), ("index", "0"), ("wall_time", w + "1")]))
            everything = ",".join(str(i) for i in range(known))
            paths.append(query("blobs", rt + [("step", s), ("indices", "0-%d" % (known - 1))]))
            paths.append(query("blobs", rt + [("step", s), ("indices", everything), ("wall_time", w)]))
            paths.append(query("blobs", rt + [("step", s), ("indices", "0-%d" % known)]))  # one past
            paths.append(query("blobs", rt + [("step", s), ("indices", "%d,0,0-1" % (known - 1))]))
            paths.append(query("blobs", rt + [("step", s), ("indices", "0"), ("wall_time", w + "1")]))
        for entry in skipped:
            paths.append(query("blob", rt + [("step", str(entry["step"])), ("index", "0")]))
            paths.append(query("blobs", rt + [("step", str(entry["step"])), ("indices", "0")]))
        # A step no route serves: one past the last served.
        last = max([int(e["step"]) for e in served], default=-1)
        paths.append(query("blob", rt + [("step", str(last + 1)), ("index", "0")]))
    for run in sorted(firsts):
        paths.extend(malformed(*firsts[run]))
    seen, ordered = set(), []
    for p in paths:
        if p not in seen:
            seen.add(p)
            ordered.append(p)
    return ordered


def answer(server, path):
    status, headers, body = server.get(path)
    head = None
    if status != 200:
        head = body[:HEAD_BYTES].decode("utf-8", "backslashreplace")
    return [status, headers.get("Content-Type"), hashlib.sha256(body).hexdigest(), head,
            headers.get("Cache-Control")]


def record(logdir, load_fast, settle, log_path):
    server = TensorBoard(logdir, load_fast, log_path).start()
    try:
        started = time.monotonic()
        runs_body, steps = wait_settled(server, settle)
        settled = time.monotonic() - started
        runs_json = json.loads(runs_body)
        steps_by_tag = {(run, tag): json.loads(body) for run, tag, status, body in steps
                        if status == 200}
        paths = requests_for(runs_json, steps_by_tag)
        result = {}
        for path in paths:
            result[path] = answer(server, path)
        # The data must not have changed while we asked.
        again = snapshot(server)
        if again != (runs_body, steps):
            raise RuntimeError("/runs or /steps changed during the recording")
        if server.process.poll() is not None:
            raise RuntimeError("tensorboard exited:\n%s" % server.output())
        return result, settled
    finally:
        server.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--load_fast", default="true", choices=["true", "false"])
    parser.add_argument("--settle", type=float, default=12.0,
                        help="seconds /runs and /steps must stay unchanged before recording")
    parser.add_argument("--expect_package", default=None,
                        help="fail unless tb_actviz is imported from under this directory")
    parser.add_argument("--tensorboard_log", default=None,
                        help="where tensorboard's output goes (default: a temporary file)")
    args = parser.parse_args(argv)

    spec = importlib.util.find_spec("tb_actviz")
    package = os.path.dirname(os.path.realpath(spec.origin))
    # The same check, in a fresh interpreter of the same environment (what tensorboard runs).
    # cwd="/": `python -c` puts the working directory first on sys.path (a
    # checkout's tb_actviz would win); the tensorboard script puts its bin/ there.
    checked = subprocess.run([sys.executable, "-c", PLUGIN_MODULE_FILE], cwd="/",
                             capture_output=True, text=True, check=True).stdout.strip()
    print("tb_actviz: %s (plugin module %s)" % (package, checked), file=sys.stderr)
    if args.expect_package:
        expected = os.path.realpath(args.expect_package)
        for where in (package, os.path.realpath(checked)):
            if not where.startswith(expected + os.sep):
                sys.exit("tb_actviz is imported from %s, not from under %s" % (where, expected))

    log_path = args.tensorboard_log
    if log_path is None:
        handle, log_path = tempfile.mkstemp(prefix="record_routes_", suffix=".log")
        os.close(handle)
    started = time.monotonic()
    result, settled = record(os.path.abspath(args.logdir), args.load_fast, args.settle, log_path)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, sort_keys=True, indent=0, ensure_ascii=True)
        f.write("\n")
    statuses = {}
    for status, *_ in result.values():
        statuses[status] = statuses.get(status, 0) + 1
    print("%s: %d requests %s, settled in %.1f s, %.1f s in all (tensorboard log: %s)"
          % (args.out, len(result), dict(sorted(statuses.items())), settled,
             time.monotonic() - started, log_path), file=sys.stderr)
    if args.tensorboard_log is None:
        os.remove(log_path)
    if 500 in statuses:
        print("warning: %d requests answered 500" % statuses[500], file=sys.stderr)


if __name__ == "__main__":
    main()
