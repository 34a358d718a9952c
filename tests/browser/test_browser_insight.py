"""Real-browser tests of the tab's insight features (issue "[5 of 5]"):
per-filter statistics and sparklines, dead filters, rankings, top probe
images, kernels, and Download PNG of the new views.

Expected values are computed here with numpy from the served blobs
(`docs/format.md`), never from the front end's own code.
"""

import os
import struct
import time

import numpy as np
import pytest

from log_parsing import decode_png, dequantize, parse_blobs, parse_series
from browser_support import WAIT_MS, new_tab, only_fast, tab_url

pytestmark = pytest.mark.server

STATS = ["min", "max", "mean", "std", "positive_fraction", "nonfinite_count"]

# Resolves when the active view's statistics over training (sparklines, charts) are painted for its current key.
INSIGHT_JS = """() => {
  const root = document.querySelector("#actviz-app");
  if (!root || root.dataset.busy !== "false") return false;
  const view = document.querySelector(`[data-testid=view-${root.dataset.view}]`);
  return Boolean(view?.dataset.paintedKey) && view.dataset.insightKey === view.dataset.paintedKey;
}"""


def layer_json(server, run, path):
    runs = server.plugin_json("runs")["runs"]
    return next(l for r in runs if r["run"] == run for l in r["layers"] if l["path"] == path)


def stats_series(server, run, layer):
    """{step: float32 [F, N, K]} from one /series request."""
    status, _, body = server.plugin("series", run=run, tag=layer["tag"], index=0)
    assert status == 200
    shape = (len(layer["filterIndices"]), layer["numImages"], len(STATS))
    return {step: np.frombuffer(blob, "<f4").reshape(shape) for step, _, blob in parse_series(body)}


def step_maps(server, run, layer, step, wall_time):
    """De-quantized maps of every filter at one step: [F, N, H, W] float64, and the stats."""
    f = len(layer["filterIndices"])
    status, _, body = server.plugin("blobs", run=run, tag=layer["tag"], step=step, indices="0-%d" % f, wall_time=repr(wall_time))
    assert status == 200
    blobs = parse_blobs(body)
    n, h, w = layer["numImages"], layer["mapHeight"], layer["mapWidth"]
    stats = np.frombuffer(blobs[0], "<f4").reshape(f, n, len(STATS))
    maps = np.zeros((f, n, h, w))
    for k in range(f):
        strip = decode_png(blobs[k + 1]).reshape(h, n * w)
        for i in range(n):
            maps[k, i] = dequantize(strip[:, i * w:(i + 1) * w], stats[k, i, 0], stats[k, i, 1])
    return maps, stats


def ranked(values):
    """Positions by value, highest first, ties by index (the tab's rule)."""
    return sorted(range(len(values)), key=lambda k: (-values[k], k))


def wait_insight(t):
    t.frame.wait_for_function(INSIGHT_JS, timeout=WAIT_MS)


def grid_filters(t, testid="filters-grid"):
    return [int(v) for v in t.f.locator("[data-testid=%s] [data-testid=tile]" % testid).evaluate_all("ts => ts.map(t => t.dataset.filter)")]


# 1. Statistics, sparklines and dead filters ----------------------------------------


