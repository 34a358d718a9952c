"""The Attention view and the "over the probe image" toggle in a real
Chromium, on the faces run that `ActivationLogger(attributions=True)` logged
(`trained_logs`, support/trained_logs.py). Expected values come from the served data
(`/runs`, `/summaries`), never from the front end's own code."""


import numpy as np
import pytest

from browser_support import assert_drawn, new_tab, only_fast, tab_url
from log_parsing import parse_series

pytestmark = pytest.mark.server

GRAD_CAM_TAG = "actviz/attribution/grad_cam"
SALIENCY_TAG = "actviz/attribution/saliency"


def served_attributions(server, run):
    runs = {r["run"]: r for r in server.plugin_json("runs")["runs"]}
    return {a["method"]: a for a in runs[run]["attributions"]}


def served_records(server, run, attribution):
    """{step: float32 [N, len(summaryNames)]} from /summaries."""
    status, _, body = server.plugin("summaries", run=run, tag=attribution["tag"])
    assert status == 200, body
    n, k = attribution["numImages"], len(attribution["summaryNames"])
    return {
        step: np.frombuffer(data, "<f4").reshape(n, k)
        for step, _, data in parse_series(body)
    }


def expected_prediction(attribution, record):
    names = attribution["classNames"]
    field = {name: k for k, name in enumerate(attribution["summaryNames"])}
    predicted = names[int(record[field["predicted_class"]])]
    truth = names[int(record[field["target_class"]])]
    return "predicted: %s %.2f (true: %s)" % (predicted, record[field["predicted_score"]], truth)


def test_the_attention_view(tab, tensorboard_server, trained_logs):
    faces = trained_logs.faces
    served = served_attributions(tensorboard_server, faces.run)
    assert sorted(served) == ["grad_cam", "saliency"]
    grad_cam = served["grad_cam"]
    assert grad_cam["layerPath"] == "conv2" and grad_cam["target"] == "label"
    records = served_records(tensorboard_server, faces.run, grad_cam)
    last = faces.steps[-1]
    assert sorted(records) == faces.steps

    tab.open(tab_url(tensorboard_server, view="attention"))
    f = tab.f
    assert f.locator("[data-testid=view-tab-attention]").is_visible()
    assert f.locator("#actviz-app").get_attribute("data-view") == "attention"
    title = f.locator("[data-testid=attention-title]").inner_text()
    assert "Grad-CAM of conv2" in title and "epoch %d" % last in title
    assert "true label" in f.locator("[data-testid=attention-note]").inner_text()

    # One tile per probe image: the image with its heatmap over it, and the prediction.
    tiles = tab.grid("attention-grid")
    assert len(tiles) == grad_cam["numImages"]
    for k, stats in enumerate(tiles):
        assert_drawn(stats, "attention tile %d" % k)
        assert stats["width"] >= 160  # drawn large enough for a smooth heatmap
    predictions = f.locator("[data-testid=attention-grid] [data-testid=prediction]").all_inner_texts()
    assert predictions == [expected_prediction(grad_cam, records[last][i]) for i in range(grad_cam["numImages"])]
    correct = f.locator("[data-testid=attention-grid] [data-testid=prediction]").evaluate_all(
        "els => els.map(e => e.dataset.correct)")
    field = {name: k for k, name in enumerate(grad_cam["summaryNames"])}
    assert correct == [
        str(r[field["predicted_class"]] == r[field["target_class"]]).lower() for r in records[last]
    ]
    captions = tab.captions("attention-grid")
    assert all(faces.probe_labels[i] in caption for i, caption in enumerate(captions))

    # Opacity: 0 shows the probe image alone, 100 the heatmap alone, and they differ.
    plain = tab.grid_hashes("attention-grid")
    tab.act(lambda: f.locator("#opacity-slider").fill("0"))
    no_heat = tab.grid("attention-grid")
    # With opacity 0 the tile is the gray probe image: R == G == B everywhere.
    gray = f.locator("[data-testid=attention-grid] [data-testid=tile-canvas]").first.evaluate(
        """(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i+1] || d[i] !== d[i+2]) return false;
                    return true; }""")
    assert gray
    tab.act(lambda: f.locator("#opacity-slider").fill("100"))
    all_heat = tab.grid_hashes("attention-grid")
    assert len({tuple(plain), tuple(s["hash"] for s in no_heat), tuple(all_heat)}) == 3
    tab.wait_host_state({"opacity": "100"})

    # The filmstrip: the chosen image at every step, the current one marked.
    filmstrip = tab.grid("attention-filmstrip")
    assert len(filmstrip) == len(faces.steps)
    assert f.locator("[data-testid=attention-filmstrip] .tile.current").get_attribute("data-step") == str(last)
    strip_predictions = f.locator("[data-testid=attention-filmstrip] [data-testid=prediction]").all_inner_texts()
    assert strip_predictions == [expected_prediction(grad_cam, records[s][0]) for s in faces.steps]

    # The step slider moves the grid through training.
    before = tab.grid_hashes("attention-grid")
    tab.act(lambda: f.locator("#step-prev").click(), step=last - 1)
    assert tab.grid_hashes("attention-grid") != before
    assert "epoch %d" % (last - 1) in f.locator("[data-testid=attention-title]").inner_text()

    # Saliency: the other method, from the same select.
    tab.select("#attention-method-select", "saliency")
    assert "Saliency" in f.locator("[data-testid=attention-title]").inner_text()
    assert f.locator("[data-testid=attention-grid] [data-testid=tile]").first.get_attribute("data-method") == "saliency"
    tab.wait_host_state({"attr": "saliency"})
    tab.assert_clean()


