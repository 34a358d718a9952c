"""Real-browser tests of the Activations tab.

Playwright (sync API) drives headless Chromium against real `tensorboard`
processes serving log dirs written by real `model.fit` runs (support/trained_logs.py).
Everything is read through the stable DOM hooks of `frontend/README.md`: the
tab lives in TensorBoard's plugin iframe; a view is ready when its
`data-painted-key` changes and `#actviz-app[data-busy=false]`.

Browser: env `TB_ACTVIZ_CHROMIUM`, else Debian's `/usr/bin/chromium`, else
Playwright's own download (`playwright install chromium`). When no browser
can be launched the tests fail under CI (env `CI` set) and skip elsewhere.

`test_screenshots` takes a screenshot of every view from a model trained by
`examples/faces.py`; with `TB_ACTVIZ_UPDATE_SCREENSHOTS=1` (`make screenshots`)
it writes them to `docs/screenshots/` for the README, otherwise to a temporary
folder, so a test run leaves the work tree clean.
"""

import json
import math
import os
import re
import urllib.parse

import numpy as np
import pytest

from log_parsing import area_average
from tensorboard_process import TensorBoardProcess

pytestmark = pytest.mark.server

# Helpers only: the fixtures (browser, tab, showcase_training) are plugins (tests/conftest.py).
from browser_support import (
    DATA_REQUEST, SCREENSHOTS, VIEWPORT, WAIT_MS, XSS_NAME,
    assert_drawn, new_tab, only_fast, tab_url,
)


# 1. View A ------------------------------------------------------------------------


def test_filters_grid_is_drawn(tab, tensorboard_server, trained_logs):
    faces = trained_logs.faces
    tab.open(tensorboard_server.base_url + "/#activations")
    f = tab.f
    assert f.locator("#actviz-app").get_attribute("data-view") == "filters"
    assert f.locator("[data-testid=view-tab-filters]").get_attribute("aria-selected") == "true"
    assert f.locator("#run-select").input_value() == faces.run
    assert f.locator("#layer-select").input_value() == "conv1"
    assert "25 × 25 × 8" in f.locator("#layer-shape").inner_text()
    last = faces.steps[-1]
    assert f.locator("[data-testid=view-filters]").get_attribute("data-painted-step") == str(last)
    assert tab.step_label().startswith("epoch %d " % last)  # the callback logged per epoch
    assert "epochs completed" in f.locator("#step-label").get_attribute("title")
    assert "Every logged filter" in f.locator("[data-testid=view-tab-filters]").get_attribute("title")

    geometry = faces.layers["conv1"]
    tiles = tab.grid("filters-grid")
    assert len(tiles) == geometry["F"]
    for k, stats in enumerate(tiles):
        assert (stats["width"], stats["height"]) == (geometry["W"], geometry["H"]), stats
    # Trained ReLU maps: some filters may be (nearly) dead, most must not be.
    drawn = [s for s in tiles if s["variance"] > 0 and s["colours"] >= 3]
    assert len(drawn) >= geometry["F"] // 2, tiles
    assert len({s["hash"] for s in tiles}) > 1, "all tiles identical"
    assert tab.captions("filters-grid") == ["filter: %d" % k for k in range(geometry["F"])]
    data_filters = f.locator("[data-testid=filters-grid] [data-testid=tile]").evaluate_all(
        "tiles => tiles.map(t => [t.dataset.filter, t.dataset.step, t.dataset.image])"
    )
    assert data_filters == [[str(k), str(last), "0"] for k in range(geometry["F"])]
    assert f.locator("[data-testid=filters-grid] [data-testid=tile].current").get_attribute("data-filter") == "0"

    # The probe image: the real pixels of probe image 0, with its label.
    probe = tab.canvas("[data-testid=probe-panel] [data-testid=probe-canvas]")
    assert (probe["width"], probe["height"]) == faces.probe_x.shape[2:0:-1]
    assert_drawn(probe, "probe image")
    caption = f.locator("[data-testid=probe-caption]").inner_text()
    assert "image: 0" in caption and faces.probe_labels[0] in caption
    tab.assert_clean()


# 2. Step slider and keys ----------------------------------------------------------------


