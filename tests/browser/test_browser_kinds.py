"""Real-browser tests of every map kind and of non-finite values in the tab
(issue "[4 of 5] Robust": "NaN and Inf never crash the callback or the tab:
they are counted per map, stored as such, and shown (a marker in the tile,
the count in the zoom); constant maps are stored without a division by zero
and shown as flat", and "Every kind appears in the tab in a sensible form").

One functional model, trained for real with `ActivationLogger`, logs:

- `conv2d`: a Conv2D (`maps`);
- `broken`: a Lambda that puts NaN on bright probe pixels and +Inf on dark
  ones (`maps`, with `nonfinite_count > 0`), repaired with
  `ops.nan_to_num` before the loss;
- `flat`: a frozen all-zero Conv2D (`maps`, every map constant);
- `conv1d`: a Conv1D over the image rows (`sequence`, 1 x T maps);
- `fc`: a Dense layer (`units`, one 1 x U map);
- `conv3d`: a Conv3D over the colour planes (`volume_max_projection`);
- `tokens`: a Dense over ViT-like tokens, a class token and the 4 x 4 patches
  of a Conv2D with kernel == strides == 3 (`token_grid`: 4 x 4 maps, the class
  token left out; issue [13], point 5), drawn and laid over the probe image
  like a conv layer's maps.

Expected values come from the served blobs (`/blobs`, `docs/format.md`),
never from the front end's own code.
"""

import os

import numpy as np
import pytest

from log_parsing import decode_png, parse_blobs, parse_series
from browser_support import WAIT_MS, assert_drawn, new_tab, tab_url

pytestmark = pytest.mark.server

STATS = ["min", "max", "mean", "std", "positive_fraction", "nonfinite_count"]
NONFINITE = STATS.index("nonfinite_count")
RUN = "kinds/train"
PROBE_SIZE = 4
IMAGE_SIZE = 12
KINDS = {
    "conv2d": "maps",
    "broken": "maps",
    "flat": "maps",
    "conv1d": "sequence",
    "fc": "units",
    "conv3d": "volume_max_projection",
    "tokens": "token_grid",
}
# Sequence and unit strips must be drawn at least this tall (CSS px).
MIN_STRIP_HEIGHT = 16
SCREENSHOTS = "/tmp/tb_actviz_kinds_screenshots"


