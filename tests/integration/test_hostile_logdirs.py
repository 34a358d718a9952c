"""Hostile log dirs (tests/support/hostile_logdirs.py: one bad tag or file per run,
written with TensorBoard's own protos) against the real `tensorboard`, both
loaders: the healthy run stays served, every route answers 200, 400 or 404
with a JSON error (never a 500), and what is skipped is said.
"""

import json
import os

import pytest

import hostile_logdirs
from browser_support import assert_drawn, new_tab, tab_url
from log_parsing import parse_blobs, parse_series
from tensorboard_process import TensorBoardProcess
from tb_actviz import metadata

LOADERS = ["true", "false"]
ROUTES_OF_A_TAG = [
    ("steps", {}),
    ("blob", {"step": 0, "index": 0}),
    ("blob", {"step": 0, "index": 1}),
    ("blobs", {"step": 0, "indices": "0-3"}),
    ("series", {"index": 0}),
    ("series", {"index": 1}),
    ("summaries", {}),
]


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    hostile_logdirs.write(str(root))
    return str(root)


@pytest.fixture(scope="module")
def hostile_server(hostile_dir, tmp_path_factory):
    """`serve(load_fast)`: `tensorboard --logdir <hostile_dir>` on that loader,
    ready with every run listed. Started when a test first asks for it, then
    shared by the module's tests (they only read), stopped at the module's end."""
    started = {}

    def serve(load_fast):
        if load_fast in started:
            return started[load_fast]
        log_path = str(tmp_path_factory.mktemp("tensorboard_output") / "tensorboard.log")
        server = started[load_fast] = TensorBoardProcess(hostile_dir, load_fast, log_path=log_path).start()
        tag = metadata.layer_tag(hostile_logdirs.HEALTHY_LAYER)
        server.wait_until(lambda: server.served_steps(hostile_logdirs.HEALTHY_RUN, tag) == [0, 1, 2],
                          "the healthy run's steps")
        # The hostile runs load with it (one directory): wait for the last one written.
        server.wait_until(lambda: server.get("/data/plugin/activations/runs")[0] == 200 and
                          b"duplicate_path" in server.get("/data/plugin/activations/runs")[2],
                          "every run listed")
        return server

    yield serve
    for server in started.values():
        server.stop()


def _assert_json_answer(status, body, what):
    assert status in (200, 400, 404), (what, status, body[:300])
    assert b"Traceback" not in body, what
    if status != 200:
        assert "error" in json.loads(body), (what, body[:300])


@pytest.mark.server
@pytest.mark.parametrize("load_fast", LOADERS)
def test_the_healthy_run_is_served_and_what_is_skipped_is_said(hostile_server, load_fast):
    server = hostile_server(load_fast)
    answer = server.plugin_json("runs")
    runs = {run["run"]: run for run in answer["runs"]}
    assert [layer["path"] for layer in runs[hostile_logdirs.HEALTHY_RUN]["layers"]] == ["conv"]
    tag = metadata.layer_tag("conv")
    status, _, body = server.plugin("blobs", run=hostile_logdirs.HEALTHY_RUN, tag=tag, step=2,
                                    indices="0-%d" % hostile_logdirs.FILTERS)
    assert status == 200 and len(parse_blobs(body)) == 1 + hostile_logdirs.FILTERS
    unreadable = {(u["run"], u["tag"]): u for u in answer["unreadable"]}
    undecodable = unreadable[("undecodable_metadata/train", metadata.layer_tag("undecodable_metadata"))]
    assert "does not parse" in undecodable["reason"] and undecodable["newerVersion"] is None
    newer = unreadable[("newer_version/train", metadata.layer_tag("newer_version"))]
    assert newer["newerVersion"] == metadata.PROTO_VERSION + 98 and "upgrade tb_actviz" in newer["reason"]
    assert len(unreadable) == 2, unreadable


@pytest.mark.server
@pytest.mark.parametrize("load_fast", LOADERS)
def test_no_route_answers_500_on_a_hostile_tag(hostile_server, load_fast):
    server = hostile_server(load_fast)
    for case in hostile_logdirs.CASES:
        run = "%s/train" % case
        for tag in (metadata.layer_tag(case), metadata.layer_tag("twin")):
            for route, params in ROUTES_OF_A_TAG:
                status, _, body = server.plugin(route, run=run, tag=tag, **params)
                _assert_json_answer(status, body, (case, tag, route, params))


