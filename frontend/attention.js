// What an attribution step says in words, and its tiles: a probe image with
// its heatmap over it and what the model predicted (ATTRIBUTION tags,
// docs/http_api.md).

import { phrases } from "./dom.js";
import { formatNumber } from "./insight.js";
import { nonfiniteText } from "./map_tiles.js";
import { mapCoverage, paintMapsOver } from "./render_maps.js";
import { stepText } from "./steps.js";
import { EXPLAINED, METHOD_TEXT, NOT_FINITE, PREDICTED, SCORE_DIGITS, TRUE_LABEL, UNKNOWN_VALUE } from "./wording.js";

export const METHOD_LABELS = { grad_cam: "Grad-CAM", saliency: "Saliency" };

/** "Grad-CAM of conv4" / "Saliency (|d score / d input|)": the export's words, as a label. */
export function methodLabel(attribution) {
  const text = METHOD_TEXT[attribution.method]?.replace("{layer}", attribution.layerPath) ?? attribution.method;
  return text[0].toUpperCase() + text.slice(1);
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

// A score as a probability reads: two decimals ("0.93"), "?" where not finite.
const scoreText = (value) => (Number.isFinite(value) ? value.toFixed(SCORE_DIGITS) : UNKNOWN_VALUE);

/**
 * {phrases, text, correct} of one image at one step: "predicted: face 0.93 (true: face)"
 * as its phrases [["predicted:", "face 0.93"], ["(true:", "face)"]] (a line breaks
 * between phrases first, then between their parts); "predicted: not finite" where the
 * model's output was NaN or infinite (the record's class is NaN); `correct` is null
 * when the log has no true labels.
 */
export function prediction(attribution, record, image) {
  const predicted = Math.round(record.get(image, "predicted_class"));
  const target = Math.round(record.get(image, "target_class"));
  const predictedText = Number.isFinite(predicted) ? `${className(attribution, predicted)} ${scoreText(record.get(image, "predicted_score"))}` : NOT_FINITE;
  const parts = [[PREDICTED, predictedText]];
  let correct = null;
  if (attribution.target === "label") {
    parts.push([TRUE_LABEL, `${className(attribution, target)})`]);
    correct = predicted === target;
  } else if (attribution.target !== "predicted") {
    parts.push([EXPLAINED, `${className(attribution, target)} ${scoreText(record.get(image, "target_score"))})`]);
  }
  return { phrases: parts, text: parts.map((phrase) => phrase.join(" ")).join(" "), correct };
}

/** The caption line of a prediction, marked when it is wrong; breaks between its phrases. */
export function predictionLine(attribution, record, image) {
  if (!record) return phrases(["no prediction logged", "at this step"], { class: "prediction" });
  const { phrases: parts, correct } = prediction(attribution, record, image);
  return phrases(parts.map((phrase) => phrases(phrase)), {
    class: `prediction${correct === false ? " wrong" : ""}`, "data-testid": "prediction", "data-correct": correct === null ? "unknown" : String(correct),
  });
}

/** The display of an attribution map: the colormap only (each map is scaled to its own range, never posterized). */
export function attentionStyle(ctx) {
  return { ...ctx.style, levels: 0 };
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
  const styleKey = [ctx.state.cmap, ctx.state.opacity];
  const bitmap = bitmaps[image];
  return {
    key: JSON.stringify([run.run, attribution.tag, stepInfo.step, stepInfo.wallTime, image, styleKey, Boolean(bitmap)]),
    caption,
    dataset: { image, step: stepInfo.step, method: attribution.method, ...(record ? { mapMax: mapRange[1] } : {}), ...(nonfinite > 0 ? { nonfinite } : {}) },
    badge: nonfinite > 0 ? { text: `NaN ×${nonfinite}`, title: `${nonfiniteText(nonfinite)} in this map at ${stepText(attribution, stepInfo.step)}; stored at the map's minimum` } : null,
    title: `${methodLabel(attribution)} · image ${image} · ${stepText(attribution, stepInfo.step)}\nmap range ${formatNumber(mapRange[0])} … ${formatNumber(mapRange[1])} (scaled to its own range)`,
    aspect: bitmap ? [bitmap.width, bitmap.height] : [attribution.mapWidth, attribution.mapHeight],
    current,
    paint: (canvas) => paintMapsOver(canvas, strip, attribution.mapWidth, [{ image, mapRange, displayRange: mapRange }], attentionStyle(ctx), {
      bitmaps, opacity, coverage: mapCoverage(attribution),
    }),
    open: () => ctx.setState({ image }),
  };
}
