"""The plugin's HTTP routes (docs/http_api.md), served by the real
`tensorboard` command with --load_fast=true and --load_fast=false."""

import http.client
import json
import os
import struct

import keras
import numpy as np
import pytest

import tb_actviz
from paths import SUPPORT
from log_parsing import area_average, decode_png, parse_blobs, parse_series
from tb_actviz import ActivationLogger, metadata
from tb_actviz.serve import bundle

pytestmark = pytest.mark.server

K = len(metadata.STAT_NAMES)
FRONTEND = os.path.join(os.path.dirname(tb_actviz.__file__), "frontend")
TARGET = os.path.join(SUPPORT, "traversal_target.css")


def steps_of(server, run, tag):
    return server.plugin_json("steps", run=run, tag=tag)["steps"]


def assert_json_error(status, headers, body, code):
    assert status == code, (status, body[:300])
    assert headers.get("Content-Type", "").startswith("application/json")
    payload = json.loads(body)
    assert isinstance(payload.get("error"), str) and payload["error"]


# Listing and metadata ------------------------------------------------------------------


def test_plugins_listing(tensorboard_server):
    status, _, body = tensorboard_server.get("/data/plugins_listing")
    assert status == 200
    entry = json.loads(body)["activations"]
    assert entry["enabled"] is True
    assert entry["tab_name"] == "Activations"
    assert entry["loading_mechanism"]["type"] == "IFRAME"
    assert entry["loading_mechanism"]["module_path"].endswith("/index.js")


def test_runs(tensorboard_server, trained_logs):
    runs = tensorboard_server.plugin_json("runs")["runs"]
    assert [r["run"] for r in runs] == sorted(e.run for e in trained_logs.experiments)
    by_run = {r["run"]: r for r in runs}
    for e in trained_logs.experiments:
        run = by_run[e.run]
        assert run["probe"] == {
            "tag": "actviz/probe",
            "numImages": len(e.probe_x),
            "channels": 1,
            "labels": e.probe_labels,
        }
        assert [l["path"] for l in run["layers"]] == sorted(e.layers, key=lambda p: e.layers[p]["index"])
        for layer in run["layers"]:
            g = e.layers[layer["path"]]
            assert layer == {
                "tag": e.tag(layer["path"]),
                "path": layer["path"],
                "index": g["index"],
                "class": g["cls"],
                "outputShape": g["output_shape"],
                "mapKind": g["map_kind"],
                "numImages": g["N"],
                "filterIndices": list(range(g["F"])),
                "mapHeight": g["H"],
                "mapWidth": g["W"],
                "sourceHeight": g["source"][0],
                "sourceWidth": g["source"][1],
                "downsampleFactor": g["factor"],
                "statNames": list(metadata.STAT_NAMES),
                "summaryNames": list(metadata.SUMMARY_NAMES),
                "layerPath": layer["path"],
                "stepUnit": "batch" if e is trained_logs.many else "epoch",
                "leadingTokens": 0,
            }


def test_steps(tensorboard_server, trained_logs):
    for e in trained_logs.experiments:
        for path in e.layers:
            steps = steps_of(tensorboard_server, e.run, e.tag(path))
            assert [s["step"] for s in steps] == e.steps
            assert all(isinstance(s["wallTime"], float) and s["wallTime"] > 0 for s in steps)


def test_default_sample_count_serves_more_than_ten_steps(tensorboard_server, trained_logs):
    # TensorBoard keeps 10 samples per tag of an unknown blob plugin; a bare
    # `tensorboard --logdir` must serve all 16 steps.
    many = trained_logs.many
    assert len(many.steps) > 10
    assert [s["step"] for s in steps_of(tensorboard_server, many.run, many.tag("c"))] == many.steps


# Blobs -----------------------------------------------------------------------------------