def test_filter_stats_sparklines_and_dead_filters(tab, tensorboard_server, trained_logs):
    faces = trained_logs.faces
    layer = layer_json(tensorboard_server, faces.run, "conv2")
    series = stats_series(tensorboard_server, faces.run, layer)
    last = faces.steps[-1]
    tab.open(tab_url(tensorboard_server, layer="conv2", filter=layer["filterIndices"][1]))
    wait_insight(tab)
    f = tab.f

    # Dead marks on every tile: never positive on any probe image at this step.
    stats = series[last]
    dead = [bool(stats[k, :, 4].max() == 0) for k in range(stats.shape[0])]
    marks = f.locator("[data-testid=filters-grid] [data-testid=tile]").evaluate_all("ts => ts.map(t => t.dataset.dead)")
    assert marks == [str(d).lower() for d in dead]

    # One painted sparkline per tile.
    sparklines = f.locator("[data-testid=filters-grid] [data-testid=tile] [data-testid=tile-sparkline]")
    assert sparklines.count() == len(layer["filterIndices"])
    widths = sparklines.evaluate_all("cs => cs.map(c => c.width * c.height)")
    assert all(w > 0 for w in widths)

    # The chosen filter's statistics at this step, against numpy.
    k = 1
    view = f.locator("[data-testid=view-filters]")  # every view with stats has its own panel
    table = view.locator("[data-testid=filter-stats-table]")
    assert table.get_attribute("data-filter") == str(layer["filterIndices"][k])
    assert table.get_attribute("data-step") == str(last)
    mean = float(stats[k, :, 2].mean())
    pooled_std = float(np.sqrt(max(0.0, (stats[k, :, 3].astype(np.float64) ** 2 + stats[k, :, 2].astype(np.float64) ** 2).mean() - mean**2)))
    cell = lambda name: table.locator("tr[data-stat=%s] td" % name).inner_text()  # noqa: E731
    assert float(cell("mean")) == pytest.approx(mean, rel=5e-3, abs=1e-6)
    assert float(cell("std")) == pytest.approx(pooled_std, rel=5e-3, abs=1e-6)
    assert float(cell("max")) == pytest.approx(float(stats[k, :, 1].max()), rel=5e-3, abs=1e-6)
    assert cell("sparsity") == "%d%%" % round(100 * (1 - float(stats[k, :, 4].mean())))
    assert cell("nonfinite") == str(int(stats[k, :, 5].sum()))
    assert cell("dead") == ("yes" if dead[k] else "no")

    # The dead-fraction chart's readout at the current step; hover shows another step.
    count = len(layer["filterIndices"])
    readout = view.locator("[data-testid=dead-fraction-chart-readout]")
    assert readout.inner_text().startswith("epoch %d: %d of %d dead" % (last, sum(dead), count))  # the run's step unit
    canvas = view.locator("[data-testid=dead-fraction-chart-canvas]")
    box = canvas.bounding_box()
    canvas.hover(position={"x": 1, "y": box["height"] / 2})
    first = faces.steps[0]
    dead_first = sum(bool(series[first][j, :, 4].max() == 0) for j in range(count))
    assert readout.inner_text().startswith("epoch %d: %d of %d dead" % (first, dead_first, count))
    mean_readout = view.locator("[data-testid=filter-mean-chart-readout]").inner_text()
    assert mean_readout.startswith("epoch %d: mean " % last)
    tab.assert_clean()


# 2. Rankings ---------------------------------------------------------------------------


@only_fast
def test_rankings_order_the_grid_and_live_in_the_url(tab, tensorboard_server, trained_logs):
    faces = trained_logs.faces
    layer = layer_json(tensorboard_server, faces.run, "conv1")
    steps = tensorboard_server.plugin_json("steps", run=faces.run, tag=layer["tag"])["steps"]
    tab.open(tab_url(tensorboard_server, layer="conv1"))
    f = tab.f
    count = len(layer["filterIndices"])
    assert grid_filters(tab) == layer["filterIndices"]
    assert f.locator("[data-testid=filters-grid]").get_attribute("data-rank-source") == "index"

    current, previous = steps[-1], steps[-2]
    maps, stats = step_maps(tensorboard_server, faces.run, layer, current["step"], current["wallTime"])
    before, _ = step_maps(tensorboard_server, faces.run, layer, previous["step"], previous["wallTime"])

    tab.select("#rank-select", "mean")
    tab.wait_host_state({"rank": "mean"})
    expected = [layer["filterIndices"][k] for k in ranked([float(stats[k, :, 2].mean()) for k in range(count)])]
    assert grid_filters(tab) == expected

    tab.select("#rank-select", "sparsity")
    sparsity = [1 - float(stats[k, :, 4].mean()) for k in range(count)]
    assert grid_filters(tab) == [layer["filterIndices"][k] for k in ranked(sparsity)]

    # Change since the previous log: from the de-quantized maps once both steps' strips are decoded.
    tab.select("#rank-select", "change")
    tab.frame.wait_for_function("() => document.querySelector('[data-testid=filters-grid]').dataset.rankSource === 'maps'", timeout=WAIT_MS)
    change = np.abs(maps - before).mean(axis=(1, 2, 3))
    got = grid_filters(tab)
    want = [layer["filterIndices"][k] for k in ranked(list(change))]
    # Float32 vs float64 sums may swap near-ties only.
    for a, b in zip(got, want):
        if a != b:
            assert change[layer["filterIndices"].index(a)] == pytest.approx(change[layer["filterIndices"].index(b)], rel=1e-4)
    note = f.locator("#rank-note").inner_text()
    assert "since epoch %d" % previous["step"] in note and "from the maps" in note

    # The ranking survives a reload (URL state); the first step has no previous log.
    tab.wait_host_state({"rank": "change"})
    with new_tab(tab.page.context.browser) as again:
        again.open(tab_url(tensorboard_server, layer="conv1", rank="change", step=steps[0]["step"]))
        assert again.f.locator("#rank-select").input_value() == "change"
        assert "first log" in again.f.locator("#rank-note").inner_text()
        assert grid_filters(again) == layer["filterIndices"]
        again.assert_clean()
    tab.assert_clean()