@pytest.mark.server
@pytest.mark.parametrize("load_fast", LOADERS)
def test_damaged_blobs_are_refused_naming_what_is_wrong(hostile_server, load_fast):
    server = hostile_server(load_fast)
    side = hostile_logdirs.BOMB_SIDE
    for case, index, expected in [
        ("png_bomb", 1, "%dx%d" % (side, side)),
        ("pixel_png_bomb", 1, "%dx%d" % (side, side)),
        ("bad_png", 1, "not a PNG"),
        ("wrong_stats_size", 0, "bytes"),
    ]:
        run, tag = "%s/train" % case, metadata.layer_tag(case)
        status, _, body = server.plugin("blob", run=run, tag=tag, step=0, index=index)
        assert status == 404, (case, status, body[:200])
        message = json.loads(body)["error"]
        assert expected in message and "step 0" in message and ("blob %d" % index) in message, message
        # A grid request holding that blob is refused the same way; the other blobs of the step are served.
        status, _, body = server.plugin("blobs", run=run, tag=tag, step=0, indices="0-%d" % hostile_logdirs.FILTERS)
        assert status == 404 and expected in json.loads(body)["error"]
        other = 2 if index == 1 else 1
        if case != "bad_png":
            status, _, body = server.plugin("blob", run=run, tag=tag, step=0, index=other)
            assert status == 200 and body[:4] == b"\x89PNG", (case, status, body[:200])
    status, _, body = server.plugin("summaries", run="wrong_summary_size/train",
                                    tag=metadata.layer_tag("wrong_summary_size"))
    assert status == 404 and "summary" in json.loads(body)["error"]


@pytest.mark.server
@pytest.mark.parametrize("load_fast", LOADERS)
def test_a_damaged_attribution_tag_is_refused_naming_what_is_wrong(hostile_server, load_fast):
    server = hostile_server(load_fast)
    run, tag = "damaged_attribution/train", metadata.attribution_tag("saliency")
    runs = {r["run"]: r for r in server.plugin_json("runs")["runs"]}
    assert [a["method"] for a in runs[run]["attributions"]] == ["saliency"]
    status, _, body = server.plugin("summaries", run=run, tag=tag)
    message = json.loads(body)["error"]
    assert status == 404 and "step 0" in message and "float32" in message, message
    status, _, body = server.plugin("blobs", run=run, tag=tag, step=0, indices="0,1")
    assert status == 404 and "blob 0" in json.loads(body)["error"]
    side = hostile_logdirs.BOMB_SIDE
    status, _, body = server.plugin("blob", run=run, tag=tag, step=1, index=1)
    message = json.loads(body)["error"]
    assert status == 404 and "%dx%d" % (side, side) in message and "blob 1" in message, message
    status, _, body = server.plugin("blob", run=run, tag=tag, step=1, index=0)
    assert status == 200 and len(body) == 4 * hostile_logdirs.IMAGES * len(metadata.ATTRIBUTION_RECORD_NAMES)
    # Past the tag's two blobs, and its series: JSON answers, never a 500.
    status, _, body = server.plugin("blob", run=run, tag=tag, step=1, index=2)
    assert status == 404 and "out of range" in json.loads(body)["error"]
    status, _, body = server.plugin("series", run=run, tag=tag, index=1)
    assert status == 200 and [s for s, _, _ in parse_series(body)] == [0]


@pytest.mark.server
@pytest.mark.parametrize("load_fast", LOADERS)
def test_steps_the_tab_cannot_address_are_listed_apart(hostile_server, load_fast):
    server = hostile_server(load_fast)
    run, tag = "huge_steps/train", metadata.layer_tag("huge_steps")
    answer = server.plugin_json("steps", run=run, tag=tag)
    assert answer["steps"] == []
    skipped = {entry["step"]: entry["reason"] for entry in answer["skipped"]}
    assert set(skipped) == {str(2**60), "-5"}, skipped  # exact: a string, not a float
    assert "2**53" in skipped[str(2**60)] and "negative" in skipped["-5"]
    status, _, body = server.plugin("series", run=run, tag=tag, index=1)
    assert status == 200 and parse_series(body) == []
    run, tag = "nan_wall_time/train", metadata.layer_tag("nan_wall_time")
    answer = server.plugin_json("steps", run=run, tag=tag)
    assert [entry["step"] for entry in answer["steps"]] == [1]
    if load_fast == "false":  # the Rust data server stops reading the file at that event
        assert [(e["step"], "wall time" in e["reason"]) for e in answer["skipped"]] == [("2", True)]
    status, _, body = server.plugin("series", run=run, tag=tag, index=1)
    assert status == 200 and [step for step, _, _ in parse_series(body)] == [1]