def test_blob_stats_and_png(tensorboard_server, trained_logs):
    e = trained_logs.faces
    g = e.layers["conv1"]
    tag = e.tag("conv1")
    last = steps_of(tensorboard_server, e.run, tag)[-1]
    params = dict(run=e.run, tag=tag, step=last["step"], wall_time=repr(last["wallTime"]))
    status, headers, body = tensorboard_server.plugin("blob", index=0, **params)
    assert status == 200
    assert headers["Content-Type"].startswith("application/octet-stream")
    assert headers["Cache-Control"] == "private, max-age=31536000"
    stats = np.frombuffer(body, "<f4").reshape(g["F"], g["N"], K)
    stored = area_average(e.final_outputs["conv1"], g["factor"])  # the statistics' maps
    np.testing.assert_allclose(stats[:, :, 1], stored.max(axis=(1, 2)).T, rtol=1e-4, atol=1e-5)
    status, headers, body = tensorboard_server.plugin("blob", index=g["F"], **params)
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert headers["Cache-Control"] == "private, max-age=31536000"
    assert decode_png(body).shape == (g["H"], g["N"] * g["W"])


def test_blob_with_stale_wall_time_is_404(tensorboard_server, trained_logs):
    e = trained_logs.faces
    tag = e.tag("conv2")
    first = steps_of(tensorboard_server, e.run, tag)[0]
    base = dict(run=e.run, tag=tag, step=first["step"], index=1)
    assert tensorboard_server.plugin("blob", wall_time=repr(first["wallTime"]), **base)[0] == 200
    assert_json_error(*tensorboard_server.plugin("blob", wall_time=repr(first["wallTime"] + 1), **base), 404)


def test_blobs_framing(tensorboard_server, trained_logs):
    e = trained_logs.faces
    g = e.layers["conv2"]
    tag = e.tag("conv2")
    step = steps_of(tensorboard_server, e.run, tag)[2]
    base = dict(run=e.run, tag=tag, step=step["step"], wall_time=repr(step["wallTime"]))
    status, headers, body = tensorboard_server.plugin("blobs", indices="1-%d" % g["F"], **base)
    assert status == 200
    assert headers["Content-Type"].startswith("application/octet-stream")
    assert headers["Cache-Control"] == "private, max-age=31536000"
    blobs = parse_blobs(body)
    assert len(blobs) == g["F"]
    for f, data in enumerate(blobs):
        assert decode_png(data).shape == (g["H"], g["N"] * g["W"])
        assert data == tensorboard_server.plugin("blob", index=1 + f, **base)[2]
    mixed = parse_blobs(tensorboard_server.plugin("blobs", indices="0,3,5-6", **base)[2])
    assert [len(b) for b in mixed[:1]] == [g["F"] * g["N"] * K * 4]
    assert mixed[1:] == [blobs[2], blobs[4], blobs[5]]


def test_series_framing(tensorboard_server, trained_logs):
    for e, path in [(trained_logs.faces, "conv1"), (trained_logs.many, "c")]:
        g = e.layers[path]
        tag = e.tag(path)
        steps = steps_of(tensorboard_server, e.run, tag)
        status, headers, body = tensorboard_server.plugin("series", run=e.run, tag=tag, index=1)
        assert status == 200
        assert headers["Content-Type"].startswith("application/octet-stream")
        assert "no-cache" in headers["Cache-Control"]
        series = parse_series(body)
        assert [s for s, _, _ in series] == e.steps  # one entry per step, ascending
        assert [w for _, w, _ in series] == [s["wallTime"] for s in steps]
        for step, _, data in series:
            assert decode_png(data).shape == (g["H"], g["N"] * g["W"])
        # Same bytes as /blob of that step.
        step, _, data = series[1]
        assert data == tensorboard_server.plugin("blob", run=e.run, tag=tag, step=step, index=1)[2]


# Static files ------------------------------------------------------------------------------


