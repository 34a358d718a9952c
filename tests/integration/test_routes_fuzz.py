"""Property-based tests: random query strings and paths at every plugin route.

The app is TensorBoard's own WSGI application (`TensorBoardWSGIApp`) with the
Python loader over a real log dir, driven in-process by werkzeug's test client
so that hypothesis can send thousands of requests. Every answer is a 200, a
400 or a 404 with a JSON error, never a 500 or a traceback; static files never
leave the front-end folder.
"""

import json
import os
import time
import urllib.parse

import pytest
import keras_helpers
from log_parsing import parse_blobs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from tensorboard import default, program
from tensorboard.backend import application

import hostile_logdirs
from tb_actviz import ActivationLogger
from tb_actviz import metadata
from tb_actviz.activations_plugin import _frontend_dir

PREFIX = "/data/plugin/activations"
DATA_ROUTES = ["runs", "first", "steps", "blob", "blobs", "series", "summaries"]
RUN, TAG = "run/train", "actviz/layers/c1"


def _client_of(root, expected):
    """TensorBoard's WSGI app (Python loader) over `root`, once `expected` is in /runs."""
    tensorboard = program.TensorBoard(plugins=default.get_plugins())  # ours by entry point
    # Loaded once, blocking: no reloader thread left inside TensorFlow's
    # record reader when the interpreter exits (that aborts the process).
    tensorboard.configure(logdir=str(root), load_fast="false", reload_interval=0,
                          reload_task="blocking")
    data_provider, multiplexer = tensorboard._make_data_provider()
    app = application.TensorBoardWSGIApp(
        tensorboard.flags, tensorboard.plugin_loaders, data_provider, None, multiplexer
    )
    test_client = Client(app)
    deadline = time.monotonic() + 60
    while expected not in test_client.get(PREFIX + "/runs").data:
        assert time.monotonic() < deadline, "the log dir never loaded"
        time.sleep(0.2)
    return test_client


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz_logs")
    x, y = keras_helpers.tiny_classifier_data(3)
    model = keras_helpers.tiny_classifier()
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[ActivationLogger(str(root / "run"), probe=x[:2], verbose=0)])
    return _client_of(root, b"c1")


@pytest.fixture(scope="module")
def hostile_client(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz_hostile")
    hostile_logdirs.write(str(root))
    return _client_of(root, b"duplicate_path")


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory):
    """The same log dir served by a real `tensorboard --load_fast=true` (the Rust data server)."""
    from tensorboard_process import TensorBoardProcess

    root = tmp_path_factory.mktemp("fuzz_hostile_rust")
    hostile_logdirs.write(str(root))
    server = TensorBoardProcess(str(root), "true").start()
    try:
        server.wait_until(lambda: b"duplicate_path" in server.get(PREFIX + "/runs")[2], "every run listed")
        yield server
    finally:
        server.stop()


PARAM_NAMES = st.sampled_from(["run", "tag", "layer", "step", "index", "indices", "wall_time", "x"])
PARAM_VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from([RUN, TAG, "c1", "0", "1", "2", "-1", "0-3", "3-0", "0,,1", "1-99999",
                     "nan", "inf", "1e309", "../../etc/passwd", "%00", " 1", "１"]),
    st.floats(allow_nan=True).map(repr),
)
QUERIES = st.lists(st.tuples(PARAM_NAMES, PARAM_VALUES), max_size=6)


def _check_answer(response):
    assert response.status_code in (200, 400, 404), (response.status_code, response.data[:300])
    assert b"Traceback" not in response.data
    if response.status_code != 200:
        assert response.mimetype == "application/json"
        assert "error" in json.loads(response.data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(DATA_ROUTES), query=QUERIES)
def test_random_queries_never_fail_the_server(client, route, query):
    _check_answer(client.get(PREFIX + "/" + route + "?" + urllib.parse.urlencode(query)))


HOSTILE_RUNS = st.sampled_from(["%s/train" % case for case in hostile_logdirs.CASES] + [hostile_logdirs.HEALTHY_RUN])
HOSTILE_TAGS = st.sampled_from([metadata.layer_tag(case) for case in hostile_logdirs.CASES]
                               + [metadata.layer_tag("twin"), metadata.layer_tag("conv")])