@pytest.mark.server
@pytest.mark.parametrize("load_fast", LOADERS)
def test_two_tags_of_one_layer_path_are_told_apart(hostile_server, load_fast):
    server = hostile_server(load_fast)
    (run,) = [r for r in server.plugin_json("runs")["runs"] if r["run"] == "duplicate_path/train"]
    paths = [layer["path"] for layer in run["layers"]]
    assert len(set(paths)) == 2, paths
    assert paths[0] == "twin" and paths[1].startswith("twin [") and metadata.layer_tag("twin") in paths[1], paths
    assert {layer["layerPath"] for layer in run["layers"]} == {"twin"}


# The tab -------------------------------------------------------------------------


@pytest.mark.server
def test_the_tab_shows_the_healthy_run_and_says_what_it_cannot_read(hostile_server, browser):
    server = hostile_server("true")
    with new_tab(browser) as t:
        t.open(tab_url(server, run=hostile_logdirs.HEALTHY_RUN, layer=hostile_logdirs.HEALTHY_LAYER))
        assert len(t.grid("filters-grid")) == hostile_logdirs.FILTERS
        for stats in t.grid("filters-grid"):
            assert_drawn(stats, "healthy map")
        notice = t.f.locator("[data-testid=unreadable-notice]").inner_text()
        assert "newer tb_actviz (format version %d)" % (metadata.PROTO_VERSION + 98) in notice, notice
        assert "upgrade tb_actviz" in notice and "undecodable_metadata/train" in notice, notice
        t.assert_clean()
    with new_tab(browser) as t:  # two tags of one layer path: two picker entries
        t.open(tab_url(server, run="duplicate_path/train", layer="twin"))
        options = t.f.locator("#layer-select option").all_inner_texts()
        assert len(options) == 2 and len(set(options)) == 2, options
        t.assert_clean()


@pytest.mark.server
def test_a_log_dir_of_a_newer_tb_actviz_says_upgrade(tmp_path, tensorboard_factory, browser):
    hostile_logdirs.write_case(str(tmp_path), "newer_version")
    server = tensorboard_factory(str(tmp_path), "true")
    server.wait_until(lambda: server.plugin_json("runs")["unreadable"], "the tag listed as unreadable")
    with new_tab(browser) as t:
        t.open(tab_url(server), painted=False)
        empty = t.f.locator("[data-testid=empty-state]")
        empty.wait_for(state="visible")
        text = empty.inner_text()
        assert "newer tb_actviz (format version %d)" % (metadata.PROTO_VERSION + 98) in text, text
        assert "upgrade tb_actviz" in text and "add ActivationLogger" not in text, text


@pytest.mark.server
@pytest.mark.parametrize("case, failure", [("png_bomb", "12000x12000"), ("pixel_png_bomb", "12000x12000")])
def test_one_bad_strip_marks_its_tile_and_the_rest_are_drawn(hostile_server, browser, case, failure):
    server = hostile_server("true")
    with new_tab(browser) as t:
        t.open(tab_url(server, run="%s/train" % case, layer="conv"))
        tiles = t.f.locator("[data-testid=filters-grid] [data-testid=tile]")
        assert tiles.count() == hostile_logdirs.FILTERS
        broken = t.f.locator("[data-testid=filters-grid] [data-testid=tile][data-broken=true]")
        assert broken.count() == 1 and broken.get_attribute("data-filter") == "0"
        title = broken.get_attribute("title")
        assert "filter 0 at step 0" in title and failure in title, title
        assert broken.locator("[data-testid=broken-badge]").inner_text() == "unreadable"
        for k, stats in enumerate(t.grid("filters-grid")[1:], start=1):
            assert_drawn(stats, "filter %d beside the bad one" % k)
        t.assert_clean()


