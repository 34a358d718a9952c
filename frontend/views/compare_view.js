// Two layers (or one layer in two runs) side by side at the same step:
// the main run/layer on the left, the compare run/layer on the right.

import { el, labelled, setOptions } from "../dom.js";
import { LayerFiltersPanel } from "./layer_filters.js";
import { layerOptionLabel, stepText } from "../map_kinds.js";
import { latestOnly, layerTitle, markPainted } from "./view_helpers.js";

function pane(testid, header, panel) {
  const title = el("h3", { class: "pane-title", "data-testid": `${testid}-title` });
  const element = el("div", { class: "compare-pane", "data-testid": testid }, [header, title, panel.element]);
  return { element, title, panel };
}

export class CompareView {
  constructor() {
    this.runSelect = el("select", { id: "compare-run-select", "data-testid": "compare-run-select" });
    this.layerSelect = el("select", { id: "compare-layer-select", "data-testid": "compare-layer-select" });
    this.runSelect.addEventListener("change", () => this.ctx?.setState({ cmpRun: this.runSelect.value, cmpLayer: "" }));
    this.layerSelect.addEventListener("change", () => this.ctx?.setState({ cmpLayer: this.layerSelect.value }));
    this.left = pane("compare-left", el("div", { class: "view-toolbar" }, [el("span", { class: "hint", text: "Run and layer from the controls above" })]), new LayerFiltersPanel("compare-left-grid"));
    this.right = pane(
      "compare-right",
      el("div", { class: "view-toolbar" }, [labelled("Run", this.runSelect), labelled("Layer", this.layerSelect)]),
      new LayerFiltersPanel("compare-right-grid"),
    );
    this.element = el("section", { class: "view compare", "data-testid": "view-compare" }, [this.left.element, this.right.element]);
    this.begin = latestOnly();
  }

  async update(ctx) {
    this.ctx = ctx;
    const isCurrent = this.begin();
    const { compare } = ctx;
    setOptions(this.runSelect, ctx.runs.map(({ run }) => ({ value: run, label: run })), compare.run.run);
    setOptions(this.layerSelect, compare.run.layers.map((layer) => ({ value: layer.path, label: layerOptionLabel(layer) })), compare.layer.path);
    const sides = [
      { pane: this.left, run: ctx.run, layer: ctx.layer, stepInfo: ctx.stepInfo },
      { pane: this.right, ...compare },
    ];
    const paints = await Promise.all(
      sides.map(({ pane, run, layer, stepInfo }) =>
        stepInfo
          ? pane.panel.load(ctx, { run, layer, stepInfo, image: Math.min(ctx.state.image, layer.numImages - 1) })
          : () => pane.panel.grid.render([]),
      ),
    );
    if (!isCurrent()) return;
    paints.forEach((paint) => paint());
    for (const { pane, run, layer, stepInfo } of sides) {
      pane.title.textContent = `${layerTitle(run, layer)} · ${stepInfo ? stepText(layer, stepInfo.step) : "no step at or before this one"}`;
    }
    markPainted(this.element, ctx.stepInfo, ctx.paintKey);
  }
}