def test_maps_over_the_probe_image_in_the_activation_views(tab, tensorboard_server, trained_logs):
    faces = trained_logs.faces
    tab.open(tab_url(tensorboard_server, layer="conv1"))
    f = tab.f
    toggle = f.locator("#overlay-toggle")
    assert toggle.is_visible() and not toggle.is_checked()
    assert f.locator("#opacity-slider").is_hidden()
    plain = tab.grid("filters-grid")
    tab.act(lambda: toggle.check())
    over = tab.grid("filters-grid")
    assert len(over) == len(plain)
    probe_width = faces.probe_x.shape[2]
    for stats in over:
        assert stats["width"] >= 160 and stats["width"] % probe_width == 0, stats
    assert [s["hash"] for s in over] != [s["hash"] for s in plain]
    assert f.locator("[data-testid=filters-grid] [data-testid=tile]").first.get_attribute("data-overlay") == "true"
    assert f.locator("#opacity-slider").is_visible()
    tab.wait_host_state({"overlay": "1"})

    # The other activation views lay their maps over the images too.
    tab.show_view("images")
    assert f.locator("[data-testid=images-grid] [data-testid=tile]").first.get_attribute("data-overlay") == "true"
    tab.show_view("evolution")
    assert f.locator("[data-testid=filmstrip] [data-testid=tile]").first.get_attribute("data-overlay") == "true"

    # A layer of units has no image to lie over: the toggle says so and nothing is overlaid.
    tab.select("#layer-select", "dense")
    assert toggle.is_disabled()
    assert "not 2-D images" in f.locator("#overlay-toggle").locator("..").get_attribute("title")
    assert f.locator("[data-testid=filmstrip] [data-testid=tile]").first.get_attribute("data-overlay") == "false"
    tab.assert_clean()


# Controls that act on the view, and captions that break between phrases ------------------

# Text of each rendered line of an element: every character's line from its own box.
LINES_JS = """(root) => {
  const lines = [];
  let lastTop = null;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const box = [...range.getClientRects()].find((r) => r.width > 0);
      if (box && (lastTop === null || Math.abs(box.top - lastTop) > 4)) {
        lines.push("");
        lastTop = box.top;
      }
      if (lines.length) lines[lines.length - 1] += node.data[i];
    }
  }
  return lines.map((line) => line.replace(/\\s+/g, " ").trim()).filter(Boolean);
}"""

MAP_ONLY = ["#layer-select", "#filter-select", "#norm-select", "#levels-select", "#overlay-toggle"]


def visible(f, selectors):
    return {selector: f.locator(selector).is_visible() for selector in selectors}


