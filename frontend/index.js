// Entry module: TensorBoard does `import("./index.js").then(m => m.render())`
// from a document whose <base href> is `plugin/activations/`.
//
// Startup is latency-bound, so before the app's modules load this module
// (1) adds <link rel="modulepreload"> for every module of the tab, so the
// browser fetches them all at once instead of one import level at a time, and
// (2) starts the /runs request, handed to the app so it overlaps module loading.
// Keep MODULES in step with the .js files under frontend/ (a missing entry only
// loses the preload; a stale one costs a 404).

/** Every ES module of the tab except this one, relative to `static/`. */
export const MODULES = [
  "app.js", "api.js", "attention.js", "catalog.js", "charts.js", "colormaps.js", "controls.js", "decode.js",
  "dom.js", "download.js", "insight.js", "lru_cache.js", "map_kinds.js", "map_tiles.js", "normalize.js",
  "playback.js", "render_maps.js", "state.js", "status.js", "steps.js", "store.js", "tb_bridge.js", "theme.js",
  "tile_grid.js", "zoom.js",
  "views/attention_view.js", "views/compare_view.js", "views/evolution_view.js", "views/filter_stats_panel.js",
  "views/filters_view.js", "views/images_view.js", "views/kernels_view.js",
  "views/layer_filters.js", "views/probe_panel.js", "views/summary_panel.js", "views/view_helpers.js",
];

const staticUrl = (path) => new URL(`./static/${path}`, import.meta.url).href;

function addLink(rel, href) {
  const link = document.createElement("link");
  link.rel = rel;
  link.href = href;
  document.head.append(link);
}

// Same request as api.js fetchRuns(); the app adopts it (no second request).
// Started first so it is not queued behind the module fetches.
const runsRequest = fetch("runs", { cache: "no-store" });
runsRequest.catch(() => {}); // reported when the app reads it

for (const path of MODULES) addLink("modulepreload", staticUrl(path));

export async function render() {
  addLink("stylesheet", "static/style.css");
  const { startApp } = await import(staticUrl("app.js"));
  startApp(document.body, { runsRequest });
}
