// Zoom dialog: one map at full stored resolution, pixelated, with the real
// (de-quantized) activation under the cursor and the map's statistics.

import { el } from "./dom.js";
import { resolverFor } from "./map_tiles.js";
import { paintMaps, valueAt } from "./render_maps.js";

const MIN_CSS_HEIGHT = 32;

function formatNumber(value) {
  if (!Number.isFinite(value)) return String(value);
  return Math.abs(value) >= 1e4 || (value !== 0 && Math.abs(value) < 1e-3) ? value.toExponential(3) : String(+value.toPrecision(4));
}

export class ZoomDialog {
  constructor(onClose) {
    this.title = el("h2", { class: "zoom-title", "data-testid": "zoom-title" });
    this.canvas = el("canvas", { class: "zoom-canvas", "data-testid": "zoom-canvas" });
    this.readout = el("output", { class: "zoom-readout", "data-testid": "zoom-value", text: "Point at the map to read values." });
    this.statsTable = el("table", { class: "zoom-stats", "data-testid": "zoom-stats" });
    this.geometry = el("p", { class: "zoom-geometry", "data-testid": "zoom-geometry" });
    const close = el("button", { type: "button", class: "close", "data-testid": "zoom-close", "aria-label": "Close zoom", text: "×" });
    this.element = el("dialog", { id: "zoom-dialog", "data-testid": "zoom-dialog", "aria-labelledby": "zoom-title" }, [
      el("div", { class: "zoom-head" }, [this.title, close]),
      el("div", { class: "zoom-body" }, [
        el("div", { class: "zoom-map" }, [this.canvas, this.readout]),
        el("div", { class: "zoom-side" }, [this.statsTable, this.geometry]),
      ]),
    ]);
    this.title.id = "zoom-title";
    close.addEventListener("click", () => this.element.close());
    this.element.addEventListener("close", () => onClose());
    this.element.addEventListener("click", (event) => event.target === this.element && this.element.close());
    this.canvas.addEventListener("pointermove", (event) => this.showValueAt(event));
    this.canvas.addEventListener("pointerleave", () => { this.readout.textContent = "Point at the map to read values."; });
    this.shown = null;
  }

  close() {
    if (this.element.open) this.element.close();
  }

  /** ref: {run, layer (path), step, filter, image}. Missing maps close the dialog. */
  async show(ctx, ref) {
    const run = ctx.runs.find((candidate) => candidate.run === ref.run);
    const layer = run?.layers.find((candidate) => candidate.path === ref.layer);
    const position = layer ? layer.filterIndices.indexOf(ref.filter) : -1;
    const steps = layer ? await ctx.store.stepsOf(run.run, layer.tag) : [];
    const stepInfo = steps.find(({ step }) => step === ref.step);
    if (position < 0 || !stepInfo || !(ref.image >= 0 && ref.image < layer.numImages)) return this.close();
    const { stats, strips } = await ctx.store.layerStep(run.run, layer, stepInfo, [position]);
    const resolve = await resolverFor(ctx, run, layer, stats);
    const strip = strips.get(position);
    const mapRange = stats.mapRange(position, ref.image);
    paintMaps(this.canvas, strip, layer.mapWidth, [{ image: ref.image, mapRange, displayRange: resolve(position, ref.image) }], ctx.style);
    this.shown = { layer, strip, image: ref.image, mapRange };
    this.sizeCanvas(layer);
    const label = run.probe?.labels?.[ref.image];
    this.title.textContent = `${run.run} · ${layer.path} · filter: ${ref.filter} · image: ${ref.image}${label ? ` (${label})` : ""} · step ${ref.step}`;
    this.fillStats(stats.record(position, ref.image), resolve(position, ref.image));
    this.geometry.textContent = `Stored ${layer.mapHeight} × ${layer.mapWidth} of ${layer.sourceHeight} × ${layer.sourceWidth}` +
      (layer.downsampleFactor > 1 ? ` (area-averaged ×${layer.downsampleFactor})` : "");
    this.canvas.dataset.paintedKey = JSON.stringify([ref, ctx.paintStyleKey]);
    if (!this.element.open) this.element.showModal();
  }

  sizeCanvas(layer) {
    const scale = Math.max(1, Math.floor(Math.min((innerWidth * 0.62) / layer.mapWidth, (innerHeight * 0.7) / layer.mapHeight)));
    this.canvas.style.width = `${layer.mapWidth * scale}px`;
    this.canvas.style.height = `${Math.max(MIN_CSS_HEIGHT, layer.mapHeight * scale)}px`;
  }

  fillStats(record, displayRange) {
    const rows = Object.entries(record).map(([name, value]) =>
      el("tr", {}, [el("th", { scope: "row", text: name }), el("td", { text: formatNumber(value) })]),
    );
    rows.push(el("tr", {}, [el("th", { scope: "row", text: "colour range" }), el("td", { text: displayRange.map(formatNumber).join(" … ") })]));
    this.statsTable.replaceChildren(el("tbody", {}, rows));
  }

  showValueAt(event) {
    if (!this.shown) return;
    const { layer, strip, image, mapRange } = this.shown;
    const box = this.canvas.getBoundingClientRect();
    const x = Math.min(layer.mapWidth - 1, Math.max(0, Math.floor(((event.clientX - box.left) / box.width) * layer.mapWidth)));
    const y = Math.min(layer.mapHeight - 1, Math.max(0, Math.floor(((event.clientY - box.top) / box.height) * layer.mapHeight)));
    const { q, value } = valueAt(strip, layer.mapWidth, image, x, y, mapRange);
    this.readout.textContent = `x ${x}, y ${y}: ${formatNumber(value)}  (q = ${q})`;
    this.readout.dataset.value = String(value);
  }
}