@only_fast
def test_each_view_shows_only_the_controls_that_act_on_it(tab, tensorboard_server, trained_logs):
    faces = trained_logs.faces
    tab.open(tab_url(tensorboard_server, view="attention"))
    f = tab.f
    # Attention: each map to its own range, no contours, always over its image.
    assert visible(f, MAP_ONLY) == dict.fromkeys(MAP_ONLY, False)
    acting = ["#run-select", "#image-select", "#colormap-select", "#opacity-slider", "#step-slider",
              "#play-button", "#size-slider", "#download-button"]
    assert visible(f, acting) == dict.fromkeys(acting, True)

    # Hidden controls change nothing there, even when a link sets them.
    plain = tab.grid_hashes("attention-grid")
    with new_tab(tab.page.context.browser) as again:
        again.open(tab_url(tensorboard_server, view="attention", levels=3, norm="layer"))
        assert again.grid_hashes("attention-grid") == plain
        again.assert_clean()

    # The activation views act on all of them.
    tab.show_view("filters")
    assert visible(f, MAP_ONLY) == dict.fromkeys(MAP_ONLY, True)
    assert f.locator("#opacity-slider").is_hidden()  # until the maps lie over their images
    # Compare picks out no filter.
    tab.show_view("compare")
    assert f.locator("#filter-select").is_hidden()
    assert f.locator("#layer-select").is_visible() and f.locator("#levels-select").is_visible()
    tab.show_view("attention")
    assert f.locator("#layer-select").is_hidden() and f.locator("#image-select").is_visible()
    assert len(faces.steps) > 1
    tab.assert_clean()


def phrase_lines(lines, phrases):
    """Whether `lines` cut the caption only between `phrases` (each line is whole phrases)."""
    rest = list(phrases)
    for line in lines:
        for n in range(1, len(rest) + 1):
            if " ".join(rest[:n]) == line:
                rest = rest[n:]
                break
        else:
            return False
    return not rest


def test_phrase_lines_helper():
    phrases = ["predicted:", "not face 0.95", "(true:", "not face)"]
    assert phrase_lines(["predicted: not face 0.95", "(true: not face)"], phrases)
    assert phrase_lines(["predicted:", "not face 0.95", "(true: not face)"], phrases)
    assert not phrase_lines(["predicted: not", "face 0.95 (true: not", "face)"], phrases)
    assert not phrase_lines(["predicted: not face 0.95"], phrases)


@only_fast
def test_prediction_captions_break_between_phrases(tab, tensorboard_server, trained_logs):
    faces = trained_logs.faces
    grad_cam = served_attributions(tensorboard_server, faces.run)["grad_cam"]
    records = served_records(tensorboard_server, faces.run, grad_cam)[faces.steps[-1]]
    names = grad_cam["classNames"]
    assert any(" " in name for name in names)  # "not face": a class name that could be cut
    field = {name: k for k, name in enumerate(grad_cam["summaryNames"])}

    def parts(record):
        predicted = "%s %.2f" % (names[int(record[field["predicted_class"]])], record[field["predicted_score"]])
        return ["predicted:", predicted, "(true:", names[int(record[field["target_class"]])] + ")"]

    expected = [parts(record) for record in records]
    # Default tile size: "predicted: not face 0.95" / "(true: not face)", never inside a phrase.
    tab.open(tab_url(tensorboard_server, view="attention"))
    lines = tab.f.locator("[data-testid=attention-grid] [data-testid=prediction]").evaluate_all("els => els.map(%s)" % LINES_JS)
    assert len(lines) == len(expected)
    for got, want in zip(lines, expected):
        assert got in ([" ".join(want)], [" ".join(want[:2]), " ".join(want[2:])]), got
    tab.assert_clean()
    # The smallest tiles: more lines, still cut between phrases only.
    with new_tab(tab.page.context.browser) as small:
        small.open(tab_url(tensorboard_server, view="attention", size=48))
        lines = small.f.locator("[data-testid=attention-grid] [data-testid=prediction]").evaluate_all("els => els.map(%s)" % LINES_JS)
        assert max(len(got) for got in lines) > 2, lines  # the caption does wrap here
        for got, want in zip(lines, expected):
            assert phrase_lines(got, want), (got, want)
        small.assert_clean()
