// Entry module: TensorBoard does `import("./index.js").then(m => m.render())`
// from a document whose <base href> is `plugin/activations/`.
//
// Opening the tab is latency-bound, so this module, small and importing
// nothing, starts at once (1) the /first request: the runs, the step list and
// the blobs of the step the tab shows first, for the run, layer and step the
// URL names (docs/http_api.md), handed to the app, which adopts it; and (2)
// the app's modules as one file, `bundle.js`, which the plugin builds from
// app.js and the modules it imports (tb_actviz/serve/bundle.py). If the
// bundle cannot be had, the same modules load one by one from static/.

const PLUGIN_PREFIX = "p.activations.";
// Views that show every filter of the step (the others need only its statistics to start).
const ALL_FILTER_VIEWS = new Set(["filters", "compare"]);

const staticUrl = (path) => new URL(`./static/${path}`, import.meta.url).href;

function decoded(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The tab's URL state as state.js reads it first: TensorBoard's hash (`p.activations.*`), else the iframe's own. */
function urlState() {
  const state = {};
  try {
    if (window.parent !== window) {
      for (const part of window.parent.location.hash.replace(/^#/, "").split("&")) {
        const [key, value, ...rest] = part.split("=");
        const name = decoded(key);
        if (value !== undefined && rest.length === 0 && name.startsWith(PLUGIN_PREFIX)) state[name.slice(PLUGIN_PREFIX.length)] = decoded(value);
      }
    }
  } catch {
    // a parent of another origin: the own hash below
  }
  return Object.keys(state).length > 0 ? state : Object.fromEntries(new URLSearchParams(window.location.hash.replace(/^#/, "")));
}

function firstUrl() {
  const { run, layer, step, view } = urlState();
  const params = new URLSearchParams();
  if (run) params.set("run", run);
  if (layer) params.set("layer", layer);
  if (/^[0-9]{1,15}$/.test(step ?? "")) params.set("step", step);
  if (view && !ALL_FILTER_VIEWS.has(view)) params.set("indices", "0");
  const query = params.toString();
  return query ? `first?${query}` : "first";
}

// Same answer as /runs + /steps + /blobs (api.js fetchFirst); the app adopts it.
const firstRequest = fetch(firstUrl(), { cache: "no-store" });
firstRequest.catch(() => {}); // reported when the app reads it

const appModule = import(new URL("./bundle.js", import.meta.url).href).catch((error) => {
  console.warn("tb_actviz: the bundled modules did not load, loading them one by one:", error);
  return import(staticUrl("app.js"));
});

const style = document.createElement("link");
style.rel = "stylesheet";
style.href = "static/style.css";
document.head.append(style);

export async function render() {
  const { startApp } = await appModule;
  startApp(document.body, { firstRequest });
}