# 3. Top probe images ---------------------------------------------------------------


@only_fast
def test_top_images_by_mean_activation(tab, tensorboard_server, trained_logs):
    faces = trained_logs.faces
    layer = layer_json(tensorboard_server, faces.run, "conv2")
    stats = stats_series(tensorboard_server, faces.run, layer)[faces.steps[-1]]
    k = 2
    filter_ = layer["filterIndices"][k]
    tab.open(tab_url(tensorboard_server, view="images", layer="conv2", filter=filter_))
    f = tab.f
    means = [float(v) for v in stats[k, :, 2]]
    order = ranked(means)
    top = f.locator("[data-testid=top-images] [data-testid=top-image]")
    shown = top.evaluate_all("bs => bs.map(b => [Number(b.dataset.image), Number(b.dataset.value), b.textContent])")
    assert [image for image, _, _ in shown] == order[: len(shown)]
    for image, value, text in shown:
        assert value == pytest.approx(means[image], rel=1e-5, abs=1e-7)
        assert faces.probe_labels[image] in text
    note = f.locator("[data-testid=top-images-note]").inner_text()
    assert "probe=x_val[:32]" in note and "max_images=64" not in note, note
    # The grid: probe order, then most excited first.
    images = lambda: [int(v) for v in f.locator("[data-testid=images-grid] [data-testid=tile]").evaluate_all("ts => ts.map(t => t.dataset.image)")]  # noqa: E731
    assert images() == list(range(layer["numImages"]))
    tab.select("#image-order-select", "top")
    tab.wait_host_state({"imgOrder": "top"})
    assert images() == order
    # A top image picks the probe image.
    tab.act(lambda: top.nth(1).click())
    tab.wait_host_state({"image": str(order[1])})
    assert f.locator("[data-testid=images-grid] [data-testid=tile].current").get_attribute("data-image") == str(order[1])
    tab.assert_clean()