@only_fast
def test_step_slider_and_keys_change_step_and_pixels(tab, tensorboard_server, trained_logs):
    steps = trained_logs.faces.steps
    n = len(steps)
    tab.open(tensorboard_server.base_url + "/#activations")
    f = tab.f
    slider = f.locator("#step-slider")
    assert slider.get_attribute("max") == str(n - 1)
    assert slider.input_value() == str(n - 1)
    at_last = tab.grid_hashes("filters-grid")

    def expect_step(index):
        assert tab.step_label() == "epoch %d (%d of %d)" % (steps[index], index + 1, n)
        assert slider.input_value() == str(index)
        tab.wait_host_state({"step": str(steps[index])})  # URL writes are debounced

    # Drag the slider to the first step.
    tab.act(lambda: slider.fill("0"), step=steps[0])
    expect_step(0)
    at_first = tab.grid_hashes("filters-grid")
    assert at_first != at_last, "the grid did not change between the first and last step"
    assert sum(a != b for a, b in zip(at_first, at_last)) >= len(at_first) // 2

    # Keys on the focused slider.
    tab.act(lambda: slider.press("ArrowRight"), step=steps[1])
    expect_step(1)
    assert tab.grid_hashes("filters-grid") not in (at_first, at_last)
    tab.act(lambda: slider.press("End"), step=steps[-1])
    expect_step(n - 1)
    assert tab.grid_hashes("filters-grid") == at_last
    tab.act(lambda: slider.press("Home"), step=steps[0])
    expect_step(0)
    assert tab.grid_hashes("filters-grid") == at_first

    # Keys with the focus outside form controls (the app's document shortcuts).
    f.locator("#step-label").click()
    tab.act(lambda: tab.page.keyboard.press("ArrowRight"), step=steps[1])
    expect_step(1)
    tab.act(lambda: tab.page.keyboard.press("End"), step=steps[-1])
    expect_step(n - 1)
    assert tab.grid_hashes("filters-grid") == at_last
    tab.act(lambda: tab.page.keyboard.press("ArrowLeft"), step=steps[-2])
    expect_step(n - 2)
    tab.act(lambda: tab.page.keyboard.press("Home"), step=steps[0])
    expect_step(0)
    assert tab.grid_hashes("filters-grid") == at_first

    # Previous / next buttons; disabled at the ends.
    assert f.locator("#step-prev").is_disabled()
    tab.act(lambda: f.locator("#step-next").click(), step=steps[1])
    expect_step(1)
    tab.act(lambda: f.locator("#step-prev").click(), step=steps[0])
    expect_step(0)
    tab.wait_host_state({"step": str(steps[0])})
    tab.assert_clean()


# 3. Colour options, filter and image ----------------------------------------------------