@pytest.mark.server
def test_the_browser_refuses_a_png_larger_than_its_metadata_before_decoding(hostile_server, browser):
    server = hostile_server("true")
    bomb = list(hostile_logdirs.png_bomb())
    with new_tab(browser) as t:
        t.open(tab_url(server, run=hostile_logdirs.HEALTHY_RUN, layer=hostile_logdirs.HEALTHY_LAYER))
        message = t.frame.evaluate(
            """async (bytes) => {
              const { decodeQuantized } = await import(new URL("static/decode.js", document.baseURI).href);
              try {
                await decodeQuantized(new Uint8Array(bytes).buffer, { width: 16, height: 8 });
                return "decoded";
              } catch (error) {
                return error.message;
              }
            }""",
            bomb,
        )
        assert message == "a PNG of 12000x12000 where the metadata says 16x8", message


# Pixel files and probe images that are not what they claim (second hostile round) --


def _get_with_deadline(server, route, seconds, **params):
    """(status, body) of a plugin route, or ("timeout", b"") when no answer
    came within `seconds` (a reader parked on a file that never answers)."""
    import socket
    import urllib.error
    import urllib.parse
    import urllib.request

    url = "%s/data/plugin/activations/%s?%s" % (server.base_url, route, urllib.parse.urlencode(params))
    try:
        with urllib.request.urlopen(url, timeout=seconds) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (socket.timeout, TimeoutError, urllib.error.URLError):
        return "timeout", b""


@pytest.mark.server
@pytest.mark.parametrize("load_fast", LOADERS)
def test_a_pixel_file_that_is_a_fifo_is_refused_and_never_starves_other_runs(hostile_server, load_fast):
    import concurrent.futures

    server = hostile_server(load_fast)
    run, tag = "pixel_fifo/train", metadata.layer_tag("pixel_fifo")
    requests = [("series", {"index": 1})] * 24 + [("blob", {"step": 0, "index": 1})] * 8
    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(lambda r: _get_with_deadline(server, r[0], 30, run=run, tag=tag, **r[1]),
                                requests))
    for (route, _), (status, body) in zip(requests, answers):
        if route == "series":
            assert status == 200 and [s for s, _, _ in parse_series(body)] == [1], (status, body[:200])
        else:
            message = json.loads(body)["error"]
            assert status == 404 and "a FIFO, not a regular file" in message, (status, message)
    healthy, conv = hostile_logdirs.HEALTHY_RUN, metadata.layer_tag(hostile_logdirs.HEALTHY_LAYER)
    for route, params in [("series", {"index": 1}), ("blobs", {"step": 2, "indices": "0-3"}),
                          ("summaries", {})]:
        status, _ = _get_with_deadline(server, route, 30, run=healthy, tag=conv, **params)
        assert status == 200, (route, status)


@pytest.mark.server
@pytest.mark.parametrize("load_fast", LOADERS)
@pytest.mark.parametrize("case, expected", [
    ("pixel_deep_header", "nested too deeply"),
    ("pixel_huge_claim", "allows at most"),
    ("pixel_newer_layout", "written by a newer tb_actviz (pixel file layout 02; this one reads 01): "
                           "upgrade tb_actviz"),
])
def test_a_damaged_pixel_file_costs_only_its_step(hostile_server, load_fast, case, expected):
    server = hostile_server(load_fast)
    run, tag = "%s/train" % case, metadata.layer_tag(case)
    for route, params in [("blob", {"step": 0, "index": 1}), ("blobs", {"step": 0, "indices": "0-3"})]:
        status, _, body = server.plugin(route, run=run, tag=tag, **params)
        message = json.loads(body)["error"]
        assert status == 404 and expected in message and "pixel file" in message, (route, status, message)
    # The step's neighbour is served, and the series leaves out only that step.
    status, _, body = server.plugin("blobs", run=run, tag=tag, step=1, indices="0-3")
    assert status == 200 and len(parse_blobs(body)) == 1 + hostile_logdirs.FILTERS
    for index in (0, 1):
        status, _, body = server.plugin("series", run=run, tag=tag, index=index)
        # Only blob 1 of the huge claim is damaged: its statistics (blob 0) are served.
        served = [0, 1] if (case, index) == ("pixel_huge_claim", 0) else [1]
        assert status == 200 and [s for s, _, _ in parse_series(body)] == served, (index, status, body[:200])
    if case == "pixel_huge_claim":  # nothing near the claimed size is sent
        status, _, body = server.plugin("series", run=run, tag=tag, index=1)
        assert len(body) < 64 * 1024


