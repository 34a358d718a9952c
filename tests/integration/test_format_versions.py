"""Format versions and where the pixels are, against the real `tensorboard`
(both loaders): version-0 log dirs (every blob in the event files) stay
readable; version-1 pixels come from the plugin's own files, located from
`--logdir` or `--logdir_spec`, whatever the run is named; a log dir copied
without those files still lists its layers and steps and says what is
missing, never a 500.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from log_parsing import parse_blobs, parse_series
from browser_support import new_tab, tab_url
from paths import BENCHMARKS
from tb_actviz import metadata
from tb_actviz.format import blob_layout, pixel_file
from tb_actviz.reader import LogReader

sys.path.insert(0, BENCHMARKS)
import synthetic_logdir  # noqa: E402  (writes log dirs in either format)

LAYERS, STEPS, IMAGES = 2, 3, 4
TAG = metadata.layer_tag("block1_conv1")


def _log_dir(root, format_version, run_names=("run1",), layer_event_summaries=False):
    synthetic_logdir.generate(str(root), layers=LAYERS, steps=STEPS, runs=len(run_names),
                              images=IMAGES, pool=4, quiet=True, format_version=format_version,
                              layer_event_summaries=layer_event_summaries)
    for k, name in enumerate(run_names):
        if name != "run%d" % (k + 1):
            os.rename(os.path.join(str(root), "run%d" % (k + 1)), os.path.join(str(root), name))
    return str(root)


def _grid(server, run, step=0):
    """The /blobs of one step's statistics and strips, decoded."""
    (layer,) = [l for r in server.plugin_json("runs")["runs"] if r["run"] == run
                for l in r["layers"] if l["tag"] == TAG]
    count = 1 + len(layer["filterIndices"])
    status, _, body = server.plugin("blobs", run=run, tag=TAG, step=step,
                                    indices="0-%d" % (count - 1))
    return status, body, count


def _wait_listed(server, runs):
    server.wait_until(
        lambda: all(server.served_steps(run, TAG) == list(range(STEPS)) for run in runs),
        "every step of %s" % (runs,),
    )