@only_fast
def test_display_options_filter_and_image_change_pixels(tab, tensorboard_server, trained_logs):
    tab.open(tensorboard_server.base_url + "/#activations")
    f = tab.f
    # Let the neighbour prefetch of the first paint finish before counting requests.
    tab.wait_data_idle()
    start = len(tab.requests)
    seen = [tab.grid_hashes("filters-grid")]

    def changed(what):
        now = tab.grid_hashes("filters-grid")
        assert now not in seen, "%s did not change the pixels" % what
        seen.append(now)

    tab.select("#colormap-select", "magma")
    changed("colormap magma")
    tab.select("#colormap-select", "gray")
    gray = tab.grid("filters-grid")
    changed("colormap gray")
    # gray: R == G == B on every pixel.
    gray_ok = f.locator("[data-testid=filters-grid] [data-testid=tile-canvas]").first.evaluate(
        """c => { const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
                  for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i+1] || d[i] !== d[i+2]) return false;
                  return true; }"""
    )
    assert gray_ok and gray
    assert f.locator("[data-testid=colormap-legend]").evaluate("e => getComputedStyle(e).backgroundImage").startswith(
        "linear-gradient"
    )
    tab.select("#colormap-select", "diverging")
    changed("colormap diverging")
    tab.select("#colormap-select", "viridis")
    assert tab.grid_hashes("filters-grid") == seen[0], "viridis again should repaint the same pixels"

    tab.select("#norm-select", "layer")
    changed("normalization per layer")
    tab.select("#norm-select", "filter")
    changed("normalization per filter")
    assert tab.data_requests(start) == [], "re-colouring / re-normalizing fetched data"

    # Fixed over all steps: needs the statistics of every step (blob 0 of
    # /series) once, but no activation pixels again. At the last step it can
    # equal the per-layer range, so compare with per map only.
    tab.select("#norm-select", "fixed")
    assert tab.grid_hashes("filters-grid") != seen[0], "fixed normalization did not change the pixels"
    fetched = tab.data_requests(start)
    assert all("/series?" in url and re.search(r"[?&]index=0(&|$)", url) for url in fetched), fetched
    tab.wait_data_idle()
    start = len(tab.requests)

    tab.select("#norm-select", "map")
    assert tab.grid_hashes("filters-grid") == seen[0]
    levels_before = tab.grid("filters-grid")
    tab.select("#levels-select", "3")
    changed("3 contour levels")
    levels_after = tab.grid("filters-grid")
    # Posterized into 3 levels: at most 3 colours per tile, and fewer than before overall.
    assert all(s["colours"] <= 3 for s in levels_after), levels_after
    assert sum(s["colours"] for s in levels_after) < sum(s["colours"] for s in levels_before)
    tab.select("#levels-select", "0")
    assert tab.data_requests(start) == [], "posterizing fetched data"

    # Image: every tile of view A shows the new image; the probe image changes too.
    probe_before = tab.canvas("[data-testid=probe-canvas]")["hash"]
    tab.select("#image-select", "1")
    changed("image 1")
    assert tab.canvas("[data-testid=probe-canvas]")["hash"] != probe_before
    assert "image: 1" in f.locator("[data-testid=probe-caption]").inner_text()

    # Filter: view A only moves the highlight; view B's tiles show the filter.
    tab.select("#filter-select", "3")
    assert f.locator("[data-testid=filters-grid] [data-testid=tile].current").get_attribute("data-filter") == "3"
    assert f.locator("[data-testid=filters-grid] [data-testid=tile][aria-current]").count() == 1
    tab.show_view("images")
    before = tab.grid_hashes("images-grid")
    tab.select("#filter-select", "5", view="images")
    after = tab.grid_hashes("images-grid")
    assert after != before, "filter change did not change view B's pixels"
    tab.assert_clean()


# 4. View B ------------------------------------------------------------------------


@only_fast
def test_one_filter_across_images(tab, tensorboard_server, trained_logs):
    faces = trained_logs.faces
    tab.open(tab_url(tensorboard_server, view="images", layer="conv2", filter=2))
    f = tab.f
    assert f.locator("[data-testid=view-tab-images]").get_attribute("aria-selected") == "true"
    assert f.locator("[data-testid=view-images]").is_visible()
    assert f.locator("[data-testid=view-filters]").is_hidden()
    geometry = faces.layers["conv2"]
    tiles = tab.grid("images-grid")
    assert len(tiles) == geometry["N"] == len(faces.probe_labels)
    for stats in tiles:
        assert (stats["width"], stats["height"]) == (geometry["W"], geometry["H"])
    assert sum(s["variance"] > 0 for s in tiles) >= len(tiles) // 2, tiles
    keys = f.locator("[data-testid=images-grid] [data-testid=tile] figcaption .caption-key").all_inner_texts()
    assert keys == ["image: %d" % k for k in range(geometry["N"])]
    captions = tab.captions("images-grid")
    for k, caption in enumerate(captions):
        assert caption.startswith("image: %d" % k) and faces.probe_labels[k] in caption, caption
    data = f.locator("[data-testid=images-grid] [data-testid=tile]").evaluate_all(
        "tiles => tiles.map(t => [t.dataset.filter, t.dataset.image])"
    )
    assert data == [["2", str(k)] for k in range(geometry["N"])]
    assert f.locator("[data-testid=images-grid] [data-testid=tile].current").get_attribute("data-image") == "0"
    tab.assert_clean()


# 5. Filter evolution ---------------------------------------------------------------------