@pytest.mark.server
@pytest.mark.parametrize("load_fast", LOADERS)
def test_a_probe_png_bomb_is_refused_and_the_run_is_served(hostile_server, load_fast):
    server = hostile_server(load_fast)
    run = "probe_png_bomb/train"
    status, _, body = server.plugin("blob", run=run, tag=metadata.PROBE_TAG, step=0, index=1)
    message = json.loads(body)["error"]
    assert status == 404 and "12000x12000" in message and "at most 4096" in message, message
    status, _, body = server.plugin("blob", run=run, tag=metadata.PROBE_TAG, step=0, index=0)
    assert status == 200 and body[:4] == b"\x89PNG"


# A second training into the same run ---------------------------------------------


@pytest.fixture(scope="module")
def restarted_dir(tmp_path_factory):
    """Run r/train: a training logged steps 0-5, then a new one (a new event
    file, later wall times, other maps) steps 0-2."""
    import time

    root = str(tmp_path_factory.mktemp("restarted"))
    tag = metadata.layer_tag("conv")
    hostile_logdirs._write_v1_steps(root + "/r/train", tag, [0, 1, 2, 3, 4, 5])
    time.sleep(1.1)  # event file names hold seconds: the new file sorts after
    hostile_logdirs._write_v1_steps(root + "/r/train", tag, [0, 1, 2], wall_times=[time.time() + k for k in range(3)])
    return root


@pytest.mark.server
@pytest.mark.parametrize("load_fast", LOADERS)
def test_a_restarted_training_shows_alike_on_both_loaders_and_the_reader(restarted_dir, tensorboard_factory,
                                                                       load_fast):
    from tb_actviz.reader import LogReader

    tag = metadata.layer_tag("conv")
    reader = LogReader(restarted_dir)
    assert reader.steps("r/train", tag) == [0, 1, 2]
    hidden = reader.hidden_steps("r/train", tag)
    assert [step for step, _ in hidden] == [0, 1, 2, 3, 4, 5]
    latest = {s: reader.layer("r/train", tag, s) for s in (0, 1, 2)}
    server = tensorboard_factory(restarted_dir, load_fast)
    server.wait_until(lambda: server.served_steps("r/train", tag) == [0, 1, 2], "the later training's steps")
    answer = server.plugin_json("steps", run="r/train", tag=tag)
    if load_fast == "false":  # the Python loader keeps both trainings; the Rust data server drops the earlier
        assert [entry["step"] for entry in answer["hidden"]] == ["0", "1", "2", "3", "4", "5"]
    assert [entry["wallTime"] for entry in answer["steps"]] == [d.wall_time for d in reader._sequence("r/train", tag).data]
    for entry in answer["steps"]:
        status, _, body = server.plugin("blobs", run="r/train", tag=tag, step=entry["step"],
                                        indices="0-%d" % hostile_logdirs.FILTERS)
        blobs = parse_blobs(body)
        import numpy as np

        stats = np.frombuffer(blobs[0], "<f4").reshape(latest[entry["step"]].stats.shape)
        np.testing.assert_array_equal(stats, latest[entry["step"]].stats)


def test_export_of_a_restarted_training_warns_of_the_hidden_steps(restarted_dir, tmp_path, capsys):
    from tb_actviz import export

    out = str(tmp_path / "f.png")
    assert export.main(["export", "filters", "--logdir", restarted_dir, "--layer", "conv", "-o", out]) in (0, None)
    err = capsys.readouterr().err
    assert ("warning: run r/train, tag actviz/layers/conv holds two trainings: a later one restarted at "
            "step 0, so 6 log(s) of the earlier one (steps 0, 1, 2, 3, 4, 5) are hidden") in err, err
    assert os.path.getsize(out) > 0
