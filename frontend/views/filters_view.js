// View A: every logged filter of the chosen layer for the chosen probe image.

import { el } from "../dom.js";
import { LayerFiltersPanel } from "./layer_filters.js";
import { ProbePanel } from "./probe_panel.js";
import { latestOnly, markPainted } from "./view_helpers.js";

export class FiltersView {
  constructor() {
    this.filters = new LayerFiltersPanel("filters-grid");
    this.probe = new ProbePanel();
    this.element = el("section", { class: "view view-with-aside", "data-testid": "view-filters" }, [
      this.probe.element,
      this.filters.element,
    ]);
    this.begin = latestOnly();
  }

  async update(ctx) {
    const isCurrent = this.begin();
    const source = { run: ctx.run, layer: ctx.layer, stepInfo: ctx.stepInfo, image: ctx.state.image, currentFilter: ctx.state.filter };
    const paints = await Promise.all([this.filters.load(ctx, source), this.probe.load(ctx, source)]);
    if (!isCurrent()) return;
    paints.forEach((paint) => paint());
    markPainted(this.element, ctx.stepInfo, ctx.paintKey);
  }
}