def test_filter_evolution_filmstrip_and_play(tab, tensorboard_server, trained_logs):
    many = trained_logs.many  # 16 logged steps: more than TensorBoard's default of 10
    served = [s["step"] for s in tensorboard_server.plugin_json("steps", run=many.run, tag=many.tag("c"))["steps"]]
    assert served == many.steps
    tab.open(tab_url(tensorboard_server, view="evolution", run=many.run, filter=1))
    f = tab.f
    strip = f.locator("[data-testid=filmstrip] [data-testid=tile]")
    assert strip.count() == len(served)
    # The run was logged every batch: its steps say so everywhere, the filmstrip included.
    assert tab.captions("filmstrip") == ["batch %d" % s for s in served]
    assert strip.evaluate_all("tiles => tiles.map(t => Number(t.dataset.step))") == served
    assert set(strip.evaluate_all("tiles => tiles.map(t => t.dataset.filter)")) == {"1"}
    frames = tab.grid("filmstrip")
    assert len({s["hash"] for s in frames}) > 1, "every step looks the same"
    assert sum(s["variance"] > 0 for s in frames) >= len(frames) // 2
    preview = tab.grid("evolution-preview")
    assert len(preview) == 1
    assert_drawn(preview[0], "evolution preview")
    assert "filter: 1" in tab.captions("evolution-preview")[0]
    current = f.locator("[data-testid=filmstrip] [data-testid=tile].current")
    assert current.get_attribute("data-step") == str(served[-1])

    # All images: one row of maps per step, a separator column between maps, the probe
    # images shown in that order.
    tab.select("#evolution-images-select", "all")
    wide = tab.grid("filmstrip")
    assert len(wide) == len(served)
    n = many.layers["c"]["N"]
    assert wide[0]["width"] == many.layers["c"]["W"] * n + (n - 1)
    row = f.locator("[data-testid=probe-row] figure")
    assert row.count() == n and row.nth(n - 1).get_attribute("data-image") == str(n - 1)
    assert "left to right" in tab.captions("evolution-preview")[0]
    tab.select("#evolution-images-select", "image")

    # Play from the last step: restarts at the first and advances.
    play = f.locator("#play-button")
    assert play.get_attribute("aria-pressed") in (None, "false")
    play.click()
    assert play.get_attribute("aria-pressed") == "true"
    tab.wait_painted(step=served[0])
    tab.frame.wait_for_function(
        "() => Number(document.querySelector('[data-testid=view-evolution]').dataset.paintedStep) >= %d" % served[2],
        timeout=WAIT_MS,
    )
    play.click()
    assert play.get_attribute("aria-pressed") == "false"
    # A step already under way when pausing still paints; then nothing moves.
    tab.frame.wait_for_function("() => document.querySelector('#actviz-app').dataset.busy === 'false'")
    paused_at = int(f.locator("[data-testid=view-evolution]").get_attribute("data-painted-step"))
    tab.page.wait_for_timeout(1000)  # > 2 play intervals (350 ms): checking that nothing happens
    assert int(f.locator("[data-testid=view-evolution]").get_attribute("data-painted-step")) == paused_at
    assert paused_at >= served[2]
    assert f.locator("[data-testid=filmstrip] [data-testid=tile].current").get_attribute("data-step") == str(paused_at)
    assert tab.step_label().startswith("batch %d " % paused_at)  # update_freq=1: steps are batches
    tab.assert_clean()


# 6. Compare ------------------------------------------------------------------------------


@only_fast
def test_compare_two_layers_and_two_runs(tab, tensorboard_server, trained_logs):
    faces, many = trained_logs.faces, trained_logs.many
    tab.open(tab_url(tensorboard_server, view="compare"))
    f = tab.f
    assert f.locator("[data-testid=view-compare]").is_visible()
    left, right = tab.grid("compare-left-grid"), tab.grid("compare-right-grid")
    assert len(left) == faces.layers["conv1"]["F"]
    assert len(right) == faces.layers["conv2"]["F"]
    assert all(s["width"] == faces.layers["conv1"]["W"] for s in left)
    assert all(s["width"] == faces.layers["conv2"]["W"] for s in right)
    for grid in (left, right):
        assert sum(s["variance"] > 0 for s in grid) >= len(grid) // 2, grid
    assert "conv1" in f.locator("[data-testid=compare-left-title]").inner_text()
    assert "conv2" in f.locator("[data-testid=compare-right-title]").inner_text()
    assert f.locator("#compare-layer-select").input_value() == "conv2"

    # The other run on the right.
    tab.select("#compare-run-select", many.run, view="compare")
    right = tab.grid("compare-right-grid")
    assert len(right) == many.layers["c"]["F"]
    assert sum(s["variance"] > 0 for s in right) >= 1
    title = f.locator("[data-testid=compare-right-title]").inner_text()
    assert title.startswith("%s · c [6 × 6 × 4]" % many.run), title
    tab.wait_host_state({"view": "compare", "cmpRun": many.run})
    tab.assert_clean()