def write_kinds_logs(root):
    """Trains the model of this module's docstring for 2 epochs; returns the
    log dir (run `kinds/train` under `root`) and the probe batch."""
    import keras
    from keras import layers, ops

    from tb_actviz import ActivationLogger

    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    x = rng.uniform(size=(16, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
    y = rng.integers(0, 2, size=16)
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    conv2d = layers.Conv2D(4, 3, activation="relu", name="conv2d")(inputs)
    broken = layers.Lambda(
        lambda t: ops.where(t > 0.9, np.nan, ops.where(t < 0.05, np.inf, t)), name="broken"
    )(inputs)
    repaired = layers.Lambda(lambda t: ops.nan_to_num(t, posinf=0.0), name="repaired")(broken)
    from_repaired = layers.Conv2D(2, 3, name="after_repair")(repaired)
    flat = layers.Conv2D(2, 3, kernel_initializer="zeros", bias_initializer="zeros",
                         trainable=False, name="flat")(inputs)
    rows = layers.Reshape((IMAGE_SIZE, IMAGE_SIZE * 3))(inputs)
    conv1d = layers.Conv1D(3, 3, name="conv1d")(rows)  # (10, 3): sequence
    dense = layers.Dense(12, activation="tanh", name="fc")(layers.Flatten()(inputs))  # units
    planes = layers.Reshape((IMAGE_SIZE, IMAGE_SIZE, 3, 1))(inputs)
    planes = layers.Permute((3, 1, 2, 4))(planes)  # (3, 12, 12, 1): depth = colour plane
    conv3d = layers.Conv3D(2, (2, 3, 3), name="conv3d")(planes)  # (2, 10, 10, 2)

    class ClassToken(layers.Layer):
        def build(self, input_shape):
            self.token = self.add_weight(shape=(1, 1, input_shape[-1]), name="token")

        def call(self, t):
            return ops.concatenate([ops.zeros_like(t[:, :1]) + self.token, t], axis=1)

    patches = layers.Reshape((16, 6))(layers.Conv2D(6, 3, strides=3, name="embed")(inputs))
    tokens = layers.Dense(3, name="tokens")(ClassToken(name="with_cls")(patches))  # (17, 3)
    merged = layers.Concatenate()([
        layers.GlobalAveragePooling2D()(conv2d),
        layers.GlobalAveragePooling2D()(from_repaired),
        layers.GlobalAveragePooling2D()(flat),
        layers.GlobalAveragePooling1D()(conv1d),
        dense,
        layers.GlobalAveragePooling3D()(conv3d),
        layers.GlobalAveragePooling1D()(tokens),
    ])
    model = keras.Model(inputs, layers.Dense(2, activation="softmax", name="head")(merged))
    model.compile("adam", "sparse_categorical_crossentropy")
    log_dir = os.path.join(root, "kinds")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[
        ActivationLogger(log_dir, probe=x[:PROBE_SIZE], layers=list(KINDS), verbose=0),
    ])
    return log_dir, x[:PROBE_SIZE]


@pytest.fixture(scope="module")
def kinds_logs(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("kinds_logs"))
    write_kinds_logs(root)
    return root


# Served data (docs/http_api.md) --------------------------------------------------------


def served_layers(server):
    (run,) = [r for r in server.plugin_json("runs")["runs"] if r["run"] == RUN]
    return {layer["path"]: layer for layer in run["layers"]}


def served_step(server, layer, step_info):
    """One step of a layer from /blobs: stats [F, N, K] and quantized maps [F, N, H, W] (uint8)."""
    f = len(layer["filterIndices"])
    status, _, body = server.plugin(
        "blobs", run=RUN, tag=layer["tag"], step=step_info["step"], indices="0-%d" % f,
        wall_time=repr(step_info["wallTime"]),
    )
    assert status == 200, body[:300]
    blobs = parse_blobs(body)
    n, h, w = layer["numImages"], layer["mapHeight"], layer["mapWidth"]
    stats = np.frombuffer(blobs[0], "<f4").reshape(f, n, len(STATS))
    q = np.stack([decode_png(blob).reshape(h, n, w).transpose(1, 0, 2) for blob in blobs[1:]])
    return stats, q


# Page helpers ----------------------------------------------------------------------------


PIXELS_JS = "c => [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]"


def tile_locator(t, grid):
    return t.f.locator("[data-testid=%s] [data-testid=tile]" % grid)


def tiles_info(t, grid):
    """Per tile of a grid: dataset, badge text (or None), canvas CSS box and image-rendering."""
    return tile_locator(t, grid).evaluate_all(
        """tiles => tiles.map(tile => {
          const canvas = tile.querySelector('[data-testid=tile-canvas]');
          const box = canvas.getBoundingClientRect();
          const badge = tile.querySelector('[data-testid=nonfinite-badge]');
          return {
            data: {...tile.dataset}, caption: tile.querySelector('figcaption').innerText,
            badge: badge ? badge.textContent : null, label: tile.getAttribute('aria-label'),
            cssWidth: box.width, cssHeight: box.height, rendering: getComputedStyle(canvas).imageRendering,
          };
        })"""
    )


def check_nonfinite_tiles(t, grid, expected_of):
    """Every tile of `grid` carries data-nonfinite == expected_of(tile data) when > 0 (and a
    visible badge saying it), and neither when 0. Returns the number of marked tiles."""
    marked = 0
    tiles = tiles_info(t, grid)
    assert tiles, grid
    for k, tile in enumerate(tiles):
        expected = int(expected_of(tile["data"]))
        if expected > 0:
            marked += 1
            assert tile["data"].get("nonfinite") == str(expected), (grid, tile)
            assert tile["badge"] and str(expected) in tile["badge"] and "NaN" in tile["badge"], (grid, tile)
            assert "non-finite" in tile["label"], tile
            badge = tile_locator(t, grid).nth(k).locator("[data-testid=nonfinite-badge]")
            assert badge.is_visible()
            box = badge.bounding_box()
            assert box["width"] > 10 and box["height"] > 8, box
        else:
            assert "nonfinite" not in tile["data"] and tile["badge"] is None, (grid, tile)
    return marked


def shoot(t, name, park_mouse=True):
    os.makedirs(SCREENSHOTS, exist_ok=True)
    if park_mouse:
        t.page.mouse.move(0, 899)
    path = os.path.join(SCREENSHOTS, name)
    t.page.screenshot(path=path)
    return path


def open_zoom(t, grid, filter_):
    t.f.locator("[data-testid=%s] [data-testid=tile][data-filter='%d']" % (grid, filter_)).first.click()
    t.f.locator("#zoom-dialog[open] [data-testid=zoom-canvas][data-painted-key]").wait_for()


def close_zoom(t):
    t.f.locator("[data-testid=zoom-close]").click()
    t.f.locator("#zoom-dialog:not([open])").wait_for(state="attached")


# The test ----------------------------------------------------------------------------------


def test_nonfinite_markers_and_every_map_kind(browser, tensorboard_factory, kinds_logs):
    server = tensorboard_factory(kinds_logs, "true")
    server.wait_until(
        lambda: all(server.served_steps(RUN, "actviz/layers/" + path) == [0, 1, 2] for path in KINDS),
        "every step of every layer",
    )
    layers = served_layers(server)
    assert {path: layer["mapKind"] for path, layer in layers.items()} == KINDS
    steps = server.plugin_json("steps", run=RUN, tag=layers["broken"]["tag"])["steps"]
    served = {  # each tag's last step (wall times differ between tags)
        path: served_step(server, layer, server.plugin_json("steps", run=RUN, tag=layer["tag"])["steps"][-1])
        for path, layer in layers.items()
    }
    broken_stats, _ = served["broken"]
    nonfinite = broken_stats[..., NONFINITE].astype(int)  # [F, N]
    assert (nonfinite > 0).all(), nonfinite  # every probe image has bright and dark pixels
    assert not any(served[path][0][..., NONFINITE].any() for path in KINDS if path != "broken")
    status, _, body = server.plugin("series", run=RUN, tag=layers["broken"]["tag"], index=0)
    assert status == 200
    nonfinite_per_step = {  # step -> [F, N]
        step: np.frombuffer(blob, "<f4").reshape(nonfinite.shape + (len(STATS),))[..., NONFINITE]
        for step, _, blob in parse_series(body)
    }
    assert sorted(nonfinite_per_step) == [s["step"] for s in steps]
    check_nonfinite_in_every_view(browser, server, nonfinite, nonfinite_per_step)
    check_every_kind(browser, server, layers, served)


def check_nonfinite_in_every_view(browser, server, nonfinite, per_step):
    """The `broken` layer's NaN / Inf tiles in every view, and the count in the zoom."""
    with new_tab(browser) as t:
        # 1. NaN / Inf: filters grid (image 1) -------------------------------------------------
        image = 1
        t.open(tab_url(server, layer="broken", image=image))
        assert check_nonfinite_tiles(t, "filters-grid", lambda d: nonfinite[int(d["filter"]), image]) == 3
        for stats in t.grid("filters-grid"):
            assert_drawn(stats, "broken map")
        shoot(t, "nonfinite_filters.png")
        # Download PNG draws the badges too (and does not fail on them).
        with t.page.expect_download() as download:
            t.f.locator("#download-button").click()
        path = os.path.join(SCREENSHOTS, "nonfinite_download.png")
        download.value.save_as(path)
        with open(path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"

        # Zoom: the count, explicitly.
        open_zoom(t, "filters-grid", 2)
        table = t.f.locator("[data-testid=zoom-stats]")
        assert table.get_attribute("data-nonfinite") == str(nonfinite[2, image])
        row = t.f.locator("[data-testid=zoom-stats] tr[data-stat=nonfinite_count]")
        assert row.locator("td").inner_text() == str(nonfinite[2, image])
        assert "non-finite" in row.locator("th").inner_text()
        note = t.f.locator("[data-testid=zoom-nonfinite]")
        assert note.is_visible() and str(nonfinite[2, image]) in note.inner_text()
        assert t.f.locator("[data-testid=zoom-constant]").is_hidden()
        shoot(t, "nonfinite_zoom.png")
        close_zoom(t)

        # Images grid (filter 0, the default): one count per probe image.
        t.show_view("images")
        assert check_nonfinite_tiles(t, "images-grid", lambda d: nonfinite[0, int(d["image"])]) == PROBE_SIZE

        # Filmstrip, image 1 then all images: the count of each step's map(s).
        t.show_view("evolution")
        assert check_nonfinite_tiles(t, "filmstrip", lambda d: per_step[int(d["step"])][0, image]) == len(per_step)
        assert check_nonfinite_tiles(t, "evolution-preview", lambda d: per_step[int(d["step"])][0, image]) == 1
        t.select("#evolution-images-select", "all", view="evolution")
        assert check_nonfinite_tiles(t, "filmstrip", lambda d: per_step[int(d["step"])][0].sum()) == len(per_step)

        # Compare: broken (left) against the sequence layer (right, no NaN).
        t.show_view("compare")
        t.select("#compare-layer-select", "conv1d", view="compare")
        assert check_nonfinite_tiles(t, "compare-left-grid", lambda d: nonfinite[int(d["filter"]), image]) == 3
        assert check_nonfinite_tiles(t, "compare-right-grid", lambda d: 0) == 0
        assert "(sequence)" in t.f.locator("#compare-layer-select option:checked").inner_text()
        for tile in tiles_info(t, "compare-right-grid"):
            assert tile["cssHeight"] >= MIN_STRIP_HEIGHT, tile
        shoot(t, "compare_nonfinite_sequence.png")
        t.assert_clean()


def check_every_kind(browser, server, layers, served):
    """Every kind drawn sensibly (a fresh page per layer: filters view, image 0), and zoomed."""
    for path, kind in KINDS.items():
        layer = layers[path]
        stats, q = served[path]
        with new_tab(browser) as t:
            t.open(tab_url(server, layer=path))
            shape = t.f.locator("#layer-shape")
            assert shape.get_attribute("data-map-kind") == kind
            tiles = tiles_info(t, "filters-grid")
            pixels = tile_locator(t, "filters-grid").locator("[data-testid=tile-canvas]").evaluate_all(
                "cs => cs.map(%s)" % PIXELS_JS
            )
            assert len(tiles) == len(layer["filterIndices"])
            for position, (tile, (w, h, data)) in enumerate(zip(tiles, pixels)):
                assert (w, h) == (layer["mapWidth"], layer["mapHeight"]), (path, w, h)
                assert tile["data"]["mapKind"] == kind
                assert tile["rendering"] == "pixelated"
                rgba = np.array(data, dtype=np.uint8).reshape(h, w, 4)
                colours = len({tuple(p) for p in rgba.reshape(-1, 4)[:, :3]})
                if path == "flat":
                    # Constant maps (min == max) are drawn flat, in one colour.
                    assert stats[position, 0, 0] == stats[position, 0, 1]
                    assert colours == 1, (path, colours)
                    continue
                assert colours >= 3, (path, position, colours)
                # Viridis' green channel rises with the value: the drawn order is the stored order.
                stored = q[position, 0].ravel().astype(int)
                green = rgba[..., 1].ravel().astype(int)
                for a in range(stored.size):
                    for b in range(stored.size):
                        if stored[a] < stored[b]:
                            assert green[a] <= green[b], (path, position, a, b)
            if kind in ("sequence", "units"):
                assert layer["mapHeight"] == 1
                for tile in tiles:
                    assert tile["cssHeight"] >= MIN_STRIP_HEIGHT, (path, tile)
                    assert tile["cssWidth"] >= 2 * tile["cssHeight"], (path, tile)  # still a strip
            if kind == "units":
                assert [tile["caption"] for tile in tiles] == ["%d units" % layer["mapWidth"]]
                assert "units" in shape.inner_text()
            else:
                assert [tile["caption"] for tile in tiles] == ["filter: %d" % k for k in layer["filterIndices"]]
            if kind == "volume_max_projection":
                assert "max over depth" in shape.inner_text()
                assert "max over depth" in t.f.locator("#layer-select option:checked").inner_text()
                assert "max over depth" in tile_locator(t, "filters-grid").first.get_attribute("title")
            if kind == "token_grid":
                # 2-D tiles of the patch grid; the class token left out, as the layer line says.
                assert (layer["mapHeight"], layer["mapWidth"], layer["leadingTokens"]) == (4, 4, 1)
                assert layer["outputShape"] == [17, 3]
                note = "tokens as a 4 × 4 patch grid (1 leading token left out)"
                assert note in shape.inner_text()
                assert note in tile_locator(t, "filters-grid").first.get_attribute("title")
                assert "token grid" in t.f.locator("#layer-select option:checked").inner_text()
                for tile in tiles:
                    assert abs(tile["cssWidth"] - tile["cssHeight"]) <= 1, tile  # square, not a strip
            shoot(t, "kind_%s.png" % path)

            # Zoom: value under the cursor, per kind.
            open_zoom(t, "filters-grid", layer["filterIndices"][-1])
            canvas = t.f.locator("[data-testid=zoom-canvas]")
            box = canvas.bounding_box()
            assert box["height"] >= 32 and box["width"] >= 4 * layer["mapWidth"], box
            title = t.f.locator("[data-testid=zoom-title]").inner_text()
            if kind == "volume_max_projection":
                assert "max over depth" in title
                assert "depth" in t.f.locator("[data-testid=zoom-geometry]").inner_text()
            if kind == "token_grid":
                assert "token grid" in title
                assert "patch grid" in t.f.locator("[data-testid=zoom-geometry]").inner_text()
            position = len(layer["filterIndices"]) - 1
            low, high = stats[position, 0, 0], stats[position, 0, 1]
            x, y = layer["mapWidth"] // 2, layer["mapHeight"] // 2
            t.page.mouse.move(box["x"] + (x + 0.5) * box["width"] / layer["mapWidth"],
                              box["y"] + (y + 0.5) * box["height"] / layer["mapHeight"])
            prefix = {"sequence": "t %d:" % x, "units": "unit %d:" % x,
                      "token_grid": "x %d, y %d (token %d):" % (x, y, 1 + 4 * y + x)}.get(kind, "x %d, y %d:" % (x, y))
            t.frame.wait_for_function(
                "p => document.querySelector('[data-testid=zoom-value]').textContent.startsWith(p)", arg=prefix,
                timeout=WAIT_MS,
            )
            value = float(t.f.locator("[data-testid=zoom-value]").get_attribute("data-value"))
            expected = low + q[position, 0, y, x] / 255.0 * (high - low)
            assert abs(value - expected) <= 1e-5 * max(1.0, abs(expected)), (path, value, expected)
            constant = t.f.locator("[data-testid=zoom-constant]")
            assert constant.is_visible() == (path == "flat"), path
            assert t.f.locator("[data-testid=zoom-stats]").get_attribute("data-nonfinite") == str(int(stats[position, 0, NONFINITE]))
            if kind in ("sequence", "units"):
                shoot(t, "kind_%s_zoom.png" % path, park_mouse=False)
            close_zoom(t)
            check_overlay(t, kind)
            t.assert_clean()


def check_overlay(t, kind):
    """The maps over the probe image: offered for `maps` and `token_grid` (a patch grid
    covers the image as a conv map does), not for strips or depth projections."""
    toggle = t.f.locator("#overlay-toggle")
    if kind not in ("maps", "token_grid"):
        assert toggle.is_disabled(), kind
        return
    assert toggle.is_enabled(), kind
    plain = t.grid("filters-grid")
    t.act(lambda: toggle.check())
    over = t.grid("filters-grid")
    assert len(over) == len(plain)
    for stats in over:  # drawn at the probe image's resolution (a multiple of its width)
        assert stats["width"] > IMAGE_SIZE and stats["width"] % IMAGE_SIZE == 0, (kind, stats)
    assert [s["hash"] for s in over] != [s["hash"] for s in plain], kind
    assert set(tile_locator(t, "filters-grid").evaluate_all("ts => ts.map(t => t.dataset.overlay)")) == {"true"}
    if kind == "token_grid":
        shoot(t, "kind_token_grid_overlay.png")
    t.act(lambda: toggle.uncheck())


if __name__ == "__main__":  # manual runs: PYTHONPATH=tests/support python tests/browser/test_browser_kinds.py <root>
    import sys

    print(write_kinds_logs(sys.argv[1])[0])