def test_index_js_and_static(tensorboard_server):
    status, headers, body = tensorboard_server.plugin("index.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert body == open(os.path.join(FRONTEND, "index.js"), "rb").read()
    assert b"render" in body
    status, headers, body = tensorboard_server.plugin("static/style.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    assert body == open(os.path.join(FRONTEND, "style.css"), "rb").read()
    nested = sorted(os.listdir(os.path.join(FRONTEND, "views")))[0]
    status, _, body = tensorboard_server.plugin("static/views/" + nested)
    assert status == 200
    assert body == open(os.path.join(FRONTEND, "views", nested), "rb").read()


def test_bundle_js_is_the_module_graph_built_from_the_files(tensorboard_server):
    status, headers, body = tensorboard_server.plugin("bundle.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert "no-cache" in headers["Cache-Control"]
    built = bundle.build(FRONTEND, "app.js")
    assert body.decode("utf-8") == built.text  # urllib does not ask for gzip: served inflated
    for path in built.paths:
        with open(os.path.join(FRONTEND, *path.split("/")), encoding="utf-8") as f:
            first_line = f.readline()
        assert "// ---- %s ----" % path in built.text
        assert first_line in built.text, path


def test_bundle_js_is_gzipped_when_asked(tensorboard_server):
    import gzip
    import urllib.request

    request = urllib.request.Request(tensorboard_server.base_url + "/data/plugin/activations/bundle.js",
                                     headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        text = gzip.decompress(response.read()).decode("utf-8")
    assert text == bundle.build(FRONTEND, "app.js").text


def parse_first(body):
    """Splits a `/first` body: (header JSON, [blob bytes])."""
    (n,) = struct.unpack_from("<I", body, 0)
    return json.loads(body[4:4 + n]), parse_blobs(body[4 + n:])


def test_first_is_runs_steps_and_blobs_of_the_first_layer(tensorboard_server, trained_logs):
    status, headers, body = tensorboard_server.plugin("first")
    assert status == 200 and headers["Content-Type"].startswith("application/octet-stream")
    assert "no-cache" in headers["Cache-Control"]
    header, blobs = parse_first(body)
    runs = tensorboard_server.plugin_json("runs")
    assert header["runs"] == runs
    first_run = next(r for r in runs["runs"] if r["layers"])
    layer = first_run["layers"][0]
    assert (header["run"], header["tag"], header["layer"]) == (first_run["run"], layer["tag"], layer["path"])
    assert header["steps"] == tensorboard_server.plugin_json("steps", run=header["run"], tag=header["tag"])
    last = header["steps"]["steps"][-1]
    assert header["step"] == last
    count = len(layer["filterIndices"]) + 1
    assert header["indices"] == list(range(count)) and header["error"] is None
    _, _, expected = tensorboard_server.plugin(
        "blobs", run=header["run"], tag=header["tag"], step=last["step"], indices="0-%d" % (count - 1),
        wall_time=repr(last["wallTime"]))
    assert blobs == parse_blobs(expected)


def test_first_follows_the_url_state(tensorboard_server, trained_logs):
    many = trained_logs.many
    path = sorted(many.layers)[-1]
    steps = steps_of(tensorboard_server, many.run, many.tag(path))
    header, blobs = parse_first(tensorboard_server.plugin(
        "first", run=many.run, layer=path, step=steps[3]["step"], indices="0,2")[2])
    assert (header["run"], header["tag"], header["layer"]) == (many.run, many.tag(path), path)
    assert header["step"] == steps[3] and header["indices"] == [0, 2]
    params = dict(run=many.run, tag=many.tag(path), step=steps[3]["step"])
    assert blobs == [tensorboard_server.plugin("blob", index=i, **params)[2] for i in (0, 2)]
    # Past the last step: the last (steps between logged ones: test_first_step_at_or_before).
    assert parse_first(tensorboard_server.plugin("first", run=many.run, layer=path, step=10**9,
                                                 indices="0")[2])[0]["step"] == steps[-1]
    # A run or layer that is not there: the defaults, as the tab resolves them.
    header = parse_first(tensorboard_server.plugin("first", run="nope/train", layer="nope", indices="0")[2])[0]
    default = parse_first(tensorboard_server.plugin("first", indices="0")[2])[0]
    assert (header["run"], header["tag"]) == (default["run"], default["tag"])
    header = parse_first(tensorboard_server.plugin("first", run=many.run, layer="nope", indices="0")[2])[0]
    assert header["run"] == many.run and header["layer"] == sorted(
        many.layers, key=lambda p: many.layers[p]["index"])[0]


def test_first_leaves_out_blobs_it_cannot_read(tensorboard_server, trained_logs):
    faces = trained_logs.faces
    header, blobs = parse_first(tensorboard_server.plugin("first", run=faces.run, layer="conv1",
                                                          indices="0-999")[2])
    assert header["runs"]["runs"] and header["steps"]["steps"]  # the rest is there
    assert blobs == [] and header["indices"] == [] and "blob" in header["error"]


@pytest.mark.parametrize("params", [dict(step="x"), dict(step="-1"), dict(indices="a-b"),
                                    dict(indices="0-5000")])
def test_first_bad_parameters_are_400_json(tensorboard_server, params):
    assert_json_error(*tensorboard_server.plugin("first", **params), 400)


def raw_get(server, path):
    """GET with the path sent exactly as given (no client-side normalization)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


TRAVERSALS = [
    "static/../../setup.py",
    "static/../../../setup.py",
    "static/%2e%2e/%2e%2e/setup.py",
    "static/..%2f..%2fsetup.py",
    "static/..%5c..%5csetup.py",
    "static/..\\..\\setup.py",
    "static//etc/passwd",
    "static/%2fetc%2fpasswd",
    "static/%2Fetc/hostname",
    # Files with a servable extension outside frontend/: tests/support/traversal_target.css,
    # from the package's frontend link (../../tests) or its target (../tests).
    "static/../tests/support/traversal_target.css",
    "static/../../tests/support/traversal_target.css",
    "static/%2e%2e/%2e%2e/tests/support/traversal_target.css",
    "static/%2e%2e/tests/support/traversal_target.css",
    "static/..%2ftests%2fsupport%2ftraversal_target.css",
    "static/..%2f..%2ftests%2fsupport%2ftraversal_target.css",
    "static/..\\tests\\support\\traversal_target.css",
    "static/" + TARGET,
    "static/" + TARGET.replace("/", "%2f"),
    "static/index.js%00.css",
]


@pytest.mark.parametrize("path", ["static/", "static", "static/no-such-file.js"])
def test_a_static_path_that_names_no_file_is_a_json_404(tensorboard_server, path):
    status, body = raw_get(tensorboard_server, "/data/plugin/activations/" + path)
    assert status == 404 and json.loads(body)["error"] == "Not found: no such file", (path, body[:200])


@pytest.mark.parametrize("path", TRAVERSALS)
def test_static_traversal_is_404(tensorboard_server, path):
    status, body = raw_get(tensorboard_server, "/data/plugin/activations/" + path)
    assert status == 404, (path, body[:200])
    assert b"traversal-target" not in body and b"setuptools" not in body


# Errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "route, params",
    [
        ("steps", dict(tag="actviz/probe")),
        ("steps", dict(run="faces/train")),
        ("blob", dict(run="faces/train", tag="actviz/layers/conv1", step=0)),
        ("blob", dict(run="faces/train", tag="actviz/layers/conv1", index=0)),
        ("blob", dict(tag="actviz/layers/conv1", step=0, index=0)),
        ("blob", dict(run="faces/train", tag="actviz/layers/conv1", step="one", index=0)),
        ("blob", dict(run="faces/train", tag="actviz/layers/conv1", step=0, index=-1)),
        ("blob", dict(run="faces/train", tag="actviz/layers/conv1", step=0, index=0, wall_time="x")),
        ("blobs", dict(run="faces/train", tag="actviz/layers/conv1", step=0)),
        ("blobs", dict(run="faces/train", tag="actviz/layers/conv1", step=0, indices="a-b")),
        ("blobs", dict(run="faces/train", tag="actviz/layers/conv1", step=0, indices="5-2")),
        ("blobs", dict(run="faces/train", tag="actviz/layers/conv1", step=0, indices="0-1024")),
        ("series", dict(run="faces/train", tag="actviz/layers/conv1")),
        ("series", dict(run="faces/train", index=1)),
    ],
)
def test_bad_requests_are_400_json(tensorboard_server, route, params):
    assert_json_error(*tensorboard_server.plugin(route, **params), 400)


@pytest.mark.parametrize(
    "route, params",
    [
        ("steps", dict(run="nope/train", tag="actviz/layers/conv1")),
        ("steps", dict(run="faces/train", tag="actviz/layers/nope")),
        ("blob", dict(run="nope/train", tag="actviz/layers/conv1", step=0, index=0)),
        ("blob", dict(run="faces/train", tag="actviz/layers/nope", step=0, index=0)),
        ("blob", dict(run="faces/train", tag="actviz/layers/conv1", step=99, index=0)),
        ("blob", dict(run="faces/train", tag="actviz/layers/conv1", step=0, index=9)),
        ("blobs", dict(run="faces/train", tag="actviz/layers/conv1", step=0, indices="0-9")),
        ("blobs", dict(run="faces/train", tag="actviz/layers/conv1", step=99, indices="1")),
        ("series", dict(run="nope/train", tag="actviz/layers/conv1", index=1)),
        ("series", dict(run="faces/train", tag="actviz/layers/nope", index=1)),
    ],
)
def test_unknown_run_tag_step_index_are_404_json(tensorboard_server, route, params):
    assert_json_error(*tensorboard_server.plugin(route, **params), 404)


# Sampling flags and a log dir still being written ------------------------------------------------


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_user_samples_per_plugin_wins(tensorboard_factory, trained_logs, load_fast):
    server = tensorboard_factory(
        trained_logs.root, load_fast, ["--samples_per_plugin=activations=5"]
    )
    many = trained_logs.many
    last = many.steps[-1]
    server.wait_until(lambda: last in server.served_steps(many.run, many.tag("c")),
                      "the last step of %s" % many.run)
    steps = server.served_steps(many.run, many.tag("c"))
    assert len(steps) == 5 and steps[-1] == last, steps
    series = parse_series(server.plugin("series", run=many.run, tag=many.tag("c"), index=1)[2])
    assert [s for s, _, _ in series] == steps


def tiny_model():
    model = keras.Sequential(
        [keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, name="c"),
         keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    model.compile("sgd", "mse")
    return model


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_log_dir_still_being_written(tensorboard_factory, tmp_path, load_fast):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 6, 1)).astype("float32")
    y = rng.normal(size=(4, 1)).astype("float32")
    model = tiny_model()
    logger = ActivationLogger(tmp_path, probe=x[:2], layers="c", verbose=0)
    model.fit(x, y, epochs=2, batch_size=2, verbose=0, callbacks=[logger])
    server = tensorboard_factory(str(tmp_path), load_fast, ["--reload_interval", "1"])
    tag = "actviz/layers/c"
    server.wait_until(lambda: server.served_steps("train", tag) == [0, 1, 2], "steps 0-2")
    before = parse_series(server.plugin("series", run="train", tag=tag, index=1)[2])
    assert [s for s, _, _ in before] == [0, 1, 2]
    # Training goes on: a second fit appends steps 3 and 4.
    model.fit(x, y, epochs=4, initial_epoch=2, batch_size=2, verbose=0, callbacks=[logger])
    server.wait_until(lambda: server.served_steps("train", tag)[-1:] == [4], "the new steps")
    assert server.served_steps("train", tag) == [0, 1, 2, 3, 4]
    after = parse_series(server.plugin("series", run="train", tag=tag, index=1)[2])
    assert [s for s, _, _ in after] == [0, 1, 2, 3, 4]
    assert after[:2] == before[:2]  # untouched steps keep their bytes and wall times