# 7. Zoom ---------------------------------------------------------------------------------


@only_fast
def test_zoom_shows_real_values(tab, browser, tensorboard_server, trained_logs):
    faces = trained_logs.faces
    g = faces.layers["conv1"]
    filter_, image = 4, 2
    tab.open(tab_url(tensorboard_server, image=image))
    f = tab.f
    dialog = f.locator("#zoom-dialog")
    assert dialog.get_attribute("open") is None
    tile = f.locator("[data-testid=filters-grid] [data-testid=tile][data-filter='%d']" % filter_)
    tile.click()
    f.locator("#zoom-dialog[open]").wait_for()
    canvas = f.locator("[data-testid=zoom-canvas]")
    f.locator("[data-testid=zoom-canvas][data-painted-key]").wait_for()
    stats = tab.canvas("[data-testid=zoom-canvas]")
    assert (stats["width"], stats["height"]) == (g["W"], g["H"])
    assert_drawn(stats, "zoom canvas")
    assert canvas.evaluate("c => getComputedStyle(c).imageRendering") == "pixelated"
    box = canvas.bounding_box()
    assert box["width"] >= 4 * g["W"], "zoomed map is not enlarged: %s" % box
    title = f.locator("[data-testid=zoom-title]").inner_text()
    assert "filter: %d" % filter_ in title and "image: %d" % image in title and "conv1" in title
    assert "epoch %d" % faces.steps[-1] in title  # the run's step unit

    # The value under the cursor is the real (de-quantized) activation of the
    # last step: the model's conv1 output after training, area-averaged x2.
    expected = area_average(faces.final_outputs["conv1"], g["factor"])[image, :, :, filter_]
    span = float(expected.max() - expected.min())
    readout = f.locator("[data-testid=zoom-value]")
    for x, y in [(0, 0), (6, 6), (g["W"] - 1, 3), (2, g["H"] - 1)]:
        tab.page.mouse.move(box["x"] + (x + 0.5) * box["width"] / g["W"], box["y"] + (y + 0.5) * box["height"] / g["H"])
        tab.frame.wait_for_function(
            "([x, y]) => document.querySelector('[data-testid=zoom-value]').textContent.startsWith(`x ${x}, y ${y}:`)",
            arg=[x, y],
            timeout=WAIT_MS,
        )
        value = float(readout.get_attribute("data-value"))
        assert math.isfinite(value)
        assert abs(value - expected[y, x]) <= span / 255 + 1e-4, (x, y, value, expected[y, x])
        assert re.search(r":\s*-?[\d.]+(e[-+]?\d+)?", readout.inner_text()), readout.inner_text()
    assert f.locator("[data-testid=zoom-stats]").inner_text().strip()
    assert "13 × 13" in f.locator("[data-testid=zoom-geometry]").inner_text()
    # The zoomed map is part of the URL state; closing removes it.
    tab.page.wait_for_function("() => location.hash.includes('p.activations.zoom=')", timeout=WAIT_MS)
    assert json.loads(tab.host_state()["zoom"]) == {
        "run": faces.run, "layer": "conv1", "step": faces.steps[-1], "filter": filter_, "image": image,
    }
    zoom_url = tab.page.url
    f.locator("[data-testid=zoom-close]").click()
    f.locator("#zoom-dialog:not([open])").wait_for(state="attached")
    tab.page.wait_for_function("() => !location.hash.includes('p.activations.zoom=')", timeout=WAIT_MS)

    # Keyboard: Enter on a focused tile opens it, Escape closes it.
    other = f.locator("[data-testid=filters-grid] [data-testid=tile][data-filter='1']")
    other.focus()
    other.press("Enter")
    f.locator("#zoom-dialog[open]").wait_for()
    tab.frame.wait_for_function(
        "() => document.querySelector('[data-testid=zoom-title]').textContent.includes('filter: 1 ')"
    )
    tab.page.keyboard.press("Escape")
    f.locator("#zoom-dialog:not([open])").wait_for(state="attached")
    tab.page.wait_for_function("() => !location.hash.includes('p.activations.zoom=')", timeout=WAIT_MS)

    # A link with the zoom state, opened in a new page, reopens the same map.
    with new_tab(browser) as again:
        again.open(zoom_url)
        again.f.locator("#zoom-dialog[open] [data-testid=zoom-canvas][data-painted-key]").wait_for()
        assert again.f.locator("[data-testid=zoom-title]").inner_text() == title
        assert again.canvas("[data-testid=zoom-canvas]")["hash"] == stats["hash"]
        again.assert_clean()
    tab.assert_clean()


