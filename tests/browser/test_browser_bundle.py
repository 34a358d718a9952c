"""How the tab starts, in a real browser: index.js asks for /first and for the
bundle of the modules (`/bundle.js`) at once, and the first picture needs no
other request; without the bundle it loads the modules one by one from
static/, without /first it reads /runs, /steps and /blobs as before, and both
ways paint the same pixels. Deep links reach /first."""

import re
import urllib.parse

import pytest

from browser_support import assert_drawn, new_tab, only_fast, tab_url

pytestmark = pytest.mark.server

PLUGIN = "/data/plugin/activations/"


def routes(tab):
    """The plugin paths requested, in order ("static/app.js", "first", "blobs", ...)."""
    out = []
    for url in tab.requests:
        path = urllib.parse.urlsplit(url).path
        if PLUGIN in path:
            out.append(path.split(PLUGIN, 1)[1])
    return out


def first_query(tab):
    urls = [url for url in tab.requests if urllib.parse.urlsplit(url).path.endswith(PLUGIN + "first")]
    assert len(urls) == 1, urls
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(urls[0]).query))


@only_fast
def test_the_tab_starts_from_the_bundle_and_first(tab, tensorboard_server, trained_logs):
    faces = trained_logs.faces
    tab.open(tensorboard_server.base_url + "/#activations")
    f = tab.f
    assert f.locator("[data-testid=view-filters]").get_attribute("data-painted-step") == str(faces.steps[-1])
    assert_drawn(tab.grid("filters-grid")[0], "first filter")
    requested = routes(tab)
    assert requested[:2] == ["index.js", "first"], requested
    assert "bundle.js" in requested and "static/style.css" in requested
    assert not [r for r in requested if r.startswith("static/") and r.endswith(".js")], requested
    assert first_query(tab) == {}
    assert "runs" not in requested  # /first brought the catalog
    # /first brought the first layer's steps and its last step's blobs.
    layer_tag = urllib.parse.quote(faces.tag("conv1"), safe="")
    assert not [u for u in tab.requests if "steps?" in u and layer_tag in u]
    assert not [u for u in tab.requests if "blobs?" in u and layer_tag in u and "step=%d&" % faces.steps[-1] in u]
    tab.assert_clean()


@only_fast
def test_without_the_bundle_or_first_the_tab_paints_the_same(browser, tensorboard_server, trained_logs):
    url = tensorboard_server.base_url + "/#activations"
    with new_tab(browser) as tab:
        tab.open(url)
        expected = tab.grid_hashes("filters-grid")
        tab.assert_clean()
    assert len(expected) == trained_logs.faces.layers["conv1"]["F"]
    with new_tab(browser) as tab:
        tab.page.route(re.compile(r".*/activations/bundle\.js$"),
                       lambda route: route.fulfill(status=404, body="{}", content_type="application/json"))
        tab.open(url)
        requested = routes(tab)
        assert "static/app.js" in requested and "static/views/filters_view.js" in requested
        assert tab.grid_hashes("filters-grid") == expected
        assert tab.errors == []
    with new_tab(browser) as tab:
        tab.page.route(re.compile(r".*/activations/first(\?.*)?$"),
                       lambda route: route.fulfill(status=500, body='{"error": "no"}',
                                                   content_type="application/json"))
        tab.open(url)
        requested = routes(tab)
        assert "runs" in requested and any(r == "steps" for r in requested)
        assert tab.grid_hashes("filters-grid") == expected
        tab.assert_clean()


@only_fast
def test_a_deep_link_reaches_first(tab, tensorboard_server, trained_logs):
    many = trained_logs.many
    path = sorted(many.layers, key=lambda p: many.layers[p]["index"])[-1]
    step = many.steps[2]
    tab.open(tab_url(tensorboard_server, run=many.run, layer=path, step=step, view="images"))
    assert first_query(tab) == {"run": many.run, "layer": path, "step": str(step), "indices": "0"}
    f = tab.f
    assert f.locator("#actviz-app").get_attribute("data-view") == "images"
    assert f.locator("[data-testid=view-images]").get_attribute("data-painted-step") == str(step)
    assert f.locator("#run-select").input_value() == many.run
    assert f.locator("#layer-select").input_value() == path
    tab.assert_clean()
    # The filters view of that step: the statistics came with /first, the strips now.
    tab.show_view("filters")
    assert f.locator("[data-testid=view-filters]").get_attribute("data-painted-step") == str(step)
    tab.assert_clean()
