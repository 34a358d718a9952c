// Save the visible view as one PNG: every canvas and caption drawn where it
// is laid out on screen, under a header saying what it shows (`figureOf`).

import { methodLabel } from "./attention.js";
import { COLORMAPS } from "./colormaps.js";
import { NORMALIZATIONS } from "./normalize.js";
import { VIEWS } from "./state.js";
import { stepText, stepUnit } from "./steps.js";

/**
 * The figure of the active view: {name: file name, header: {title, legend}}; the step
 * in the run's unit ("epoch 8"), the legend only where a colormap paints the view.
 */
export function figureOf(ctx) {
  const { state, run, layer, attribution, kernels } = ctx;
  const colormap = COLORMAPS[state.cmap];
  let subject = layer.path;
  let unitOf = layer;
  let title = `${run.run} · ${layer.path} · ${VIEWS[state.view]} · ${stepText(layer, state.step)}`;
  let legend = { lut: colormap.lut, label: `${colormap.label}: low → high, ${NORMALIZATIONS[state.norm]}` };
  if (state.view === "attention" && attribution) {
    subject = attribution.method;
    unitOf = attribution;
    title = `${run.run} · ${methodLabel(attribution)} · ${stepText(attribution, state.step)}`;
    legend = { lut: colormap.lut, label: `${colormap.label}: low → high, each map to its own range` };
  } else if (state.view === "kernels" && kernels) {
    subject = kernels.path;
    unitOf = run;
    title = `${run.run} · kernels of ${kernels.path} · ${stepText(run, state.step)}`;
    legend = null; // drawn as logged (RGB or gray), each kernel to its own range
  }
  const name = `actviz_${run.run}_${subject}_${state.view}_${stepUnit(unitOf)}${state.step}.png`.replace(/[^\w.-]+/g, "_");
  return { name, header: { title, legend } };
}

/** Visible text; caption parts (key, label) joined with " · " as CSS shows them. */
function textOf(element) {
  const parts = [...element.childNodes].map((node) => node.textContent.replace(/\s+/g, " ").trim()).filter(Boolean);
  return parts.join(element.matches("figcaption, .probe-caption") ? " · " : " ");
}

const HEADER_HEIGHT = 46;
const LEGEND_WIDTH = 180;

/** Every drawn element's extent below and right of the view's origin (asides and charts included). */
function extentOf(view, origin) {
  let width = view.scrollWidth;
  let height = view.scrollHeight;
  for (const element of view.querySelectorAll("canvas, figcaption, h3, output, table, .export-text")) {
    const box = element.getBoundingClientRect();
    if (box.width === 0) continue;
    width = Math.max(width, box.right - origin.left);
    height = Math.max(height, box.bottom - origin.top);
  }
  return { width: Math.ceil(width), height: Math.ceil(height) };
}

/** The figure's header: a title (run, layer, step) and the colour legend with its range. */
function drawHeader(context, width, style, { title, legend }) {
  context.fillStyle = style.color || "black";
  context.font = `600 13px ${style.fontFamily || "sans-serif"}`;
  context.textBaseline = "top";
  context.fillText(title ?? "", 8, 6);
  if (!legend) return;
  const y = 26;
  for (let x = 0; x < LEGEND_WIDTH; x++) {
    const entry = Math.round((x / (LEGEND_WIDTH - 1)) * 255) * 3;
    context.fillStyle = `rgb(${legend.lut[entry]}, ${legend.lut[entry + 1]}, ${legend.lut[entry + 2]})`;
    context.fillRect(8 + x, y, 1, 10);
  }
  context.fillStyle = style.color || "black";
  context.font = `11px ${style.fontFamily || "sans-serif"}`;
  context.fillText(legend.label, 16 + LEGEND_WIDTH, y - 1, Math.max(40, width - LEGEND_WIDTH - 24));
}

/**
 * The view as one canvas. `header`: {title, legend: {lut, label}} drawn above it, so a
 * figure pasted into a report says what it shows.
 */
