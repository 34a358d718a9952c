// "Filter stats": the chosen filter's statistics over the probe images at the
// current step, its mean activation over training, and the layer's fraction
// of dead filters over training. Reads the layer's stats series (blob 0 at
// every step, one cached /series request) and the current step's stats.

import { StepChart, paintLine } from "../charts.js";
import { el } from "../dom.js";
import { deadFraction, filterSummaries, formatNumber, formatPercent } from "../insight.js";
import { stepText } from "../steps.js";

const ROWS = [
  ["mean", "mean", formatNumber],
  ["std", "std", formatNumber],
  ["max", "max", formatNumber],
  ["sparsity", "sparsity (share ≤ 0)", formatPercent],
  ["nonfinite", "non-finite values", String],
];

const summariesOfSeries = new WeakMap(); // stats series (cached by the store) -> its summaries

/** Per-step arrays of one layer's stats series: {steps, summaries: [[FilterSummary]], dead: [fraction]}. */
export function seriesSummaries(series) {
  let result = summariesOfSeries.get(series);
  if (!result) {
    result = {
      steps: series.map(({ stepInfo }) => stepInfo),
      summaries: series.map(({ value }) => filterSummaries(value)),
      dead: series.map(({ value }) => deadFraction(value)),
    };
    summariesOfSeries.set(series, result);
  }
  return result;
}

/** Sparkline spec of filter `position` for a grid tile (mean over steps, dead steps marked). */
export function tileSparkline(summarySeries, position, currentStep) {
  if (!summarySeries) return null;
  const { steps, summaries } = summarySeries;
  const current = steps.findIndex(({ step }) => step === currentStep);
  const values = summaries.map((perFilter) => perFilter[position]?.mean);
  const marks = summaries.map((perFilter) => Boolean(perFilter[position]?.dead));
  return {
    key: JSON.stringify([steps.length, steps.at(-1)?.wallTime, position, current]),
    paint: (canvas) => paintLine(canvas, values, { width: 120, height: 22, current, marks }),
  };
}

export class FilterStatsPanel {
  constructor() {
    this.heading = el("h3", { class: "export-text", "data-testid": "filter-stats-title" });
    this.table = el("table", { class: "filter-stats-table", "data-testid": "filter-stats-table" });
    this.meanChart = new StepChart({ testid: "filter-mean-chart", title: "Mean activation over training" });
    this.deadChart = new StepChart({ testid: "dead-fraction-chart", title: "Dead filters in this layer" });
    this.pending = el("p", { class: "hint", "data-testid": "filter-stats-pending", text: "Loading statistics over training…", hidden: true });
    this.element = el("section", { class: "filter-stats", "data-testid": "filter-stats", "aria-label": "Filter statistics" }, [
      this.heading,
      this.table,
      el("p", { class: "hint", text: "Over the probe images at this step. Dead: positive on no probe image." }),
      this.pending,
      this.meanChart.element,
      this.deadChart.element,
    ]);
  }

  /** Current step only (fast); `renderSeries` adds the charts when the series is there. */
  render(ctx, { layer, stepInfo, stats, position }) {
    const filter = layer.filterIndices[position];
    const summary = filterSummaries(stats)[position];
    this.heading.textContent = `Filter stats · filter: ${filter} · ${stepText(layer, stepInfo.step)}`;
    const rows = ROWS.map(([key, label, format]) =>
      el("tr", { "data-stat": key }, [el("th", { scope: "row", text: label }), el("td", { text: format(summary[key]) })]),
    );
    rows.push(el("tr", { "data-stat": "dead" }, [el("th", { scope: "row", text: "dead" }), el("td", { class: summary.dead ? "dead-text" : "", text: summary.dead ? "yes" : "no" })]));
    this.table.replaceChildren(el("tbody", {}, rows));
    this.table.dataset.filter = String(filter);
    this.table.dataset.step = String(stepInfo.step);
    this.element.dataset.filterDead = String(summary.dead);
  }

  showPending(pending) {
    this.pending.hidden = !pending;
  }

  renderSeries(ctx, { layer, position, summarySeries }) {
    const { steps, summaries, dead } = summarySeries;
    const current = steps.findIndex(({ step }) => step === ctx.stepInfo.step);
    const filter = layer.filterIndices[position];
    const means = summaries.map((perFilter) => perFilter[position]?.mean);
    this.meanChart.render({
      steps, values: means, current,
      marks: summaries.map((perFilter) => Boolean(perFilter[position]?.dead)),
      label: `Mean activation of filter ${filter} at each of ${steps.length} logged steps`,
      stepText: (step) => stepText(layer, step),
      format: (value, index) => {
        const s = summaries[index][position];
        return `mean ${formatNumber(value)} · std ${formatNumber(s.std)} · max ${formatNumber(s.max)} · sparsity ${formatPercent(s.sparsity)}${s.nonfinite ? ` · non-finite ${s.nonfinite}` : ""}${s.dead ? " · dead" : ""}`;
      },
    });
    const count = layer.filterIndices.length;
    this.deadChart.render({
      steps, values: dead, current, range: [0, Math.max(0.1, ...dead)], fill: true,
      label: `Fraction of dead filters of ${layer.path} at each logged step`,
      stepText: (step) => stepText(layer, step),
      format: (value) => `${Math.round(value * count)} of ${count} dead (${formatPercent(value)})`,
    });
    this.deadChart.title.textContent = `Dead filters in this layer (peak ${formatPercent(Math.max(0, ...dead))})`;
    this.deadChart.element.dataset.current = String(dead[current] ?? "");
    this.showPending(false);
  }
}
