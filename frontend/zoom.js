// Zoom dialog: one map at full stored resolution, pixelated, with the real
// (de-quantized) activation under the cursor and the map's statistics.

import { BrokenBlob } from "./decode.js";
import { el } from "./dom.js";
import { formatNumber } from "./insight.js";
import { filterLabel, geometryText, isStrip, kindShort, positionLabel } from "./map_kinds.js";
import { nonfiniteText, resolverFor } from "./map_tiles.js";
import { paintMaps, valueAt } from "./render_maps.js";
import { stepText } from "./steps.js";

const MIN_CSS_HEIGHT = 32;
const STRIP_CSS_HEIGHT = 64; // sequence / units strips: one stored row, drawn this tall
const STAT_LABELS = { nonfinite_count: "non-finite (NaN, ±Inf)", positive_fraction: "positive fraction" };

// Values under the cursor and a map's statistics: one digit more than elsewhere.
const formatValue = (value) => formatNumber(value, 4);

export class ZoomDialog {
  constructor(onClose) {
    this.title = el("h2", { class: "zoom-title", "data-testid": "zoom-title" });
    this.canvas = el("canvas", { class: "zoom-canvas", "data-testid": "zoom-canvas" });
    this.readout = el("output", { class: "zoom-readout", "data-testid": "zoom-value", text: "Point at the map to read values." });
    this.statsTable = el("table", { class: "zoom-stats", "data-testid": "zoom-stats" });
    this.geometry = el("p", { class: "zoom-geometry", "data-testid": "zoom-geometry" });
    this.nonfiniteNote = el("p", { class: "zoom-note warn", "data-testid": "zoom-nonfinite", role: "note", hidden: true });
    this.constantNote = el("p", { class: "zoom-note", "data-testid": "zoom-constant", role: "note", hidden: true });
    const close = el("button", { type: "button", class: "close", "data-testid": "zoom-close", "aria-label": "Close zoom", text: "×" });
    this.element = el("dialog", { id: "zoom-dialog", "data-testid": "zoom-dialog", "aria-labelledby": "zoom-title" }, [
      el("div", { class: "zoom-head" }, [this.title, close]),
      el("div", { class: "zoom-body" }, [
        el("div", { class: "zoom-map" }, [this.canvas, this.readout]),
        el("div", { class: "zoom-side" }, [this.statsTable, this.nonfiniteNote, this.constantNote, this.geometry]),
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
    if (strip instanceof BrokenBlob) throw new Error(`filter ${ref.filter} at ${stepText(layer, ref.step)} cannot be shown: ${strip.message}`);
    const mapRange = stats.mapRange(position, ref.image);
    paintMaps(this.canvas, strip, layer.mapWidth, [{ image: ref.image, mapRange, displayRange: resolve(position, ref.image) }], ctx.style);
    this.shown = { layer, strip, image: ref.image, mapRange };
    this.sizeCanvas(layer);
    const label = run.probe?.labels?.[ref.image];
    const kind = kindShort(layer);
    this.title.textContent = `${run.run} · ${layer.path}${kind ? ` (${kind})` : ""} · ${filterLabel(layer, ref.filter)} · image: ${ref.image}${label ? ` (${label})` : ""} · ${stepText(layer, ref.step)}`;
    this.fillStats(stats.record(position, ref.image), resolve(position, ref.image));
    this.geometry.textContent = geometryText(layer);
    this.canvas.dataset.paintedKey = JSON.stringify([ref, ctx.paintStyleKey]);
    if (!this.element.open) this.element.showModal();
  }

  sizeCanvas(layer) {
    this.canvas.classList.toggle("strip", isStrip(layer));
    if (isStrip(layer)) {
      // One stored row: wide cells, a fixed readable height.
      const cell = Math.max(1, Math.floor(Math.min((innerWidth * 0.62) / layer.mapWidth, 48)));
      this.canvas.style.width = `${layer.mapWidth * cell}px`;
      this.canvas.style.height = `${STRIP_CSS_HEIGHT}px`;
      return;
    }
    const scale = Math.max(1, Math.floor(Math.min((innerWidth * 0.62) / layer.mapWidth, (innerHeight * 0.7) / layer.mapHeight)));
    this.canvas.style.width = `${layer.mapWidth * scale}px`;
    this.canvas.style.height = `${Math.max(MIN_CSS_HEIGHT, layer.mapHeight * scale)}px`;
  }

  fillStats(record, displayRange) {
    const rows = Object.entries(record).map(([name, value]) => {
      const warn = name === "nonfinite_count" && value > 0;
      return el("tr", { "data-stat": name, class: warn ? "warn" : "" }, [
        el("th", { scope: "row", text: STAT_LABELS[name] ?? name }),
        el("td", { text: name === "nonfinite_count" && Number.isFinite(value) ? String(value) : formatValue(value) }),
      ]);
    });
    rows.push(el("tr", {}, [el("th", { scope: "row", text: "colour range" }), el("td", { text: displayRange.map(formatValue).join(" … ") })]));
    this.statsTable.replaceChildren(el("tbody", {}, rows));
    // Non-finite values of the full-resolution map: counted, left out of the statistics, stored at the minimum.
    const nonfinite = Number.isFinite(record.nonfinite_count) ? record.nonfinite_count : 0;
    this.statsTable.dataset.nonfinite = String(nonfinite);
    this.nonfiniteNote.hidden = !(nonfinite > 0);
    this.nonfiniteNote.textContent = nonfinite > 0
      ? `⚠ ${nonfiniteText(nonfinite)} in this map: left out of its statistics and drawn at its minimum (their positions are not stored).`
      : "";
    // A constant map (e.g. a dead filter) has min == max: drawn flat in one colour.
    const constant = Number.isFinite(record.min) && record.min === record.max;
    this.constantNote.hidden = !constant;
    this.constantNote.textContent = constant ? `Constant map (every value ${formatValue(record.min)}): drawn flat.` : "";
    this.statsTable.dataset.constant = String(constant);
  }

  showValueAt(event) {
    if (!this.shown) return;
    const { layer, strip, image, mapRange } = this.shown;
    const box = this.canvas.getBoundingClientRect();
    const x = Math.min(layer.mapWidth - 1, Math.max(0, Math.floor(((event.clientX - box.left) / box.width) * layer.mapWidth)));
    const y = Math.min(layer.mapHeight - 1, Math.max(0, Math.floor(((event.clientY - box.top) / box.height) * layer.mapHeight)));
    const { q, value } = valueAt(strip, layer.mapWidth, image, x, y, mapRange);
    this.readout.textContent = `${positionLabel(layer, x, y)}: ${formatValue(value)}  (stored level ${q} of 255)`;
    this.readout.title = `The map is stored in 8 bits over its own range [${formatValue(mapRange[0])}, ${formatValue(mapRange[1])}]: level ${q} of 0-255 stands for ${formatValue(value)}, within ±${formatValue((mapRange[1] - mapRange[0]) / 510)}.`;
    this.readout.dataset.value = String(value);
  }
}