export function renderViewToCanvas(view, header = null) {
  const origin = view.getBoundingClientRect();
  const ratio = Math.min(2, window.devicePixelRatio || 1);
  const { width, height } = extentOf(view, origin);
  const top = header ? HEADER_HEIGHT : 0;
  const output = document.createElement("canvas");
  output.width = Math.ceil(width * ratio);
  output.height = Math.ceil((height + top) * ratio);
  const context = output.getContext("2d");
  context.scale(ratio, ratio);
  const style = getComputedStyle(document.body);
  context.fillStyle = style.backgroundColor || "white";
  context.fillRect(0, 0, output.width, output.height);
  if (header) drawHeader(context, width, style, header);
  context.translate(0, top);
  context.imageSmoothingEnabled = false;
  for (const canvas of view.querySelectorAll("canvas")) {
    const box = canvas.getBoundingClientRect();
    if (box.width === 0 || canvas.width === 0) continue;
    context.drawImage(canvas, box.left - origin.left, box.top - origin.top, box.width, box.height);
  }
  // Dead filters: the dashed outline and badge that CSS draws on screen.
  for (const tile of view.querySelectorAll('.tile[data-dead="true"]')) {
    const box = tile.getBoundingClientRect();
    if (box.width === 0) continue;
    const tileStyle = getComputedStyle(tile);
    const x = box.left - origin.left;
    const y = box.top - origin.top;
    context.strokeStyle = tileStyle.borderTopColor;
    context.lineWidth = 2;
    context.setLineDash([4, 3]);
    context.strokeRect(x + 1, y + 1, box.width - 2, box.height - 2);
    context.setLineDash([]);
    context.fillStyle = tileStyle.borderTopColor;
    context.fillRect(x + 6, y + 6, 30, 15);
    context.fillStyle = style.backgroundColor || "white";
    context.font = "600 10px sans-serif";
    context.textBaseline = "top";
    context.fillText("dead", x + 9, y + 8.5, 26);
  }
  // Non-finite values: the outline and "NaN/Inf ×k" badge that CSS draws on screen.
  for (const badge of view.querySelectorAll(".tile[data-nonfinite] > .tile-badge")) {
    const box = badge.getBoundingClientRect();
    if (box.width === 0) continue;
    const badgeStyle = getComputedStyle(badge);
    const canvas = badge.parentElement.querySelector("canvas.map");
    const mapBox = canvas?.getBoundingClientRect();
    if (mapBox?.width) {
      context.strokeStyle = badgeStyle.backgroundColor;
      context.lineWidth = 2;
      context.strokeRect(mapBox.left - origin.left + 1, mapBox.top - origin.top + 1, mapBox.width - 2, mapBox.height - 2);
    }
    context.fillStyle = badgeStyle.backgroundColor;
    context.fillRect(box.left - origin.left, box.top - origin.top, box.width, box.height);
    context.fillStyle = badgeStyle.color;
    context.font = `${badgeStyle.fontWeight} ${badgeStyle.fontSize} ${badgeStyle.fontFamily}`;
    context.textBaseline = "middle";
    context.fillText(badge.textContent, box.left - origin.left + 4, box.top - origin.top + box.height / 2, box.width - 6);
  }
  context.textBaseline = "top";
  // Captions made of spans (key, label, thumbnail) are drawn span by span, and text
  // made of phrases (dom.js `phrases`) phrase by phrase, where each is laid out.
  const texts = "figcaption, h3, .probe-caption, .export-text, .filter-stats-table th, .filter-stats-table td, .top-caption > span, figcaption > span, .probe-caption > span, .phrase";
  const spanned = (element) => (element.matches("figcaption, .probe-caption") && element.querySelector(":scope > span")) || element.querySelector(".phrase");
  for (const caption of view.querySelectorAll(texts)) {
    const box = caption.getBoundingClientRect();
    if (box.width === 0 || spanned(caption)) continue;
    const captionStyle = getComputedStyle(caption);
    context.fillStyle = captionStyle.color || style.color || "black";
    context.font = `${captionStyle.fontWeight} ${captionStyle.fontSize} ${captionStyle.fontFamily}`;
    const right = captionStyle.textAlign === "right";
    context.textAlign = right ? "right" : "left";
    // Tile captions are clipped to their tile; other text (readouts, headings) keeps its natural width.
    const maxWidth = caption.matches("figcaption, figcaption > span, figcaption .phrase") ? box.width : undefined;
    context.fillText(textOf(caption), (right ? box.right : box.left) - origin.left, box.top - origin.top, maxWidth);
  }
  context.textAlign = "left";
  return output;
}

export function downloadViewPng(view, filename, header = null) {
  renderViewToCanvas(view, header).toBlob((blob) => {
    if (!blob) return;
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = filename;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }, "image/png");
}
