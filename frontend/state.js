// View state <-> URL. Every choice is a key; only non-default values are written.
// Read order on start: the TensorBoard host's URL (survives TensorBoard reloads;
// read directly from the parent's hash at once, then reconciled with the host's
// answer over the plugin IPC), then the iframe's own hash.
// Writes go to both. `resolveState` checks the choices against the catalog.

import { COLORMAPS, DEFAULT_COLORMAP } from "./colormaps.js";
import { IMAGE_ORDERS, RANKINGS } from "./insight.js";
import { coversImage } from "./map_kinds.js";
import { DEFAULT_NORMALIZATION, NORMALIZATIONS } from "./normalize.js";

export const VIEWS = {
  filters: "Filters of one image",
  images: "One filter across images",
  evolution: "Filter evolution",
  compare: "Compare",
  kernels: "Kernels", // only offered when the run logged kernels
  attention: "Attention", // only offered when the run logged attributions
};

/** What each view shows, as its tab's tooltip. */
export const VIEW_HELP = {
  filters: "Every logged filter of the layer for one probe image, at this step (the recipe's 7x7 grid); a sparkline of each filter's mean over training.",
  images: "One filter for every probe image at this step, and the images that excite it most.",
  evolution: "One filter at every logged step, as a filmstrip (one image, or all); Play steps through training.",
  compare: "Two layers side by side (or one layer in two runs) at the same step.",
  kernels: "Convolution kernels logged with ActivationLogger(kernels=...), as RGB or gray patches.",
  attention: "Where the model looks (ActivationLogger(attributions=True)): each probe image with its Grad-CAM or saliency heatmap over it and what the model predicted, at this step; one image at every step below.",
};

export const DEFAULT_STATE = Object.freeze({
  view: "filters",
  run: "",
  layer: "", // layer path
  image: 0,
  filter: 0, // real channel index (an entry of filterIndices)
  step: null, // null = latest
  cmap: DEFAULT_COLORMAP,
  norm: DEFAULT_NORMALIZATION,
  levels: 0, // 0 = continuous
  evo: "image", // evolution of the chosen image, or "all" images
  cmpRun: "",
  cmpLayer: "",
  size: 112, // tile size in CSS pixels
  zoom: "", // JSON {run, layer, step, filter, image} of the zoomed map, or ""
  rank: "index", // order of the filters grid: index | mean | sparsity | change
  imgOrder: "index", // order of the images grid: index | top (most excited first)
  kernel: "", // path of the layer whose kernels are shown ("" = the chosen layer, else the first)
  attr: "grad_cam", // attribution method of the Attention view: grad_cam | saliency
  opacity: 50, // heatmap opacity over the probe image, percent
  overlay: 0, // 1: activation maps laid over their probe image
});

const NUMERIC_KEYS = new Set(["image", "filter", "step", "levels", "size", "opacity", "overlay"]);

export function parseState(dict) {
  const state = { ...DEFAULT_STATE };
  for (const key of Object.keys(DEFAULT_STATE)) {
    if (!(key in dict)) continue;
    const raw = dict[key];
    if (NUMERIC_KEYS.has(key)) {
      const number = Number(raw);
      if (raw !== "" && Number.isFinite(number)) state[key] = number;
    } else {
      state[key] = String(raw);
    }
  }
  return state;
}

export function serializeState(state) {
  const dict = {};
  for (const [key, fallback] of Object.entries(DEFAULT_STATE)) {
    const value = state[key];
    if (value !== fallback && value !== null && value !== undefined) dict[key] = String(value);
  }
  return dict;
}

