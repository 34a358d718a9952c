"""Browser-side speed of the Activations tab: a real `tensorboard` and headless Chromium.

Generates a synthetic log dir (VGG16's 13 conv layers x 200 steps x 1 run at the
callback's defaults, benchmarks/synthetic_logdir.py), starts `tensorboard
--load_fast=true` on 127.0.0.1, waits until every step of every layer is served,
then drives headless Chromium (Playwright) through R repetitions, each in fresh
browser contexts (no shared HTTP cache), and measures:

1. first grid painted: from `page.goto(base + "/#activations")`, and from the
   moment the tab's iframe document starts (its `performance.timeOrigin`: the
   point where TensorBoard, having loaded its own page, opens our plugin),
   until `[data-testid=view-filters]` gets `data-painted-key`;
2. next step redraw: ArrowRight (focus in the tab, outside form controls) until
   `data-painted-step` is the next step, with the neighbour prefetch settled
   before each press ("settled") and pressed again as soon as the previous step
   painted ("back to back");
3. the 200-step filmstrip: the evolution view opened by URL state
   (`view=evolution`, block1_conv1, filter 0) until its filmstrip holds 200
   painted tiles; also switching to it with the view tab in an open tab;
4. re-colouring: a colormap change, its repaint time, and the data requests
   (`/blob`, `/blobs`, `/series`) issued meanwhile (expected 0).

Times are taken inside the page (event timestamps and a MutationObserver on the
`data-painted-key` hooks, `performance.now()` of the iframe), so Playwright's
polling does not inflate them. Prints a table of medians (with min and max) and
one `JSON {...}` line. Talks to 127.0.0.1 only (other host names do not resolve
in the browser) and stops TensorBoard and the browser at the end.

    python benchmarks/bench_tab.py                   # about 2 minutes
    python benchmarks/bench_tab.py --repeats 3 --logdir /tmp/synth   # reuse a log dir
    python benchmarks/bench_tab.py --formats 1,0     # stored formats 1 and 0 in one run, ~5 min
    python benchmarks/bench_tab.py --before /tmp/old --repeats 7   # a change, before / after

With `--formats 1,0` it writes the log dir in each stored format (version 1:
pixels in the plugin's own files; version 0: every blob in the event files),
starts one tensorboard on each, and alternates the repetitions between them
(ABBA), then prints each format's table and their medians side by side.

With `--before DIR`, DIR holds another copy of the `tb_actviz` package (e.g.
`mkdir /tmp/old && git archive HEAD tb_actviz frontend | tar -x -C /tmp/old`
then `rm /tmp/old/tb_actviz/frontend && mv /tmp/old/frontend
/tmp/old/tb_actviz/`, or `cp -rL tb_actviz /tmp/old/` before editing): a
second tensorboard runs it (DIR first on its PYTHONPATH) on the same log dir,
and the repetitions alternate between "before" (DIR) and "after" (the
installed package, i.e. the work tree) in the same way.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

from bench_plugin import HOST, TensorBoard, median, tree_memory, wait_ready
from report import fmt_s, print_table

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "support"))
import chromium  # noqa: E402  (the browser tests' launch settings)
VIEWPORT = {"width": 1400, "height": 900}
WAIT_MS = 60_000
BROWSER_ARGS = chromium.BROWSER_ARGS + [
    # Only 127.0.0.1: every other host name fails to resolve, and no proxy.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--no-proxy-server",
]
DATA_ROUTES = ("blob", "blobs", "series")
# Issue "[16]" (were 500 / 100 / 1000 ms, issue "[3 of 5]").
TARGETS_MS = {"first_grid": 250, "next_step": 20, "filmstrip": 500}
BUDGET_S = 270  # stop starting new repetitions past this (the whole run must stay < 5 min)

# Installed in every frame before its scripts run. In the plugin's iframe it
# records, in that document's performance.now() time: every change of a view's
# data-painted-key (view, step, key), when #actviz-app appears, when the
# filmstrip first holds N painted tiles, input events (keydown, change, click)
# with their timeStamp, the plugin IPC messages (MessageChannel wrapped) and
# main-thread long tasks (> 50 ms).
INIT_JS = r"""
(() => {
  if (window.__benchTab) return;
  const log = { timeOrigin: performance.timeOrigin, top: window === window.top, paints: [], events: [],
                appAt: null, filmstripFull: {}, ipc: [], longTasks: [] };
  window.__benchTab = log;
  if (log.top) return;
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) log.longTasks.push({ start: e.startTime, ms: e.duration });
    }).observe({ type: "longtask", buffered: true });
  } catch (error) { /* no long task timing */ }
  const countFilmstrip = () =>
    document.querySelectorAll("[data-testid=filmstrip] [data-testid=tile-canvas][data-painted-key]").length;
  new MutationObserver((records) => {
    const now = performance.now();
    if (log.appAt === null && document.getElementById("actviz-app")) log.appAt = now;
    let canvases = false;
    for (const r of records) {
      if (r.type !== "attributes") continue;
      const id = r.target.dataset.testid || "";
      if (id === "tile-canvas") canvases = true;
      else if (id.startsWith("view-")) {
        log.paints.push({ view: id.slice(5), step: r.target.dataset.paintedStep, key: r.target.dataset.paintedKey,
                          t: now, busy: document.getElementById("actviz-app")?.dataset.busy ?? null });
      }
    }
    if (canvases) {
      const n = countFilmstrip();
      if (n > 0 && log.filmstripFull[n] === undefined) log.filmstripFull[n] = now;
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-painted-key"] });
  for (const type of ["keydown", "change", "click"]) {
    window.addEventListener(type, (event) => log.events.push({
      type, key: event.key ?? null, target: event.target?.id || event.target?.dataset?.testid || null,
      t: event.timeStamp, now: performance.now() }), true);
  }
  const Native = window.MessageChannel;
  if (Native) {
    const Wrapped = function (...args) {
      const channel = new Native(...args);
      log.ipc.push({ dir: "channel", t: performance.now(), data: "" });
      channel.port1.addEventListener("message", (event) =>
        log.ipc.push({ dir: "in", t: performance.now(), data: String(event.data).slice(0, 160) }));
      const post = channel.port1.postMessage.bind(channel.port1);
      channel.port1.postMessage = (message, ...rest) => {
        log.ipc.push({ dir: "out", t: performance.now(), data: String(message).slice(0, 160) });
        return post(message, ...rest);
      };
      return channel;
    };
    Wrapped.prototype = Native.prototype;
    window.MessageChannel = Wrapped;
  }
})();
"""

# Resource timing of the plugin frame (relative to its timeOrigin).
RESOURCES_JS = """() => performance.getEntriesByType("resource").map((e) => ({
  name: e.name, start: e.startTime, end: e.responseEnd, bytes: e.encodedBodySize }))"""

WAIT_PAINT_JS = """([since, view, step]) => {
  const log = window.__benchTab;
  if (!log || !log.paints) return false;
  for (let i = since; i < log.paints.length; i++) {
    const p = log.paints[i];
    if (p.view === view && (step === null || p.step === String(step))) return { ...p, index: i };
  }
  return false;
}"""


def log(message):
    print(message, flush=True)


def ms(seconds):
    return seconds * 1e3


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return {"median_ms": None, "min_ms": None, "max_ms": None, "n": 0}
    return {"median_ms": median(values), "min_ms": min(values), "max_ms": max(values), "n": len(values)}


def route_of(url):
    path = urllib.parse.urlsplit(url).path
    prefix = "/data/plugin/activations/"
    return path[len(prefix):] if path.startswith(prefix) else None


def tab_url(base, **state):
    parts = ["activations"] + [
        "%s=%s" % (urllib.parse.quote("p.activations." + k, safe=""), urllib.parse.quote(str(v), safe=""))
        for k, v in state.items()
    ]
    return base + "/#" + "&".join(parts)


class Session:
    """One fresh browser context and page, with request tracking and in-page timings."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport=VIEWPORT)
        self.context.add_init_script(INIT_JS)
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.requests = []  # (perf_counter, url)
        self.inflight = set()
        self.foreign = []  # requests to any host but 127.0.0.1
        self.errors = []
        self.page.on("request", self._on_request)
        self.page.on("requestfinished", lambda r: self.inflight.discard(r))
        self.page.on("requestfailed", lambda r: self.inflight.discard(r))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.frame = None
        self.goto_epoch_ms = None

    def _on_request(self, request):
        self.requests.append((time.perf_counter(), request.url))
        host = urllib.parse.urlsplit(request.url).hostname
        if host not in (HOST, None) and not request.url.startswith(("data:", "blob:", "about:")):
            self.foreign.append(request.url)
        if route_of(request.url) in DATA_ROUTES:
            self.inflight.add(request)

    def data_requests(self, since=0):
        return [url for _, url in self.requests[since:] if route_of(url) in DATA_ROUTES]

    def open(self, url):
        self.goto_epoch_ms = time.time() * 1e3
        self.page.goto(url, wait_until="commit")
        iframe = self.page.wait_for_selector("iframe", state="attached")
        self.frame = iframe.content_frame()
        self.frame.wait_for_selector("#actviz-app", state="attached")

    def wait_paint(self, view, step=None, since=0):
        handle = self.frame.wait_for_function(WAIT_PAINT_JS, arg=[since, view, step], timeout=WAIT_MS)
        return handle.json_value()

    def paint_count(self):
        return self.frame.evaluate("() => window.__benchTab.paints.length")

    def frame_log(self):
        return self.frame.evaluate("() => window.__benchTab")

    def last_event(self, type_):
        return self.frame.evaluate(
            "(type) => window.__benchTab.events.filter((e) => e.type === type).at(-1) ?? null", type_)

    def wait_idle(self, extra_ms=0):
        """#actviz-app not busy and no activation-data request in flight."""
        self.frame.wait_for_function("() => document.querySelector('#actviz-app')?.dataset.busy === 'false'")
        deadline = time.perf_counter() + WAIT_MS / 1e3
        while self.inflight and time.perf_counter() < deadline:
            self.page.wait_for_timeout(20)
        if extra_ms:
            self.page.wait_for_timeout(extra_ms)

    def close(self):
        self.context.close()


def first_resource(resources, route, after=0.0):
    for r in resources:
        if route_of(r["name"]) == route and r["start"] >= after:
            return r
    return None


def long_tasks(flog, end):
    """Main-thread long tasks of the frame that started before `end`: count, total ms, largest."""
    tasks = [t for t in flog.get("longTasks", []) if t["start"] < end]
    return {"count": len(tasks), "total_ms": sum(t["ms"] for t in tasks),
            "largest_ms": max((t["ms"] for t in tasks), default=0.0)}


def first_grid(session, base):
    """Measure 1 (and returns the open session for the next measures)."""
    session.open(base + "/#activations")
    paint = session.wait_paint("filters")
    flog = session.frame_log()
    top = session.page.evaluate("""() => { const n = performance.getEntriesByType("navigation")[0];
        return { timeOrigin: performance.timeOrigin, dcl: n?.domContentLoadedEventEnd ?? null, load: n?.loadEventEnd ?? null }; }""")
    resources = session.frame.evaluate(RESOURCES_JS)
    frame_start = flog["timeOrigin"] - top["timeOrigin"]  # ms after TensorBoard's navigation start
    painted_epoch = flog["timeOrigin"] + paint["t"]
    timeline = {  # ms after the iframe document started
        "index_js_loaded": next((r["end"] for r in resources if r["name"].endswith("/activations/index.js")), None),
        "app_js_loaded": next((r["end"] for r in resources if r["name"].endswith("/static/app.js")), None),
        "bundle_js_loaded": next((r["end"] for r in resources if r["name"].endswith("/activations/bundle.js")), None),
        "app_root_attached": flog["appAt"],
        "ipc_url_data_asked": next((m["t"] for m in flog["ipc"] if m["dir"] == "out"
                                    and "GetURLPluginData" in m["data"]), None),
        "ipc_url_data_answered": next((m["t"] for m in flog["ipc"] if m["dir"] == "in"
                                       and "GetURLPluginData" in m["data"]), None),
    }
    for route in ("first", "runs", "steps", "blobs", "series"):
        r = first_resource(resources, route)
        timeline[route + "_start"] = r["start"] if r else None
        timeline[route + "_end"] = r["end"] if r else None
    timeline["painted"] = paint["t"]
    static = [r for r in resources if "/static/" in r["name"] or r["name"].endswith(("/index.js", "/bundle.js"))]
    return {
        "from_goto_ms": painted_epoch - session.goto_epoch_ms,
        "from_navigation_ms": painted_epoch - top["timeOrigin"],
        "from_frame_start_ms": paint["t"],
        "frame_start_ms": frame_start,
        "tb_dom_content_loaded_ms": top["dcl"],
        "tb_load_ms": top["load"],
        "goto_to_navigation_ms": top["timeOrigin"] - session.goto_epoch_ms,
        "painted_step": paint["step"],
        "timeline_ms": timeline,
        "long_tasks_before_paint": long_tasks(flog, paint["t"]),
        "static_files": len(static),
        "static_last_end_ms": max((r["end"] for r in static), default=None),
        "first_blobs_bytes": (first_resource(resources, "blobs") or {}).get("bytes"),
        "requests": [{"url": r["name"].split("/activations/", 1)[-1][:120], "start": round(r["start"], 1),
                      "end": round(r["end"], 1), "bytes": r["bytes"]}
                     for r in resources if "/activations/" in r["name"]],
    }


def resources_between(session, t0, t1):
    resources = session.frame.evaluate(RESOURCES_JS)
    return [r for r in resources if route_of(r["name"]) in DATA_ROUTES and t0 <= r["start"] <= t1]


def step_redraws(session, steps, count, settle):
    """Measure 2: ArrowRight `count` times from the first step; ms from keydown to painted."""
    session.frame.locator("#step-label").click()  # focus inside the tab, outside form controls
    since = session.paint_count()
    session.page.keyboard.press("Home")
    session.wait_paint("filters", steps[0], since)
    out = []
    index = 0
    while len(out) < count and index + 1 < len(steps):
        if settle:
            session.wait_idle()
        before_requests = len(session.requests)
        since = session.paint_count()
        session.page.keyboard.press("ArrowRight")
        index += 1
        paint = session.wait_paint("filters", steps[index], since)
        key = session.last_event("keydown")
        fetched = resources_between(session, key["t"], paint["t"])
        out.append({
            "step": steps[index], "ms": paint["t"] - key["t"],
            "data_requests_before_paint": len(fetched),
            "data_requests_started": len(session.data_requests(before_requests)),
        })
    return out


def recolour(session, cmap):
    """Measure 4: colormap change; ms from the change event to the repaint, data requests."""
    session.wait_idle(extra_ms=200)
    start = len(session.requests)
    since = session.paint_count()
    session.frame.locator("#colormap-select").select_option(cmap)
    paint = session.wait_paint("filters", None, since)
    change = session.last_event("change")
    session.wait_idle(extra_ms=300)
    data = session.data_requests(start)
    return {"ms": paint["t"] - change["t"], "data_requests": len(data), "urls": data[:5],
            "key_has_cmap": cmap in (paint["key"] or "")}


def filmstrip_count(session):
    return session.frame.locator(
        "[data-testid=filmstrip] [data-testid=tile] [data-testid=tile-canvas][data-painted-key]").count()


def evolution_by_tab(session, steps):
    """Measure 3b: click the evolution tab in an open tab (filters view painted)."""
    session.wait_idle(extra_ms=200)
    since = session.paint_count()
    session.frame.locator("[data-testid=view-tab-evolution]").click()
    paint = session.wait_paint("evolution", None, since)
    click = session.last_event("click")
    flog = session.frame_log()
    full = flog["filmstripFull"].get(str(len(steps)))
    return {"ms": paint["t"] - click["t"], "tiles": filmstrip_count(session),
            "full_ms": (full - click["t"]) if full is not None else None}


def evolution_by_url(session, base, run, layer_path, steps):
    """Measure 3a: open the tab on the evolution view (URL state)."""
    session.open(tab_url(base, view="evolution", run=run, layer=layer_path, filter=0))
    paint = session.wait_paint("evolution")
    flog = session.frame_log()
    top_origin = session.page.evaluate("() => performance.timeOrigin")
    resources = session.frame.evaluate(RESOURCES_JS)
    full = flog["filmstripFull"].get(str(len(steps)))
    series = [r for r in resources if route_of(r["name"]) == "series"]
    return {
        "from_frame_start_ms": paint["t"],
        "filmstrip_full_from_frame_start_ms": full,
        "from_goto_ms": flog["timeOrigin"] + paint["t"] - session.goto_epoch_ms,
        "frame_start_ms": flog["timeOrigin"] - top_origin,
        "tiles": filmstrip_count(session),
        "series_requests": [{"start": r["start"], "end": r["end"], "bytes": r["bytes"],
                             "query": urllib.parse.urlsplit(r["name"]).query} for r in series],
        "series_last_end_ms": max((r["end"] for r in series), default=None),
        "long_tasks_before_paint": long_tasks(flog, paint["t"]),
    }


def repetition(browser, base, run, layer_path, steps, args):
    rep = {}
    s = Session(browser)
    try:
        rep["first"] = first_grid(s, base)
        rep["steps_settled"] = step_redraws(s, steps, args.steps_measured, settle=True)
        rep["steps_back_to_back"] = step_redraws(s, steps, args.steps_measured, settle=False)
        rep["recolour"] = recolour(s, "magma")
        rep["evolution_tab"] = evolution_by_tab(s, steps)
        rep["errors"] = list(s.errors)
        rep["foreign_requests"] = list(s.foreign)
        rep["runs_requests"] = sum(1 for _, u in s.requests if route_of(u) == "runs")
    finally:
        s.close()
    s = Session(browser)
    try:
        rep["evolution_url"] = evolution_by_url(s, base, run, layer_path, steps)
        rep["errors"] += s.errors
        rep["foreign_requests"] += s.foreign
    finally:
        s.close()
    return rep


def summarize(reps, steps_total):
    f = [r["first"] for r in reps]
    settled = [x for r in reps for x in r["steps_settled"]]
    b2b = [x for r in reps for x in r["steps_back_to_back"]]
    summary = {
        "first_grid_from_frame_start": stats([x["from_frame_start_ms"] for x in f]),
        "first_grid_from_goto": stats([x["from_goto_ms"] for x in f]),
        "first_grid_from_navigation": stats([x["from_navigation_ms"] for x in f]),
        "tb_frame_start_after_navigation": stats([x["frame_start_ms"] for x in f]),
        "tb_dom_content_loaded": stats([x["tb_dom_content_loaded_ms"] for x in f]),
        "next_step_settled": stats([x["ms"] for x in settled]),
        "next_step_settled_rep_medians": [median([x["ms"] for x in r["steps_settled"]]) for r in reps],
        "next_step_settled_fetch_misses": sum(1 for x in settled if x["data_requests_before_paint"]),
        "next_step_back_to_back": stats([x["ms"] for x in b2b]),
        "next_step_back_to_back_fetch_misses": sum(1 for x in b2b if x["data_requests_before_paint"]),
        "filmstrip_by_url_from_frame_start": stats([r["evolution_url"]["filmstrip_full_from_frame_start_ms"]
                                                    for r in reps]),
        "filmstrip_by_url_from_goto": stats([r["evolution_url"]["from_goto_ms"] for r in reps]),
        "filmstrip_by_tab_click": stats([r["evolution_tab"]["full_ms"] for r in reps]),
        "filmstrip_tiles": sorted({r["evolution_url"]["tiles"] for r in reps}
                                  | {r["evolution_tab"]["tiles"] for r in reps}),
        "recolour": stats([r["recolour"]["ms"] for r in reps]),
        "recolour_data_requests": [r["recolour"]["data_requests"] for r in reps],
        "timeline_medians_ms": {k: median([x["timeline_ms"][k] for x in f if x["timeline_ms"][k] is not None])
                                for k in f[0]["timeline_ms"]},
        "first_grid_long_tasks_ms": stats([r["first"]["long_tasks_before_paint"]["total_ms"] for r in reps]),
        "filmstrip_after_last_series_ms": stats([r["evolution_url"]["filmstrip_full_from_frame_start_ms"]
                                                 - r["evolution_url"]["series_last_end_ms"] for r in reps
                                                 if r["evolution_url"]["filmstrip_full_from_frame_start_ms"]
                                                 is not None]),
        "filmstrip_long_tasks_ms": stats([r["evolution_url"]["long_tasks_before_paint"]["total_ms"] for r in reps]),
        "page_errors": sum(len(r["errors"]) for r in reps),
        "foreign_requests": sum(len(r["foreign_requests"]) for r in reps),
    }
    summary["filmstrip_tiles_ok"] = summary["filmstrip_tiles"] == [steps_total]
    return summary


def verdict(value, target):
    if value is None:
        return "-"
    return "ok" if value <= target else "MISSED"


def fmt_ms(value):
    return "-" if value is None else fmt_s(value / 1e3)


def report(r, variant=None):
    s = r["summary"]
    t = TARGETS_MS

    def row(label, st, target=None, note=""):
        return [label, fmt_ms(st["median_ms"]), fmt_ms(st["min_ms"]), fmt_ms(st["max_ms"]), st["n"],
                "<= %d ms" % target if target else "",
                verdict(st["median_ms"], target) if target else "", note]

    rows = [
        row("1. first grid, from the iframe's start", s["first_grid_from_frame_start"], t["first_grid"],
            "opening the tab = TensorBoard creates our iframe"),
        row("   first grid, from page.goto", s["first_grid_from_goto"], None,
            "includes TensorBoard's own page load"),
        row("   TensorBoard: iframe starts after", s["tb_frame_start_after_navigation"], None,
            "navigation start -> our iframe document (not ours)"),
        row("2. next step (prefetch settled)", s["next_step_settled"], t["next_step"],
            "keydown -> painted; %d fetch misses" % s["next_step_settled_fetch_misses"]),
        row("   next step (back to back)", s["next_step_back_to_back"], None,
            "pressed as soon as painted; %d fetch misses" % s["next_step_back_to_back_fetch_misses"]),
        row("3. filmstrip (URL view=evolution)", s["filmstrip_by_url_from_frame_start"], t["filmstrip"],
            "iframe start -> %s painted tiles" % "/".join(map(str, s["filmstrip_tiles"]))),
        row("   filmstrip, from page.goto", s["filmstrip_by_url_from_goto"], None, ""),
        row("   filmstrip (click view tab)", s["filmstrip_by_tab_click"], t["filmstrip"],
            "click -> all tiles painted, open tab"),
        row("4. re-colour (colormap)", s["recolour"], None,
            "data requests per change: %s (expect 0)" % s["recolour_data_requests"]),
    ]
    print_table(
        "Activations tab in headless Chromium: %d layers x %d steps x %d run (%.2f GB%s), "
        "tensorboard --load_fast=true, %d repetitions" % (
            r["layers"], r["steps"], r["runs"], r["logdir_bytes"] / 1e9,
            "" if variant is None else ", " + variant, len(r["repetitions"])),
        ["measure", "median", "min", "max", "n", "target", "", "notes"], rows)
    tl = s["timeline_medians_ms"]
    order = sorted(((v, k) for k, v in tl.items() if v == v), key=lambda x: x[0])
    print_table("First paint, medians in ms after the iframe document started",
                ["event", "ms"], [[k, "%.0f" % v] for v, k in order])
    print("\nfirst grid: main-thread long tasks (> 50 ms) before the paint, total %s (median); "
          "filmstrip: painted %s after the last /series response, long tasks total %s"
          % (fmt_ms(s["first_grid_long_tasks_ms"]["median_ms"]),
             fmt_ms(s["filmstrip_after_last_series_ms"]["median_ms"]),
             fmt_ms(s["filmstrip_long_tasks_ms"]["median_ms"])))
    print("next-step medians per repetition (settled): %s"
          % ", ".join("%.0f ms" % v for v in s["next_step_settled_rep_medians"]))
    print("page errors: %d; requests to hosts other than 127.0.0.1: %d; tensorboard ready in %.1f s, "
          "server RSS %.0f MiB at the end" % (s["page_errors"], s["foreign_requests"],
                                              r["tensorboard_ready_s"], r.get("server_rss_mb", 0)),
          flush=True)


COMPARED = [
    ("first grid, from the iframe's start", "first_grid_from_frame_start"),
    ("next step (prefetch settled)", "next_step_settled"),
    ("next step (back to back)", "next_step_back_to_back"),
    ("filmstrip (URL view=evolution)", "filmstrip_by_url_from_frame_start"),
    ("filmstrip (click view tab)", "filmstrip_by_tab_click"),
    ("re-colour (colormap)", "recolour"),
]


# One value per repetition of each compared measure, for the per-repetition ratios.
PER_REPETITION = {
    "first_grid_from_frame_start": lambda r: r["first"]["from_frame_start_ms"],
    "next_step_settled": lambda r: median([x["ms"] for x in r["steps_settled"]]),
    "next_step_back_to_back": lambda r: median([x["ms"] for x in r["steps_back_to_back"]]),
    "filmstrip_by_url_from_frame_start":
        lambda r: r["evolution_url"]["filmstrip_full_from_frame_start_ms"],
    "filmstrip_by_tab_click": lambda r: r["evolution_tab"]["full_ms"],
    "recolour": lambda r: r["recolour"]["ms"],
}


def pair_ratios(result, key):
    """Version A / version B of repetition i, for every i both have: the two were
    measured one right after the other (ABBA), so they share the machine's load."""
    a, b = (result["by_format"][f]["repetitions"] for f in result["formats"][:2])  # formats: the variants' keys
    out = []
    for ra, rb in zip(a, b):
        va, vb = PER_REPETITION[key](ra), PER_REPETITION[key](rb)
        if va and vb:
            out.append(va / vb)
    return out


def report_comparison(result):
    """Medians of each variant (stored format, or code before / after) side by side
    (repetitions alternated between the servers)."""
    formats = result["formats"]
    labels = [result["labels"][f] for f in formats]
    rows = []
    result["ratios"] = {}
    for label, key in COMPARED:
        medians = [result["by_format"][f]["summary"][key]["median_ms"] for f in formats]
        ratio = ("%.2fx" % (medians[0] / medians[1])
                 if len(medians) == 2 and medians[0] and medians[1] else "")
        extra = []
        if len(formats) == 2:
            pairs = pair_ratios(result, key)
            result["ratios"][key] = {"of_medians": medians[0] / medians[1]
                                     if medians[0] and medians[1] else None,
                                     "per_repetition": pairs}
            extra = ["%.2fx (%s)" % (median(pairs), ", ".join("%.2f" % x for x in pairs))
                     if pairs else "-"]
        rows.append([label] + [fmt_ms(m) for m in medians] + [ratio] + extra)
    rows.append(["server RSS at the end (MiB)"] + [
        "%.0f" % result["by_format"][f].get("server_rss_mb", 0) for f in formats] + [""]
        + ([""] if len(formats) == 2 else []))
    print_table(
        "%s compared in the same run (repetitions alternated; medians)" % result["compared"],
        ["measure"] + labels
        + (["%s / %s" % tuple(labels),
            "median of per-repetition ratios (each)"] if len(formats) == 2 else []),
        rows)


def generate(args, work, format_version=None):
    name = "logdir" if format_version is None else "logdir_v%d" % format_version
    logdir = args.logdir or os.path.join(work, name)
    log("generating %s (%d layers x %d steps x %d run%s)" % (
        logdir, args.layers, args.steps, 1,
        "" if format_version is None else ", format %d" % format_version))
    command = [sys.executable, os.path.join(HERE, "synthetic_logdir.py"), "--out", logdir,
               "--layers", str(args.layers), "--steps", str(args.steps), "--runs", "1"]
    if format_version is not None:
        command += ["--format", str(format_version)]
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True).stdout
    summary = json.loads([line for line in out.splitlines() if line.startswith("JSON ")][-1][5:])
    log("  %.2f GB in %.0f s" % (summary["total_bytes"] / 1e9, summary["seconds"]))
    return logdir, summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="repetitions, each in fresh browser contexts")
    parser.add_argument("--layers", type=int, default=13)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--steps-measured", type=int, default=10, help="ArrowRight presses per mode")
    parser.add_argument("--logdir", default=None,
                        help="reuse this synthetic log dir if it exists (else generate it there); "
                             "one format only")
    parser.add_argument("--formats", default=None,
                        help="stored format versions to generate and compare, e.g. '1,0': one "
                             "tensorboard each, repetitions alternated between them in the same "
                             "run (default: the current format only)")
    parser.add_argument("--before", default=None, metavar="DIR",
                        help="a directory holding another copy of the tb_actviz package: a second "
                             "tensorboard runs it on the same log dir, repetitions alternated "
                             "between it ('before') and the installed package ('after')")
    parser.add_argument("--timeout", type=float, default=150, help="seconds to wait for tensorboard")
    args = parser.parse_args(argv)
    formats = ([int(f) for f in args.formats.split(",") if f.strip()] if args.formats
               else [None])
    if args.logdir and len(formats) > 1:
        parser.error("--logdir holds one format: give one --formats value or none")
    if args.before:
        if len(formats) > 1:
            parser.error("--before compares code on one stored format: give one --formats value or none")
        if not os.path.isfile(os.path.join(args.before, "tb_actviz", "activations_plugin.py")):
            parser.error("--before: %s has no tb_actviz package" % args.before)
    # (key, label, stored format or None, PYTHONPATH first entry or None)
    if args.before:
        variants = [("before", "before", formats[0], os.path.abspath(args.before)),
                    ("after", "after", formats[0], None)]
    else:
        variants = [(str(f) if f is not None else "current",
                     None if f is None else "stored format version %s" % f, f, None) for f in formats]

    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    work = tempfile.mkdtemp(prefix="tb_actviz_bench_tab_")
    servers = {}  # format -> tensorboard
    playwright = browser = None
    result = {"repeats": args.repeats, "targets_ms": TARGETS_MS, "runs": 1,
              "formats": [key for key, _, _, _ in variants], "by_format": {},
              "labels": {key: label or "current" for key, label, _, _ in variants},
              "compared": "Code before and after" if args.before else "Stored formats"}
    generated = {}  # stored format -> (log dir, summary)
    try:
        for key, label, fmt, pythonpath in variants:
            if fmt in generated:
                logdir, summary = generated[fmt]
            elif args.logdir and os.path.isdir(args.logdir):
                from bench_plugin import describe_logdir
                logdir = args.logdir
                summary = describe_logdir(logdir)
                log("reusing %s" % logdir)
            else:
                logdir, summary = generate(args, work, fmt)
            generated[fmt] = (logdir, summary)
            entry = {"layers": len(summary["tags"]), "steps": summary["steps"], "runs": 1,
                     "logdir_bytes": summary["total_bytes"], "repetitions": []}
            result["by_format"][key] = entry
            log("starting tensorboard --load_fast=true on %s%s" % (
                logdir, "" if pythonpath is None else " with %s first on PYTHONPATH" % pythonpath))
            saved = os.environ.get("PYTHONPATH")
            if pythonpath is not None:
                os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, saved]))
            try:
                tb = TensorBoard(logdir, "true", os.path.join(work, "tensorboard_%s.log" % key))
            finally:
                if saved is None:
                    os.environ.pop("PYTHONPATH", None)
                else:
                    os.environ["PYTHONPATH"] = saved
            servers[key] = tb
            ready_s, _, complete, _ = wait_ready(tb, summary["runs"], summary["tags"], summary["steps"],
                                                 args.timeout, lambda: tree_memory(tb.process.pid))
            entry["tensorboard_ready_s"] = ready_s
            log("  all %d steps of %d layers served after %.1f s"
                % (summary["steps"], len(summary["tags"]), ready_s))
            try:
                bundled = tb.get("bundle.js")[0] == 200
            except Exception:  # noqa: BLE001  (older code: no such route)
                bundled = False
            entry["serves_bundle"] = bundled
            log("  /bundle.js served: %s" % ("yes" if bundled else "no"))
            run = summary["runs"][0]
            first_layer = next(l for r in tb.json("runs")["runs"] if r["run"] == run for l in r["layers"])
            entry["_target"] = (run, first_layer["path"],
                                [s["step"] for s in complete[(run, first_layer["tag"])]])
        result.update({k: v for k, v in next(iter(result["by_format"].values())).items()
                       if k in ("layers", "steps", "logdir_bytes")})

        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=chromium.chromium_executable(), args=BROWSER_ARGS,
                                             headless=True, env=env)
        log("browser %s; layer %s, %d steps" % (browser.version, entry["_target"][1],
                                                 len(entry["_target"][2])))
        keys = list(result["by_format"])
        budget = BUDGET_S * len(keys)
        for i in range(args.repeats):
            if i and time.perf_counter() - started > budget:
                log("  time budget reached: stopping after %d repetitions" % i)
                break
            for key in (keys if i % 2 == 0 else keys[::-1]):  # ABBA: both variants see the same noise
                entry = result["by_format"][key]
                run, layer_path, steps = entry["_target"]
                rep = repetition(browser, servers[key].base, run, layer_path, steps, args)
                entry["repetitions"].append(rep)
                log("  rep %d%s: first grid %.0f ms after iframe start (%.0f ms after goto); next step %.0f ms; "
                    "filmstrip %s / tab %s; recolour %.0f ms, %d data requests"
                    % (i + 1, "" if key == "current" else " (%s)" % result["labels"][key],
                       rep["first"]["from_frame_start_ms"], rep["first"]["from_goto_ms"],
                       median([x["ms"] for x in rep["steps_settled"]]),
                       fmt_ms(rep["evolution_url"]["filmstrip_full_from_frame_start_ms"]),
                       fmt_ms(rep["evolution_tab"]["full_ms"]), rep["recolour"]["ms"],
                       rep["recolour"]["data_requests"]))
        for key, entry in result["by_format"].items():
            entry["summary"] = summarize(entry["repetitions"], len(entry["_target"][2]))
            entry["server_rss_mb"] = tree_memory(servers[key].process.pid)["rss_mb"]
    finally:
        if browser is not None:
            browser.close()
        if playwright is not None:
            playwright.stop()
        for tb in servers.values():
            tb.stop()
        shutil.rmtree(work, ignore_errors=True)
    result["wall_s"] = time.perf_counter() - started
    for key, entry in result["by_format"].items():
        entry.pop("_target", None)
        report(entry, None if key == "current" else result["labels"][key])
    if len(result["by_format"]) > 1:
        report_comparison(result)
    first = next(iter(result["by_format"].values()))
    result["repetitions"], result["summary"] = first["repetitions"], first["summary"]
    result["tensorboard_ready_s"] = first["tensorboard_ready_s"]
    print("\nwall time %.0f s" % result["wall_s"], flush=True)
    result["met"] = {}
    for key, entry in result["by_format"].items():
        s = entry["summary"]
        result["met"][key] = {
            "first_grid": s["first_grid_from_frame_start"]["median_ms"] <= TARGETS_MS["first_grid"],
            "next_step": s["next_step_settled"]["median_ms"] <= TARGETS_MS["next_step"],
            "filmstrip": (s["filmstrip_by_url_from_frame_start"]["median_ms"] or 1e9) <= TARGETS_MS["filmstrip"],
            "recolour_no_fetch": all(n == 0 for n in s["recolour_data_requests"]),
        }
    print("JSON " + json.dumps(result, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
