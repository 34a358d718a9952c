// What an attribution step says in words, and its tiles: a probe image with
// its heatmap over it and what the model predicted (ATTRIBUTION tags,
// docs/http_api.md).

import { el } from "./dom.js";
import { nonfiniteText } from "./map_tiles.js";
import { mapCoverage, paintMapsOver } from "./render_maps.js";

export const METHOD_LABELS = { grad_cam: "Grad-CAM", saliency: "Saliency" };

/** "Grad-CAM of conv4" / "Saliency (|d score / d input|)". */
export function methodLabel(attribution) {
  if (attribution.method === "grad_cam") return `Grad-CAM of ${attribution.layerPath}`;
  if (attribution.method === "saliency") return "Saliency (|d score / d input|)";
  return attribution.method;
}

/** Whose score the maps explain, in words. */
export function targetText(attribution) {
  if (attribution.target === "label") return "the true label of each image";
  if (attribution.target === "predicted") return "the class the model predicts";
  return attribution.target.replace(/^class /, "class ");
}

export function className(attribution, index) {
  const names = attribution.classNames ?? [];
  return Number.isInteger(index) && index >= 0 && index < names.length ? names[index] : `${index}`;
}

/**
 * {text, correct} of one image at one step: "predicted: face 0.93 (true: face)";
 * "predicted: not finite" where the model's output was NaN or infinite (the
 * record's class is NaN); `correct` is null when the log has no true labels.
 */
export function prediction(attribution, record, image) {
  const predicted = Math.round(record.get(image, "predicted_class"));
  const score = record.get(image, "predicted_score");
  const target = Math.round(record.get(image, "target_class"));
  const scoreOf = (value) => (Number.isFinite(value) ? value.toFixed(2) : "?");
  const scoreText = scoreOf(score);
  const predictedText = Number.isFinite(predicted) ? `${className(attribution, predicted)} ${scoreText}` : "not finite";
  let after = "";
  let correct = null;
  if (attribution.target === "label") {
    after = ` (true: ${className(attribution, target)})`;
    correct = predicted === target;
  } else if (attribution.target !== "predicted") {
    after = ` (explained: ${className(attribution, target)} ${scoreOf(record.get(image, "target_score"))})`;
  }
  return { text: `predicted: ${predictedText}${after}`, correct };
}

/** The caption line of a prediction, marked when it is wrong. */
export function predictionLine(attribution, record, image) {
  if (!record) return el("span", { class: "prediction", text: "no prediction logged at this step" });
  const { text, correct } = prediction(attribution, record, image);
  return el("span", { class: `prediction${correct === false ? " wrong" : ""}`, "data-testid": "prediction", "data-correct": correct === null ? "unknown" : String(correct), text });
}

/**
 * A tile spec: probe image `image` with its map of `strip` over it.
 * record: the step's LayerSummary of records (rows are images), or null.
 */
export function attentionTile(ctx, { run, attribution, stepInfo, strip, record, image, bitmaps, caption, current }) {
  const mapRange = record ? [record.get(image, "map_min"), record.get(image, "map_max")] : [0, 1];
  // NaN / Inf pixels in the map (a record without the count, an older log's, gives NaN: no badge).
  const nonfinite = record ? record.get(image, "map_nonfinite_count") : 0;
  const opacity = ctx.state.opacity / 100;
  const styleKey = [ctx.paintStyleKey, ctx.state.opacity];
  const bitmap = bitmaps[image];
  return {
    key: JSON.stringify([run.run, attribution.tag, stepInfo.step, stepInfo.wallTime, image, styleKey, Boolean(bitmap)]),
    caption,
    dataset: { image, step: stepInfo.step, method: attribution.method, ...(record ? { mapMax: mapRange[1] } : {}), ...(nonfinite > 0 ? { nonfinite } : {}) },
    badge: nonfinite > 0 ? { text: `NaN ×${nonfinite}`, title: `${nonfiniteText(nonfinite)} in this map at step ${stepInfo.step}; stored at the map's minimum` } : null,
    title: `${methodLabel(attribution)} · image ${image} · step ${stepInfo.step}\nmap range ${mapRange[0].toPrecision(3)} … ${mapRange[1].toPrecision(3)} (scaled to its own range)`,
    aspect: bitmap ? [bitmap.width, bitmap.height] : [attribution.mapWidth, attribution.mapHeight],
    current,
    paint: (canvas) => paintMapsOver(canvas, strip, attribution.mapWidth, [{ image, mapRange, displayRange: mapRange }], ctx.style, {
      bitmaps, opacity, coverage: mapCoverage(attribution),
    }),
    open: () => ctx.setState({ image }),
  };
}