# 8. URL round trip -------------------------------------------------------------------------


@only_fast
def test_url_round_trip(tab, browser, tensorboard_server, trained_logs):
    faces = trained_logs.faces
    tab.open(tensorboard_server.base_url + "/#activations")
    f = tab.f
    tab.show_view("images")
    tab.select("#filter-select", "3", view="images")
    tab.select("#colormap-select", "magma", view="images")
    tab.select("#norm-select", "layer", view="images")
    tab.select("#levels-select", "5", view="images")
    tab.select("#image-select", "2", view="images")
    tab.act(lambda: f.locator("#step-slider").fill("2"), view="images", step=faces.steps[2])
    expected = {
        "view": "images", "run": faces.run, "layer": "conv1", "filter": "3", "cmap": "magma",
        "norm": "layer", "levels": "5", "image": "2", "step": str(faces.steps[2]),
    }
    tab.wait_host_state(expected)
    url = tab.page.url
    assert tab.host_state() == expected, url
    key = tab.painted_key()
    pixels = tab.grid_hashes("images-grid")

    # TensorBoard's reload button: the tab re-reads runs and steps, keeps the view.
    with tab.page.expect_request(re.compile(r"/data/plugin/activations/runs")):
        tab.page.locator(".reload-button").click()
    tab.frame.wait_for_function("() => document.querySelector('#actviz-app').dataset.busy === 'false'")
    assert tab.painted_key() == key
    assert tab.grid_hashes("images-grid") == pixels
    assert tab.host_state() == expected
    tab.assert_clean()

    with new_tab(browser) as again:
        again.open(url)
        g = again.f
        assert g.locator("#actviz-app").get_attribute("data-view") == "images"
        assert g.locator("[data-testid=view-tab-images]").get_attribute("aria-selected") == "true"
        assert g.locator("#filter-select").input_value() == "3"
        assert g.locator("#colormap-select").input_value() == "magma"
        assert g.locator("#norm-select").input_value() == "layer"
        assert g.locator("#levels-select").input_value() == "5"
        assert g.locator("#image-select").input_value() == "2"
        assert g.locator("#step-slider").input_value() == "2"
        assert again.step_label().startswith("epoch %d " % faces.steps[2])
        assert again.painted_key() == key
        assert again.grid_hashes("images-grid") == pixels
        assert again.host_state() == expected
        again.assert_clean()


# 9. XSS ------------------------------------------------------------------------------------


def write_tiny_run(log_dir):
    import keras
    from tb_actviz import ActivationLogger

    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 8, 8, 1)).astype("float32")
    y = rng.normal(size=(4, 1)).astype("float32")
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Conv2D(3, 3, name="conv"), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0,
              callbacks=[ActivationLogger(log_dir, probe=x[:2], layers="conv", verbose=0)])