@pytest.mark.server
@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_version_0_log_dirs_are_served_read_and_exported(tmp_path, tensorboard_factory, load_fast):
    root = _log_dir(tmp_path / "v0", format_version=0)
    assert not os.path.exists(os.path.join(root, "run1", "train", "plugins"))
    server = tensorboard_factory(root, load_fast)
    _wait_listed(server, ["run1/train"])
    status, body, count = _grid(server, "run1/train", step=2)
    assert status == 200
    blobs = parse_blobs(body)
    assert len(blobs) == count and all(b[:4] == b"\x89PNG" for b in blobs[1:])
    snapshot = LogReader(root).layer("run1/train", TAG, step=2)
    assert snapshot.info.version == 0
    assert blobs[0] == snapshot.stats.astype("<f4").tobytes()
    done = subprocess.run(
        [sys.executable, "-m", "tb_actviz.export", "export", "filters", "--logdir", root, "--layer",
         "block1_conv1", "--image", "0", "-o", str(tmp_path / "v0.png")],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.server
@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_pixels_of_runs_named_with_quotes_and_backslashes(tmp_path, tensorboard_factory, load_fast):
    # The Rust data server's blob keys break on such run names (every read_blob
    # answers 400): version-1 pixels do not go through them.
    names = ['say "cheese"', "back\\slash"]
    root = _log_dir(tmp_path / "v1", format_version=1, run_names=names)
    server = tensorboard_factory(root, load_fast)
    runs = [name + "/train" for name in names]
    _wait_listed(server, runs)
    for run in runs:
        status, body, count = _grid(server, run, step=1)
        assert status == 200, body[:300]
        blobs = parse_blobs(body)
        assert len(blobs) == count and all(b[:4] == b"\x89PNG" for b in blobs[1:])
        status, _, body = server.plugin("series", run=run, tag=TAG, index=1)
        assert status == 200 and body


@pytest.mark.server
def test_runs_are_located_from_logdir_spec(tmp_path, tensorboard_factory):
    first = _log_dir(tmp_path / "first", format_version=1)
    second = _log_dir(tmp_path / "second", format_version=1)
    server = tensorboard_factory(
        None, "false", ["--logdir_spec", "a:%s,b:%s" % (first, second)]
    )
    _wait_listed(server, ["a/run1/train", "b/run1/train"])
    for run in ("a/run1/train", "b/run1/train"):
        status, body, count = _grid(server, run)
        assert status == 200 and len(parse_blobs(body)) == count


@pytest.mark.server
@pytest.mark.parametrize("load_fast", ["true", "false"])
@pytest.mark.parametrize("layer_event_summaries", [False, True], ids=["summaries_event", "layer_events"])
def test_a_log_dir_copied_without_its_pixel_files(tmp_path, tensorboard_factory, load_fast,
                                                  layer_event_summaries):
    # The summaries are in the event files: in the log's SUMMARIES event, or
    # (written before December 2026) in each layer event.
    root = _log_dir(tmp_path / "copied", format_version=1, layer_event_summaries=layer_event_summaries)
    missing = os.path.join(root, "run1", "train", *pixel_file.PLUGIN_DIR)
    shutil.rmtree(missing)
    server = tensorboard_factory(root, load_fast)
    _wait_listed(server, ["run1/train"])  # layers and steps still listed
    status, body, _ = _grid(server, "run1/train", step=1)
    assert status == 404
    message = __import__("json").loads(body)["error"]
    assert "is missing" in message and missing in message, message
    status, _, body = server.plugin("series", run="run1/train", tag=TAG, index=1)
    assert status == 200 and body == b""  # no step has its file
    # The statistics summary is still in the event files, and served.
    reader = LogReader(root)
    info = reader.tags()["run1/train"][TAG]
    status, _, body = server.plugin("summaries", run="run1/train", tag=TAG)
    assert status == 200
    served = parse_series(body)
    assert [step for step, _, _ in served] == list(range(STEPS))
    for step, _, blob in served:
        summary = reader.summary("run1/train", TAG, step=step)
        assert summary.shape == (len(info.filter_indices), len(metadata.SUMMARY_NAMES))
        assert blob == summary.astype("<f4").tobytes()


@pytest.mark.server
def test_version_0_layers_have_no_summaries_route(tmp_path, tensorboard_factory):
    root = _log_dir(tmp_path / "v0", format_version=0)
    server = tensorboard_factory(root, "true")
    _wait_listed(server, ["run1/train"])
    (layer,) = [l for r in server.plugin_json("runs")["runs"] for l in r["layers"] if l["tag"] == TAG]
    assert layer["summaryNames"] == []
    status, _, body = server.plugin("summaries", run="run1/train", tag=TAG)
    assert status == 400 and b"/series" in body


@pytest.mark.server
def test_the_tab_shows_the_summary_of_a_step_whose_pixel_file_is_missing(
        tmp_path, tensorboard_factory, browser):
    root = _log_dir(tmp_path / "one-missing", format_version=1)
    pixel_dir = os.path.join(root, "run1", "train", *pixel_file.PLUGIN_DIR)
    (missing,) = [os.path.join(pixel_dir, name) for name in os.listdir(pixel_dir)
                  if name.startswith("%010d." % 1)]
    os.remove(missing)
    server = tensorboard_factory(root, "true")
    _wait_listed(server, ["run1/train"])
    reader = LogReader(root)
    summary = reader.summary("run1/train", TAG, step=1)
    filters = reader.tags()["run1/train"][TAG].filter_indices
    with new_tab(browser) as t:
        t.open(tab_url(server, layer="block1_conv1", step=0))  # a step with its file: the grid
        assert len(t.grid("filters-grid")) == len(filters)
        t.f.locator("[data-testid=step-next]").click()
        panel = t.f.locator("[data-testid=summary-panel]")
        panel.wait_for(state="visible")
        assert t.f.locator("[data-testid=view-host]").is_hidden()
        message = t.f.locator("[data-testid=message]").inner_text()
        assert missing in message and "is missing" in message, message
        table = t.f.locator("[data-testid=summary-table]")
        assert table.get_attribute("data-step") == "1"
        assert "step 1" in t.f.locator("[data-testid=summary-title]").inner_text()
        means = table.locator("td[data-stat=mean]").all_inner_texts()
        dead = table.locator("td[data-stat=dead]").all_inner_texts()
        mean_column = list(metadata.SUMMARY_NAMES).index("mean")
        positive_column = list(metadata.SUMMARY_NAMES).index("positive_fraction")
        assert len(means) == len(filters)
        np.testing.assert_allclose([float(m) for m in means], summary[:, mean_column], rtol=5e-3, atol=1e-3)
        assert dead == ["no" if p > 0 else "yes" for p in summary[:, positive_column]]
        assert t.f.locator("[data-testid=summary-dead-chart-readout]").inner_text().startswith("step 1:")
        # Back to a step whose file is there: the view again, no message.
        t.f.locator("[data-testid=step-prev]").click()
        t.wait_painted(step=0)
        assert panel.is_hidden()
        t.assert_clean()