function readOwnHash() {
  return Object.fromEntries(new URLSearchParams(window.location.hash.replace(/^#/, "")));
}

export class UrlState {
  constructor(bridge) {
    this.bridge = bridge;
    this.state = { ...DEFAULT_STATE };
    this.writeTimer = null;
  }

  /** Initial state, read synchronously: the parent's hash, else the iframe's own hash. */
  load() {
    this.parentData = this.bridge.readParentUrlData() ?? {};
    this.ownHash = readOwnHash();
    this.loaded = parseState(this.sourceWith({}));
    this.state = { ...this.loaded };
    return this.state;
  }

  /** The host's entries (its answer, overridden by what the parent's hash says), else the own hash. */
  sourceWith(answer) {
    const hostData = { ...answer, ...this.parentData };
    return Object.keys(hostData).length > 0 ? hostData : this.ownHash;
  }

  /**
   * Ask the host for its URL entries (GetURLPluginData) and apply the keys
   * where its answer changes what `load` read. Resolves to true if the state changed.
   */
  async reconcile() {
    const answer = await this.bridge.readUrlData();
    const next = parseState(this.sourceWith(answer ?? {}));
    const patch = {};
    for (const key of Object.keys(next)) if (next[key] !== this.loaded[key]) patch[key] = next[key];
    return Object.keys(patch).length > 0 && this.update(patch);
  }

  get() {
    return this.state;
  }

  /** Merge `patch`; returns true if anything changed. URL writes are debounced. */
  update(patch) {
    const next = { ...this.state, ...patch };
    const changed = Object.keys(next).some((key) => next[key] !== this.state[key]);
    if (!changed) return false;
    this.state = next;
    clearTimeout(this.writeTimer);
    this.writeTimer = setTimeout(() => this.write(), 150);
    return true;
  }

  write() {
    const dict = serializeState(this.state);
    const hash = new URLSearchParams(dict).toString();
    history.replaceState(history.state, "", `${location.pathname}${location.search}${hash ? `#${hash}` : ""}`);
    this.bridge.writeUrlData(dict);
  }
}

const clamp = (value, lo, hi) => Math.min(hi, Math.max(lo, value));

/** The right side of Compare by default: the same layer of another run, else a later layer that lies over the image. */
function defaultCompareLayer(compareRun, mainRun, mainLayer) {
  if (compareRun !== mainRun) {
    const same = compareRun.layers.find(({ path }) => path === mainLayer.path);
    if (same) return same;
  }
  const others = compareRun.layers.filter(({ path }) => path !== mainLayer.path);
  return others.filter(coversImage).at(-1) ?? others.at(-1) ?? compareRun.layers.at(-1);
}

/**
 * The choices of `state` resolved against the catalog (`runs` of /runs): invalid or
 * missing ones fall back to defaults. Null when no run has a layer; else
 * {runs (those with layers), run, layer, compareRun, compareLayer, kernels, attribution,
 * patch: the state keys as resolved (all but `step`, resolved against the layer's steps)}.
 */
export function resolveState(state, allRuns) {
  const runs = allRuns.filter(({ layers }) => layers.length > 0);
  if (runs.length === 0) return null;
  const run = runs.find(({ run: name }) => name === state.run) ?? runs[0];
  const layer = run.layers.find(({ path }) => path === state.layer) ?? run.layers[0];
  const compareRun = runs.find(({ run: name }) => name === state.cmpRun) ?? run;
  const compareLayer = compareRun.layers.find(({ path }) => path === state.cmpLayer) ?? defaultCompareLayer(compareRun, run, layer);
  const kernelLayers = run.kernels ?? [];
  const kernels = kernelLayers.find(({ path }) => path === state.kernel) ?? kernelLayers.find(({ path }) => path === layer.path) ?? kernelLayers[0] ?? null;
  const attributions = run.attributions ?? [];
  const attribution = attributions.find(({ method }) => method === state.attr) ?? attributions[0] ?? null;
  const offered = { kernels: Boolean(kernels), attention: Boolean(attribution) };
  const view = Object.hasOwn(VIEWS, state.view) && offered[state.view] !== false ? state.view : DEFAULT_STATE.view;
  const patch = {
    run: run.run,
    layer: layer.path,
    image: clamp(Math.trunc(state.image), 0, layer.numImages - 1),
    filter: layer.filterIndices.includes(state.filter) ? state.filter : layer.filterIndices[0],
    view,
    cmap: Object.hasOwn(COLORMAPS, state.cmap) ? state.cmap : DEFAULT_COLORMAP,
    norm: Object.hasOwn(NORMALIZATIONS, state.norm) ? state.norm : DEFAULT_STATE.norm,
    levels: clamp(Math.trunc(state.levels), 0, 32),
    size: clamp(state.size, 48, 320),
    evo: state.evo === "all" ? "all" : "image",
    rank: Object.hasOwn(RANKINGS, state.rank) ? state.rank : DEFAULT_STATE.rank,
    imgOrder: Object.hasOwn(IMAGE_ORDERS, state.imgOrder) ? state.imgOrder : DEFAULT_STATE.imgOrder,
    kernel: kernels && kernels.path === state.kernel ? state.kernel : DEFAULT_STATE.kernel,
    attr: attribution ? attribution.method : DEFAULT_STATE.attr,
    opacity: Number.isFinite(state.opacity) ? clamp(Math.round(state.opacity), 0, 100) : DEFAULT_STATE.opacity,
    overlay: state.overlay ? 1 : 0,
  };
  return { runs, run, layer, compareRun, compareLayer, kernels, attribution, patch };
}