def test_run_name_is_text_not_html(tab, tmp_path, tensorboard_factory):
    root = str(tmp_path / "xss")
    write_tiny_run(os.path.join(root, XSS_NAME))
    run = XSS_NAME + "/train"
    server = tensorboard_factory(root, "true")
    server.wait_until(lambda: server.served_steps(run, "actviz/layers/conv") == [0, 1], "the XSS run")
    tab.open(tab_url(server, view="compare"))
    f = tab.f
    options = f.locator("#run-select option")
    assert options.all_inner_texts() == [run]
    assert options.first.get_attribute("value") == run
    assert f.locator("#run-select").input_value() == run
    assert run in f.locator("[data-testid=compare-left-title]").inner_text()
    assert run in f.locator("#compare-run-select option").first.inner_text()
    f.locator("[data-testid=compare-left-grid] [data-testid=tile]").first.click()
    f.locator("#zoom-dialog[open]").wait_for()
    assert run in f.locator("[data-testid=zoom-title]").inner_text()
    # Nothing parsed as HTML anywhere: no <img src=x>, no alert.
    tab.page.wait_for_timeout(300)  # let a would-be onerror fire
    assert f.locator('img[src="x"]').count() == 0
    assert tab.page.locator('img[src="x"]').count() == 0
    assert tab.dialogs == []
    assert tab.host_state().get("run") in (None, run)
    tab.assert_clean()


# 10. One wording for the step ------------------------------------------------------------


STEP_NUMBER = re.compile(r"\bstep \d")


@only_fast
def test_every_view_says_the_step_in_the_run_unit(tab, tensorboard_server, trained_logs):
    """The faces run was logged per epoch: every view says "epoch N", never "step N"."""
    faces = trained_logs.faces
    last = faces.steps[-1]
    f = tab.f

    def words(view):
        """The view's text and its tiles' tooltips, with no "step N" in them."""
        element = f.locator("[data-testid=view-%s]" % view)
        text = element.inner_text()
        tooltips = element.locator("[data-testid=tile]").evaluate_all("tiles => tiles.map(t => t.title)")
        for said in [text] + tooltips:
            assert not STEP_NUMBER.search(said), said
        return text, tooltips

    tab.open(tab_url(tensorboard_server, view="compare"))
    words("compare")
    for side in ("left", "right"):
        assert f.locator("[data-testid=compare-%s-title]" % side).inner_text().endswith("· epoch %d" % last)
    with tab.page.expect_download() as download:
        f.locator("#download-button").click()
    assert download.value.suggested_filename.endswith("_compare_epoch%d.png" % last)

    tab.show_view("evolution")
    _, tooltips = words("evolution")
    assert tab.captions("filmstrip") == ["epoch %d" % s for s in faces.steps]
    assert "· epoch %d" % last in tab.captions("evolution-preview")[0]
    assert f.locator("[data-testid=filmstrip-title]").inner_text() == "Every logged epoch"
    assert all("· epoch " in tooltip for tooltip in tooltips), tooltips

    tab.show_view("attention")
    _, tooltips = words("attention")
    keys = f.locator("[data-testid=attention-filmstrip] [data-testid=tile] figcaption .caption-key").all_inner_texts()
    assert keys == ["epoch %d" % s for s in faces.steps]
    assert f.locator("[data-testid=attention-title]").inner_text().endswith("· epoch %d" % last)
    assert f.locator("[data-testid=attention-filmstrip-title]").inner_text().endswith("every logged epoch")
    assert all("· epoch " in tooltip for tooltip in tooltips), tooltips

    tab.show_view("filters")
    words("filters")
    tab.assert_clean()


# 11. Empty state ---------------------------------------------------------------------------


def test_empty_log_dir_says_what_to_do(tab, tmp_path, tensorboard_factory):
    empty = tmp_path / "empty"
    empty.mkdir()
    server = tensorboard_factory(str(empty), "true")
    tab.open(server.base_url + "/#activations", painted=False)
    message = tab.f.locator("[data-testid=empty-state]")
    message.wait_for(state="visible")
    assert "ActivationLogger" in message.inner_text()
    assert tab.f.locator("[data-testid=controls]").is_hidden()
    assert tab.f.locator("[data-testid=view-host]").is_hidden()
    tab.assert_clean()


