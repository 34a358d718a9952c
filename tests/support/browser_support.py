"""The browser side of the tests: Chromium through Playwright, a Tab helper
over TensorBoard's Activations tab, and the session fixtures `browser`, `tab`
and `showcase_training` (a plugin registered by tests/conftest.py, so that
every test module shares one browser: Playwright's sync API allows one
instance per thread).
"""

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse

import pytest

from chromium import BROWSER_ARGS, chromium_executable
from paths import REPO
from tensorboard_process import READY_DEADLINE
SCREENSHOTS = (
    os.path.join(REPO, "docs", "screenshots")
    if os.environ.get("TB_ACTVIZ_UPDATE_SCREENSHOTS") == "1"
    else os.path.join(tempfile.gettempdir(), "tb_actviz_screenshots")
)
VIEWPORT = {"width": 1400, "height": 900}
WAIT_MS = 30_000
# Requests that carry activation data (docs/http_api.md).
DATA_REQUEST = re.compile(r"/data/plugin/activations/(blob|blobs|series)\?")
XSS_NAME = "<img src=x onerror=alert(1)>"

# Pixels of a canvas: size, FNV-1a hash of the RGBA bytes, distinct colours and
# the variance of R+G+B.
CANVAS_STATS_JS = """(canvas) => {
  const { width, height } = canvas;
  if (!width || !height) return { width, height, hash: 0, colours: 0, variance: 0 };
  const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  let hash = 2166136261;
  const colours = new Set();
  let sum = 0, sum2 = 0;
  for (let i = 0; i < data.length; i += 4) {
    colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    const l = data[i] + data[i + 1] + data[i + 2];
    sum += l;
    sum2 += l * l;
    for (let k = 0; k < 4; k++) hash = Math.imul(hash ^ data[i + k], 16777619) >>> 0;
  }
  const n = data.length / 4;
  return { width, height, hash, colours: colours.size, variance: sum2 / n - (sum / n) ** 2 };
}"""

# Resolves when the active view has painted something other than `previous`
# (and, if given, step `step` of view `view`) and the app is idle.
PAINTED_JS = """([view, previous, step]) => {
  const root = document.querySelector("#actviz-app");
  if (!root || root.dataset.busy !== "false") return false;
  const active = view ?? root.dataset.view;
  if (!active || root.dataset.view !== active) return false;
  const element = document.querySelector(`[data-testid=view-${active}]`);
  const key = element?.dataset.paintedKey;
  if (!key || key === previous) return false;
  return step === null || element.dataset.paintedStep === String(step);
}"""


# Browser and page ---------------------------------------------------------------