# 4. Kernels ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kernel_logs(tmp_path_factory):
    """A tiny RGB model trained 2 epochs with kernels=True (first Conv2D)."""
    import keras
    from tb_actviz import ActivationLogger
    import inspect

    if "kernels" not in inspect.signature(ActivationLogger).parameters:
        pytest.skip("ActivationLogger has no kernels= yet")
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(16, 10, 10, 3)).astype("float32")
    y = rng.integers(0, 2, size=16)
    model = keras.Sequential([
        keras.Input((10, 10, 3)),
        keras.layers.Conv2D(6, 3, activation="relu", name="rgb"),
        keras.layers.Conv2D(4, 3, activation="relu", name="second"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    root = str(tmp_path_factory.mktemp("kernel_logs"))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0,
              callbacks=[ActivationLogger(os.path.join(root, "k"), probe=x[:4], kernels=True, verbose=0)])
    return root


def test_kernels_view_and_download(browser, tensorboard_factory, kernel_logs):
    server = tensorboard_factory(kernel_logs, "true")
    server.wait_until(lambda: len(server.served_steps("k/train", "actviz/kernels/rgb")) == 3, "kernel steps")
    runs = server.plugin_json("runs")["runs"]
    (kernels,) = runs[0]["kernels"]
    assert kernels["channels"] == 3
    steps = server.plugin_json("steps", run="k/train", tag=kernels["tag"])["steps"]
    with new_tab(browser) as t:
        t.open(tab_url(server, view="kernels", layer="rgb", step=steps[0]["step"]))
        f = t.f
        assert f.locator("[data-testid=view-tab-kernels]").is_visible()
        tiles = f.locator("[data-testid=kernels-grid] [data-testid=tile]")
        assert tiles.count() == kernels["numFilters"]
        assert t.captions("kernels-grid") == ["filter: %d" % k for k in kernels["filterIndices"]]
        assert f.locator("[data-testid=kernels-grid] [data-testid=tile-canvas]").first.evaluate("c => getComputedStyle(c).imageRendering") == "pixelated"
        # Kernels are drawn as logged: no colormap, normalization, contours or probe image;
        # the filter control marks a kernel (these are the chosen layer's).
        for hidden in ["#layer-select", "#image-select", "#colormap-select", "#norm-select", "#levels-select",
                       "#overlay-toggle", "#opacity-slider"]:
            assert f.locator(hidden).is_hidden(), hidden
        assert f.locator("#filter-select").is_visible() and f.locator("#kernel-layer-select").is_visible()

        def check(step):
            status, _, body = server.plugin("blobs", run="k/train", tag=kernels["tag"], step=step["step"], indices="0-1", wall_time=repr(step["wallTime"]))
            ranges_blob, png = parse_blobs(body)
            strip = decode_png(png)
            ranges = np.frombuffer(ranges_blob, "<f4").reshape(-1, 2)
            kh, kw = kernels["kernelHeight"], kernels["kernelWidth"]
            pixels = f.locator("[data-testid=kernels-grid] [data-testid=tile-canvas]").evaluate_all(
                "cs => cs.map(c => [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)])"
            )
            for k, (w, h, data) in enumerate(pixels):
                assert (w, h) == (kw, kh)
                rgba = np.array(data, dtype=np.uint8).reshape(kh, kw, 4)
                np.testing.assert_array_equal(rgba[..., :3], strip[:, k * kw:(k + 1) * kw, :3])
            got = tiles.evaluate_all("ts => ts.map(t => [Number(t.dataset.min), Number(t.dataset.max)])")
            np.testing.assert_allclose(np.array(got), ranges, rtol=1e-6)
            return [p[2] for p in pixels]

        first = check(steps[0])
        t.act(lambda: f.locator("#step-slider").fill(str(len(steps) - 1)), step=steps[-1]["step"])
        # Kernels carry no step unit of their own: the run's (logged per epoch).
        assert "epoch %d" % steps[-1]["step"] in f.locator("[data-testid=kernels-title]").inner_text()
        assert check(steps[-1]) != first, "kernels did not change over training"

        # Download PNG of the kernels view.
        with t.page.expect_download() as download:
            f.locator("#download-button").click()
        path = download.value.path()
        with open(path, "rb") as handle:
            data = handle.read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert width > 100 and height > 20
        assert download.value.suggested_filename.endswith("_rgb_kernels_epoch%d.png" % steps[-1]["step"])
        t.assert_clean()


@only_fast
def test_download_filters_view_with_insight(tab, tensorboard_server, trained_logs):  # noqa: F811
    tab.open(tab_url(tensorboard_server, layer="conv2", rank="mean"))
    wait_insight(tab)
    # The shared logs have no kernels: no Kernels tab, and view=kernels falls back.
    assert tab.f.locator("[data-testid=view-tab-kernels]").is_hidden()
    # Where the aside's dead-filter chart ends, once the view's layout has settled (the
    # aside's panels lay out after the grid paints): the figure is taken from that layout.
    extent_js = """() => {
      const view = document.querySelector('[data-testid=view-filters]');
      const origin = view.getBoundingClientRect();
      const chart = view.querySelector('[data-testid=dead-fraction-chart-canvas]').getBoundingClientRect();
      return {bottom: chart.bottom - origin.top, ratio: Math.min(2, window.devicePixelRatio || 1)};
    }"""
    extent, previous = tab.frame.evaluate(extent_js), None
    deadline = time.monotonic() + 30
    while extent != previous and time.monotonic() < deadline:
        time.sleep(0.3)
        previous, extent = extent, tab.frame.evaluate(extent_js)
    with tab.page.expect_download() as download:
        tab.f.locator("#download-button").click()
    with open(download.value.path(), "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 400 and height > 200
    # The whole view is in the figure, the aside's dead-filter chart included, under a
    # header: the title, and the colormap's legend (viridis: dark purple on the left).
    header = 46
    assert height >= (extent["bottom"] + header) * extent["ratio"] - 1, (height, extent)
    import io
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    r = extent["ratio"]
    legend_start = pixels[int(31 * r), int(10 * r)]
    assert np.abs(legend_start - [68, 1, 84]).max() <= 12, legend_start
    title_band = pixels[int(6 * r):int(19 * r), int(8 * r):int(300 * r)]
    assert len(np.unique(title_band.reshape(-1, 3), axis=0)) > 2  # text drawn
    tab.assert_clean()