# 12. Screenshots ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def showcase_server(showcase_training, tmp_path_factory):
    """A model trained by examples/faces.py (and a second, smaller run),
    served by `tensorboard --load_fast=true`, for the README's screenshots."""
    root = showcase_training.wait()
    server = TensorBoardProcess(
        str(root), "true", log_path=str(tmp_path_factory.mktemp("tensorboard_output") / "tb.log")
    ).start()
    try:
        def ready():
            runs = {r["run"]: r for r in server.plugin_json("runs")["runs"]}
            if not {"faces/train", "faces_16px/train"} <= set(runs):
                return False
            return len(server.served_steps("faces/train", "actviz/layers/conv2")) == 9 and len(
                server.served_steps("faces_16px/train", "actviz/layers/conv2")
            ) == 4

        server.wait_until(ready, "the showcase runs")
        yield server
    finally:
        server.stop()


def shoot(tab, name, park_mouse=True):
    os.makedirs(SCREENSHOTS, exist_ok=True)
    if park_mouse:
        tab.page.mouse.move(0, VIEWPORT["height"] - 1)
    path = os.path.join(SCREENSHOTS, name)
    tab.page.screenshot(path=path, full_page=False)
    assert os.path.getsize(path) > 10_000
    return path


def test_compare_same_layer_in_two_runs(tab, showcase_server):
    tab.open(tab_url(showcase_server, view="compare", run="faces/train", layer="conv2", cmpRun="faces_16px/train"))
    f = tab.f
    assert f.locator("#compare-layer-select").input_value() == "conv2"
    left_title = f.locator("[data-testid=compare-left-title]").inner_text()
    right_title = f.locator("[data-testid=compare-right-title]").inner_text()
    assert "faces/train · conv2" in left_title and "faces_16px/train · conv2" in right_title
    # Same step on both sides where the short run has it; else its last step at or before.
    assert "epoch 8" in left_title and "epoch 3" in right_title, (left_title, right_title)
    left, right = tab.grid("compare-left-grid"), tab.grid("compare-right-grid")
    assert len(left) == len(right) == 16
    assert (left[0]["width"], right[0]["width"]) == (32, 16)  # max_map_size 32
    assert sum(s["variance"] > 0 for s in left) >= 8 and sum(s["variance"] > 0 for s in right) >= 8
    tab.act(lambda: tab.f.locator("#step-slider").fill("2"), view="compare", step=2)
    assert "epoch 2" in f.locator("[data-testid=compare-right-title]").inner_text()
    tab.assert_clean()


def test_screenshots(tab, showcase_server):
    """Screenshots of every view for the README, at 1400x900."""
    base = dict(run="faces/train", layer="conv2", image=1, filter=5)
    tab.open(tab_url(showcase_server, **base))
    shoot(tab, "filters_of_image.png")

    tab.show_view("images")
    shoot(tab, "filter_across_images.png")

    tab.select("#layer-select", "conv1", view="images")
    tab.select("#filter-select", "3", view="images")
    tab.show_view("evolution")
    assert len(tab.grid("filmstrip")) == 9
    shoot(tab, "evolution.png")

    tab.show_view("compare")
    if tab.f.locator("#compare-layer-select").input_value() != "conv3":
        tab.select("#compare-layer-select", "conv3", view="compare")
    assert len(tab.grid("compare-right-grid")) == 32
    shoot(tab, "compare.png")

    tab.show_view("attention")
    assert len(tab.grid("attention-grid")) == 8
    assert len(tab.grid("attention-filmstrip")) == 9
    shoot(tab, "attention.png")

    tab.show_view("filters")
    tab.f.locator("[data-testid=filters-grid] [data-testid=tile][data-filter='3']").click()
    tab.f.locator("#zoom-dialog[open] [data-testid=zoom-canvas][data-painted-key]").wait_for()
    box = tab.f.locator("[data-testid=zoom-canvas]").bounding_box()
    tab.page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.4)
    tab.f.locator("[data-testid=zoom-value][data-value]").wait_for(state="attached")
    shoot(tab, "zoom.png", park_mouse=False)
    for name in ["filters_of_image.png", "filter_across_images.png", "evolution.png", "compare.png",
                 "attention.png", "zoom.png"]:
        assert os.path.exists(os.path.join(SCREENSHOTS, name))
    tab.assert_clean()
