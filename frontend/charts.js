// Small line charts on canvases: per-filter sparklines under grid tiles and
// hoverable charts over steps (a filter's mean, a layer's dead fraction).

import { el } from "./dom.js";
import { stepText } from "./steps.js";

function themeColours() {
  const style = getComputedStyle(document.documentElement);
  const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
  return { fg: read("--fg", "#202124"), muted: read("--muted", "#5f6368"), accent: read("--accent", "#f57c00"), error: read("--error", "#c5221f"), border: read("--border", "#dadce0") };
}

/**
 * Draw `values` (one per step) as a line on `canvas` (intrinsic size width x height).
 * options: current (index marked with a dot), marks (bool per index, drawn red
 * on the baseline: dead), range ([lo, hi]; default the values' own), zeroLine.
 */
export function paintLine(canvas, values, { width, height, current = -1, marks = null, range = null, zeroLine = true, fill = false } = {}) {
  const ratio = Math.min(2, window.devicePixelRatio || 1);
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, height);
  const colours = themeColours();
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return;
  let [lo, hi] = range ?? [Math.min(...finite), Math.max(...finite)];
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const pad = 2;
  const x = (index) => (values.length > 1 ? pad + (index / (values.length - 1)) * (width - 2 * pad) : width / 2);
  const y = (value) => height - pad - ((value - lo) / (hi - lo)) * (height - 2 * pad);
  if (zeroLine && lo < 0 && hi > 0) {
    context.strokeStyle = colours.border;
    context.lineWidth = 1;
    context.beginPath();
    context.moveTo(0, Math.round(y(0)) + 0.5);
    context.lineTo(width, Math.round(y(0)) + 0.5);
    context.stroke();
  }
  if (marks) {
    context.fillStyle = colours.error;
    marks.forEach((marked, index) => marked && context.fillRect(x(index) - 1.5, height - 3, 3, 3));
  }
  context.beginPath();
  let started = false;
  values.forEach((value, index) => {
    if (!Number.isFinite(value)) {
      started = false;
      return;
    }
    if (started) context.lineTo(x(index), y(value));
    else context.moveTo(x(index), y(value));
    started = true;
  });
  if (fill && finite.length === values.length) {
    context.save();
    context.lineTo(x(values.length - 1), y(Math.max(lo, 0)));
    context.lineTo(x(0), y(Math.max(lo, 0)));
    context.closePath();
    context.globalAlpha = 0.18;
    context.fillStyle = colours.accent;
    context.fill();
    context.restore();
    context.beginPath();
    values.forEach((value, index) => (index ? context.lineTo(x(index), y(value)) : context.moveTo(x(index), y(value))));
  }
  context.strokeStyle = colours.fg;
  context.globalAlpha = 0.8;
  context.lineWidth = 1.25;
  context.stroke();
  context.globalAlpha = 1;
  if (current >= 0 && Number.isFinite(values[current])) {
    context.fillStyle = colours.accent;
    context.beginPath();
    context.arc(x(current), y(values[current]), 2.5, 0, 2 * Math.PI);
    context.fill();
  }
}

/**
 * A labelled chart over steps with a readout of the value under the pointer
 * (or the current step). `format(value, index)` -> readout text.
 */
export class StepChart {
  constructor({ testid, title, width = 200, height = 56 }) {
    this.width = width;
    this.height = height;
    this.title = el("h3", { class: "chart-title", text: title });
    this.canvas = el("canvas", { class: "step-chart", "data-testid": `${testid}-canvas`, role: "img", style: { height: `${height}px` } });
    this.readout = el("output", { class: "chart-readout export-text", "data-testid": `${testid}-readout` });
    this.element = el("figure", { class: "chart", "data-testid": testid }, [this.title, this.canvas, this.readout]);
    this.canvas.addEventListener("pointermove", (event) => this.hover(event));
    this.canvas.addEventListener("pointerleave", () => this.showIndex(this.current));
    this.data = null;
  }

  /** data: {steps: [stepInfo], values, current, marks?, range?, format, label, stepText?: step -> "epoch 3"} */
  render(data) {
    this.data = data;
    this.current = data.current;
    paintLine(this.canvas, data.values, { width: this.width, height: this.height, current: data.current, marks: data.marks, range: data.range, fill: data.fill });
    this.canvas.setAttribute("aria-label", data.label);
    this.showIndex(data.current);
  }

  hover(event) {
    if (!this.data || this.data.values.length === 0) return;
    const box = this.canvas.getBoundingClientRect();
    const fraction = box.width > 0 ? (event.clientX - box.left) / box.width : 0;
    this.showIndex(Math.round(Math.min(1, Math.max(0, fraction)) * (this.data.values.length - 1)));
  }

  showIndex(index) {
    if (!this.data || index < 0 || index >= this.data.values.length) {
      this.readout.textContent = "";
      return;
    }
    const { step } = this.data.steps[index];
    const label = this.data.stepText ?? ((value) => stepText(null, value));
    this.readout.textContent = `${label(step)}: ${this.data.format(this.data.values[index], index)}`;
    this.readout.dataset.step = String(step);
  }
}
