// Two layers (or one layer in two runs) side by side at the same step:
// the main run/layer on the left, the compare run/layer on the right.

import { el, setOptions } from "../dom.js";
import { LayerFiltersPanel } from "./layer_filters.js";
import { layerOptionLabel } from "../map_kinds.js";
import { stepText } from "../steps.js";
import { allPositions, layerTitle, paneTitle, prefetchLayerSteps, toolbar, View } from "./view_helpers.js";

function pane(testid, header, panel) {
  const title = paneTitle(`${testid}-title`, false);
  const element = el("div", { class: "compare-pane", "data-testid": testid }, [header, title, panel.element]);
  return { element, title, panel };
}

// No filter is picked out in Compare: the filter control does not act on it.
const COMPARE_CONTROLS = Object.freeze(["layer", "image", "colormap", "norm", "levels", "overlay"]);

export class CompareView extends View {
  constructor() {
    super("compare", "compare");
    this.runSelect = this.stateSelect("compare-run-select", "cmpRun", (cmpRun) => ({ cmpRun, cmpLayer: "" }));
    this.layerSelect = this.stateSelect("compare-layer-select", "cmpLayer");
    this.left = pane("compare-left", toolbar(el("span", { class: "hint", text: "Run and layer from the controls above" })), new LayerFiltersPanel("compare-left-grid"));
    this.right = pane("compare-right", toolbar(["Run", this.runSelect], ["Layer", this.layerSelect]), new LayerFiltersPanel("compare-right-grid"));
    this.layout({ parts: [this.left.element, this.right.element] });
  }

  controlsFor() {
    return COMPARE_CONTROLS;
  }

  prefetch(ctx) {
    prefetchLayerSteps(ctx, allPositions(ctx.layer));
  }

  async update(ctx) {
    const isCurrent = this.beginRender(ctx);
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
      const step = stepInfo ? stepText(layer, stepInfo.step) : `nothing logged at or before ${stepText(ctx.layer, ctx.stepInfo.step)}`;
      pane.title.textContent = `${layerTitle(run, layer)} · ${step}`;
    }
    this.markPainted(ctx);
  }
}