HOSTILE_PARAMS = st.fixed_dictionaries({
    "run": HOSTILE_RUNS,
    "tag": HOSTILE_TAGS,
    "layer": st.sampled_from(list(hostile_logdirs.CASES) + ["twin", "conv", "nope"]),
    "step": st.sampled_from(["0", "1", "2", "-5", str(2**60), "7"]),
    "index": st.sampled_from(["0", "1", "2", "3", "4", "99"]),
    "indices": st.sampled_from(["0-3", "0", "1", "0,0,0", "1-2", "2-1", "0-99"]),
})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(DATA_ROUTES), params=HOSTILE_PARAMS)
def test_blob_routes_never_fail_on_hostile_log_dirs_python_loader(hostile_client, route, params):
    _check_answer(hostile_client.get(PREFIX + "/" + route + "?" + urllib.parse.urlencode(params)))


@pytest.mark.server
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(DATA_ROUTES), params=HOSTILE_PARAMS)
def test_blob_routes_never_fail_on_hostile_log_dirs_rust_data_server(hostile_server, route, params):
    status, headers, body = hostile_server.get(PREFIX + "/" + route, params)
    assert status in (200, 400, 404), (route, params, status, body[:300])
    assert b"Traceback" not in body
    if status != 200:
        assert "error" in json.loads(body), body[:300]


def test_request_bounds(client):
    def get(route, **params):
        return client.get(PREFIX + "/" + route + "?" + urllib.parse.urlencode(params))

    step = dict(run=RUN, tag=TAG, step=0)
    response = get("series", run=RUN, tag=TAG, index=99)  # past the layer's 2 filters
    assert response.status_code == 404 and "past" in json.loads(response.data)["error"]
    assert get("blob", **step, index="\u0663").status_code == 400  # an Arabic-Indic 3
    assert get("steps", run=RUN, tag=TAG).status_code == 200
    assert get("blob", run=RUN, tag=TAG, step="\u0661", index=0).status_code == 400
    response = get("blobs", **step, indices=",".join(["1"] * 1024))
    assert response.status_code == 200 and len(parse_blobs(response.data)) == 1
    response = get("blobs", **step, indices="0-999999")
    assert response.status_code == 400 and "at most 1024" in json.loads(response.data)["error"]
    response = get("blobs", **step, indices="1," * 5000)
    assert response.status_code == 400 and "characters" in json.loads(response.data)["error"]


@pytest.mark.parametrize("route", ["steps", "blob", "blobs", "series", "summaries"])
def test_missing_parameters_answer_400(client, route):
    response = client.get(PREFIX + "/" + route)
    assert response.status_code == 400 and "missing" in json.loads(response.data)["error"]


def test_unknown_run_and_tag_answer_404(client):
    for run, tag in [("nope", TAG), (RUN, "nope")]:
        response = client.get(PREFIX + "/steps?" + urllib.parse.urlencode({"run": run, "tag": tag}))
        assert response.status_code == 404


PATH_PIECES = st.sampled_from(
    ["..", "%2e%2e", "%2E%2E", ".%2e", "%252e%252e", "\\", "%5c", "/", "//", "etc", "passwd",
     "index.js", "style.css", "app.js", "views", "setup.py", "%00", "~", "C:", "."]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(PATH_PIECES, min_size=1, max_size=6), separator=st.sampled_from(["/", "\\", "%2f"]))
def test_static_route_never_leaves_the_frontend_folder(client, pieces, separator):
    path = separator.join(pieces)
    response = client.get(PREFIX + "/static/" + path)
    assert response.status_code in (200, 400, 404), (path, response.status_code)
    if response.status_code == 200:
        served = response.data
        frontend = os.path.realpath(_frontend_dir())
        contents = []
        for folder, _, files in os.walk(frontend):
            for name in files:
                with open(os.path.join(folder, name), "rb") as f:
                    contents.append(f.read())
        assert served in contents, path


@pytest.mark.parametrize(
    "path",
    ["../setup.py", "%2e%2e/setup.py", "..%2fsetup.py", "%2e%2e%2f%2e%2e%2fsetup.py",
     "/etc/passwd", "%2fetc%2fpasswd", "..\\setup.py", "views/../../setup.py", "app.js%00.css"],
)
def test_static_traversal_is_refused(client, path):
    assert client.get(PREFIX + "/static/" + path).status_code == 404
