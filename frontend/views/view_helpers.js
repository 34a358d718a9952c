// Small helpers shared by the views.

import { el } from "../dom.js";
import { kindNote } from "../map_kinds.js";

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
