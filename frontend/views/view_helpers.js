// What the views share: the `View` skeleton (section, toolbar selects, render
// bookkeeping, the hooks App calls) and small helpers.

import { el, labelled } from "../dom.js";
import { kindNote } from "../map_kinds.js";

/**
 * Controls of the shared bar a view can leave out when they do not act on it
 * (the run, step, play, tile size and download act on every view). "opacity"
 * is shown by views that list it, and by views that list "overlay" while maps
 * are laid over the probe images.
 */
export const MAP_CONTROLS = Object.freeze(["layer", "image", "filter", "colormap", "norm", "levels", "overlay"]);

/**
 * The skeleton every view shares: a `<section class="view" data-testid="view-<name>">`,
 * toolbar selects that write a state key, and render bookkeeping (only the
 * latest render paints; `data-painted-*` once painted). App calls:
 * - `update(ctx)`: fetch and paint what ctx says;
 * - `controlsFor(ctx)`: the optional controls of the bar that act on this view (`MAP_CONTROLS` by default);
 * - `prefetch(ctx)`: start decoding what the next steps will need (nothing by default).
 */
export class View {
  constructor(name, className = "") {
    this.element = el("section", { class: ["view", className].filter(Boolean).join(" "), "data-testid": `view-${name}` });
    this.ctx = null;
    this.nextRender = latestOnly();
  }

  /** Fills the section: `parts` in order, or `aside` in a column beside a main column of `parts`. */
  layout({ aside = null, parts }) {
    if (!aside) {
      this.element.replaceChildren(...parts.filter(Boolean));
      return;
    }
    this.element.classList.add("view-with-aside");
    this.element.replaceChildren(
      el("div", { class: "aside-column" }, aside),
      el("div", { class: "main-column" }, parts),
    );
  }

  /** A `<select id=id data-testid=id>` whose choice goes to the state as `patch(value)` (default `{[key]: value}`). */
  stateSelect(id, key, patch = (value) => ({ [key]: value })) {
    const select = el("select", { id, "data-testid": id });
    select.addEventListener("change", () => this.ctx?.setState(patch(select.value)));
    return select;
  }

  /** Starts rendering `ctx`; returns isCurrent(), false once a later render has started. */
  beginRender(ctx) {
    this.ctx = ctx;
    return this.nextRender();
  }

  markPainted(ctx) {
    markPainted(this.element, ctx.stepInfo, ctx.paintKey);
  }

  controlsFor() {
    return MAP_CONTROLS;
  }

  prefetch() {}
}

/** A view's toolbar row; `[label, control]` pairs become labelled fields. */
export function toolbar(...parts) {
  return el("div", { class: "view-toolbar" }, parts.map((part) => (Array.isArray(part) ? labelled(...part) : part)));
}

/** The title line of a view or pane (drawn in downloads). */
export function paneTitle(testid, exported = true) {
  return el("h3", { class: `pane-title${exported ? " export-text" : ""}`, "data-testid": testid });
}

/** A hint under a view's toolbar (drawn in downloads). */
export function viewNote(testid) {
  return el("p", { class: "hint export-text", "data-testid": testid });
}

/** The logged steps next to the shown one: the next two while playing, else one either side. */
export function neighbourSteps(ctx) {
  const offsets = ctx.isPlaying() ? [1, 2] : [1, -1];
  return offsets.map((offset) => ctx.steps[ctx.stepIndex + offset]).filter(Boolean);
}

/** Decode filter `positions` of the main layer at the neighbouring steps, so stepping is instant. */
export function prefetchLayerSteps(ctx, positions) {
  for (const stepInfo of neighbourSteps(ctx)) ctx.store.layerStep(ctx.run.run, ctx.layer, stepInfo, positions).catch(() => {});
}

/** Every filter position of a layer. */
export function allPositions(layer) {
  return layer.filterIndices.map((_, position) => position);
}

/** Returns begin(): each call starts a new render and returns isCurrent() for it. */
export function latestOnly() {
  let generation = 0;
  return () => {
    const mine = ++generation;
    return () => mine === generation;
  };
}

/** Record what a view element shows, for tests and for skipping identical redraws. */
export function markPainted(element, stepInfo, key) {
  element.dataset.paintedStep = String(stepInfo.step);
  element.dataset.paintedKey = key;
}

export function notice(text, testid = "view-notice") {
  return el("p", { class: "notice", "data-testid": testid, text });
}

/** A canvas showing a probe image (ImageBitmap), or nothing. */
export function probeCanvas(bitmap, className, testid) {
  const canvas = el("canvas", { class: className, "data-testid": testid });
  if (!bitmap) return canvas;
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  return canvas;
}

export function layerTitle(run, layer) {
  const shape = layer.outputShape?.length ? ` [${layer.outputShape.join(" × ")}]` : "";
  const kind = kindNote(layer);
  return `${run.run} · ${layer.path}${shape}${kind ? ` · ${kind}` : ""}`;
}

/** The promise's value if it settles within `ms` (default: this task), else `fallback`. */
export function quickly(promise, fallback = undefined, ms = 0) {
  return Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve(fallback), ms))]);
}

/** Mark that a view's statistics over training (sparklines, charts) are painted. */
export function markInsight(element, stepInfo, key) {
  element.dataset.insightStep = String(stepInfo.step);
  element.dataset.insightKey = key;
}