def no_browser(reason):
    if os.environ.get("CI"):
        pytest.fail("browser tests cannot run in CI: %s" % reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser(request):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        no_browser("playwright is not installed (%s)" % e)
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(
            executable_path=chromium_executable(), args=BROWSER_ARGS, headless=True
        )
    except Exception as e:  # noqa: BLE001 - any launch failure means "no browser"
        playwright.stop()
        no_browser("could not launch Chromium (%s): %s" % (chromium_executable() or "playwright's", e))
    # Start training the screenshot model now, in the background, if this
    # session needs it: it overlaps with the other set-up and tests.
    if any("showcase_server" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("showcase_training")
    yield launched
    launched.close()
    playwright.stop()


class Tab:
    """One browser page showing TensorBoard's Activations tab."""

    def __init__(self, page):
        self.page = page
        self.frame = None
        self.requests = []  # every URL requested, by any frame
        self.dialogs = []  # alert/confirm/prompt messages
        self.errors = []  # uncaught exceptions
        self.inflight = set()  # data requests not finished yet
        page.on("request", self._on_request)
        page.on("requestfinished", lambda request: self.inflight.discard(request))
        page.on("requestfailed", lambda request: self.inflight.discard(request))
        page.on("pageerror", lambda error: self.errors.append(str(error)))

        def on_dialog(dialog):
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)

    def _on_request(self, request):
        self.requests.append(request.url)
        if DATA_REQUEST.search(request.url):
            self.inflight.add(request)

    # Navigation -------------------------------------------------------------

    def open(self, url, painted=True):
        self.page.goto(url)
        iframe = self.page.wait_for_selector("iframe", state="attached", timeout=WAIT_MS)
        self.frame = iframe.content_frame()
        self.frame.wait_for_selector("#actviz-app", state="attached", timeout=WAIT_MS)
        if painted:
            self.wait_painted()
        return self

    @property
    def f(self):
        """Locator root inside the tab's iframe."""
        return self.page.frame_locator("iframe")

    def wait_painted(self, view=None, previous=None, step=None):
        """Waits for the active view (or `view`) to paint something new; returns its key."""
        self.frame.wait_for_function(PAINTED_JS, arg=[view, previous, step], timeout=WAIT_MS)
        return self.painted_key()

    def painted_key(self):
        view = self.frame.locator("#actviz-app").get_attribute("data-view")
        return self.frame.locator("[data-testid=view-%s]" % view).get_attribute("data-painted-key")

    def act(self, action, view=None, step=None):
        """Runs `action()` and waits until the view has painted the result."""
        before = self.painted_key()
        action()
        return self.wait_painted(view=view, previous=before, step=step)

    def select(self, selector, value, **wait):
        return self.act(lambda: self.f.locator(selector).select_option(str(value)), **wait)

    def show_view(self, view):
        return self.act(lambda: self.f.locator("[data-testid=view-tab-%s]" % view).click(), view=view)

    # Reading ----------------------------------------------------------------

    def canvases(self, selector):
        return self.f.locator(selector).evaluate_all("(canvases) => canvases.map(%s)" % CANVAS_STATS_JS)

    def canvas(self, selector):
        return self.f.locator(selector).evaluate(CANVAS_STATS_JS)

    def grid(self, testid):
        """Pixel stats of every tile canvas of a grid, in order."""
        return self.canvases("[data-testid=%s] [data-testid=tile-canvas]" % testid)

    def grid_hashes(self, testid):
        return [c["hash"] for c in self.grid(testid)]

    def captions(self, testid):
        return self.f.locator("[data-testid=%s] [data-testid=tile] figcaption" % testid).all_inner_texts()

    def step_label(self):
        return self.f.locator("#step-label").inner_text()

    def data_requests(self, since=0):
        return [url for url in self.requests[since:] if DATA_REQUEST.search(url)]

    def wait_data_idle(self):
        """Waits until every activation-data request (e.g. a neighbour prefetch,
        issued before the app reports idle) has finished."""
        self.frame.wait_for_function("() => document.querySelector('#actviz-app').dataset.busy === 'false'")
        for _ in range(WAIT_MS // 50):
            if not self.inflight:
                return
            self.page.wait_for_timeout(50)
        pytest.fail("data requests never finished: %s" % [r.url for r in self.inflight])

    def host_state(self):
        """The `p.activations.*` entries of TensorBoard's URL hash."""
        prefix = "p.activations."
        out = {}
        for part in urllib.parse.urlsplit(self.page.url).fragment.split("&"):
            key, _, value = part.partition("=")
            key = urllib.parse.unquote(key)
            if key.startswith(prefix):
                out[key[len(prefix):]] = urllib.parse.unquote(value)
        return out

    def wait_host_state(self, expected):
        """Waits until TensorBoard's URL hash holds `expected` (a subset)."""
        self.page.wait_for_function(
            """(expected) => {
              const entries = {};
              for (const part of location.hash.replace(/^#/, "").split("&")) {
                const [k, v] = part.split("=");
                if (v !== undefined) entries[decodeURIComponent(k)] = decodeURIComponent(v);
              }
              return Object.entries(expected).every(([k, v]) => entries["p.activations." + k] === v);
            }""",
            arg=expected,
            timeout=WAIT_MS,
        )

    def assert_clean(self):
        assert self.errors == [], "uncaught errors in the page: %s" % self.errors
        assert self.dialogs == [], "dialogs opened: %s" % self.dialogs
        message = self.f.locator("[data-testid=message]")
        if message.count():
            assert message.is_hidden(), "error message shown: %s" % message.inner_text()


@contextlib.contextmanager
def new_tab(browser):
    """A Tab in a fresh browser context (no shared cache, storage or history)."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        yield Tab(page)
    finally:
        context.close()


@pytest.fixture
def tab(browser):
    with new_tab(browser) as fresh:
        yield fresh


def tab_url(server, **state):
    """TensorBoard URL opening the tab with `p.activations.<key>` entries."""
    parts = ["activations"] + [
        "%s=%s" % (urllib.parse.quote("p.activations." + k, safe=""), urllib.parse.quote(str(v), safe=""))
        for k, v in state.items()
    ]
    return server.base_url + "/#" + "&".join(parts)


def assert_drawn(stats, what):
    """A canvas with real, non-uniform pixels."""
    assert stats["width"] > 0 and stats["height"] > 0, (what, stats)
    assert stats["variance"] > 0 and stats["colours"] >= 3, ("uniform canvas", what, stats)


def only_fast(fn):
    """Runs a test against the `--load_fast=true` server only (time)."""
    return pytest.mark.parametrize("tensorboard_server", ["true"], indirect=True, ids=["load_fast=true"])(fn)




SHOWCASE_RUNS = {
    # run dir: examples/faces.py arguments
    "faces": ["--epochs", "8", "--image_size", "64", "--probe_size", "8"],
    "faces_16px": ["--epochs", "3", "--image_size", "16", "--probe_size", "8"],
}


class ShowcaseTraining:
    """`examples/faces.py` runs training in subprocesses (started at once)."""

    def __init__(self, root):
        self.root = root
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
        self.jobs = []
        for name, args in SHOWCASE_RUNS.items():
            out = root / ("%s.out" % name)
            cmd = [sys.executable, os.path.join(REPO, "examples", "faces.py"), "--log_dir", str(root / name)] + args
            with open(out, "wb") as log:
                process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
            self.jobs.append((process, out))

    def wait(self):
        for process, out in self.jobs:
            code = process.wait(timeout=READY_DEADLINE)
            assert code == 0, "examples/faces.py failed:\n" + out.read_text()[-3000:]
        return self.root

    def stop(self):
        for process, _ in self.jobs:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def showcase_training(tmp_path_factory):
    training = ShowcaseTraining(tmp_path_factory.mktemp("showcase"))
    yield training
    training.stop()


