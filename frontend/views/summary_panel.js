// What the tab shows of a version-1 layer whose pixels cannot be read (a log
// dir copied with its event files only, a removed or damaged pixel file): the
// per-filter summary of the step, from the event files (one /summaries
// request), and the layer's share of dead filters over training.

import { StepChart } from "../charts.js";
import { el } from "../dom.js";
import { formatNumber, formatPercent } from "../insight.js";
import { stepText } from "../steps.js";

const COLUMNS = [
  ["mean", "mean", formatNumber],
  ["min", "min", formatNumber],
  ["max", "max", formatNumber],
  ["positive_fraction", "share > 0", formatPercent],
  ["nonfinite_count", "non-finite", String],
];

/** Positive on no probe image: the mean positive share is 0 only if every image's is. */
const isDead = (summary, position) => !(summary.get(position, "positive_fraction") > 0);

export class SummaryPanel {
  constructor() {
    this.heading = el("h3", { class: "export-text", "data-testid": "summary-title" });
    this.table = el("table", { class: "filter-stats-table", "data-testid": "summary-table" });
    this.deadChart = new StepChart({ testid: "summary-dead-chart", title: "Dead filters in this layer" });
    this.element = el("section", { class: "summary-panel", "data-testid": "summary-panel", "aria-label": "Statistics from the event files", hidden: true }, [
      this.heading,
      el("p", { class: "hint", text: "The maps of this step cannot be shown; its statistics are kept in the event files. Over the probe images at this step. Dead: positive on no probe image." }),
      this.table,
      this.deadChart.element,
    ]);
  }

  /** Shows the summary of ctx's step; resolves false (and stays hidden) if there is none. */
  async show(ctx, isCurrent) {
    const { run, layer, stepInfo } = ctx;
    const series = await ctx.store.summarySeriesOf(run.run, layer);
    if (!isCurrent()) return false;
    const index = series.findIndex(({ stepInfo: info }) => info.step === stepInfo.step);
    if (index < 0) return false;
    const summary = series[index].value;
    this.heading.textContent = `Statistics from the event files · ${layer.path} · ${stepText(layer, stepInfo.step)}`;
    const header = el("tr", {}, [el("th", { scope: "col", text: "filter" }), ...COLUMNS.map(([, label]) => el("th", { scope: "col", text: label })), el("th", { scope: "col", text: "dead" })]);
    const rows = layer.filterIndices.map((filter, position) => {
      const dead = isDead(summary, position);
      return el("tr", { "data-filter": String(filter) }, [
        el("th", { scope: "row", text: String(filter) }),
        ...COLUMNS.map(([name, , format]) => el("td", { "data-stat": name, text: format(summary.get(position, name)) })),
        el("td", { "data-stat": "dead", class: dead ? "dead-text" : "", text: dead ? "yes" : "no" }),
      ]);
    });
    this.table.replaceChildren(el("thead", {}, [header]), el("tbody", {}, rows));
    this.table.dataset.step = String(stepInfo.step);
    const dead = series.map(({ value }) => {
      const count = layer.filterIndices.filter((_, position) => isDead(value, position)).length;
      return layer.filterIndices.length ? count / layer.filterIndices.length : 0;
    });
    this.deadChart.render({
      steps: series.map(({ stepInfo: info }) => info),
      values: dead,
      current: index,
      range: [0, 1],
      fill: true,
      format: (value) => `${formatPercent(value)} dead`,
      label: `Share of dead filters of ${layer.path} over ${series.length} logged steps`,
      stepText: (step) => stepText(layer, step),
    });
    this.element.hidden = false;
    return true;
  }

  hide() {
    this.element.hidden = true;
  }
}
