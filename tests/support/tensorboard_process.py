"""Real `tensorboard` processes (a pytest plugin, registered by tests/conftest.py).

- `TensorBoardProcess`: a `tensorboard` subprocess on a free port of
  127.0.0.1, with HTTP helpers (`get`, `plugin`, `plugin_json`,
  `served_steps`, `wait_until`, `wait_for_experiments`).
- `tensorboard_server` (session): a running `tensorboard --logdir <root>` of
  `trained_logs` (trained_logs.py), parametrized over `--load_fast=true` and
  `--load_fast=false`; it is ready (every logged step of both runs is served)
  when the fixture returns.
- `tensorboard_factory`: starts more `tensorboard` processes with other flags;
  each is killed at the end of the test.

Also `free_port` and `READY_DEADLINE`.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

# Deadline for a server or a loader to show data. Not a timing assertion: a
# test only fails on it when the data never shows up.
READY_DEADLINE = 180


def free_port():
    """A TCP port that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
