// Attention: where the model looks at this step. Each probe image with its
// Grad-CAM (or saliency) heatmap over it and what the model predicted; under
// it, the chosen image at every logged step (the step slider and Play move
// through training).

import { attentionTile, methodLabel, predictionLine, targetText } from "../attention.js";
import { el, labelled, setOptions } from "../dom.js";
import { imageCaption } from "../map_tiles.js";
import { stepText } from "../map_kinds.js";
import { stepAtOrBefore } from "../steps.js";
import { TileGrid } from "../tile_grid.js";
import { latestOnly, markPainted, notice } from "./view_helpers.js";

export class AttentionView {
  constructor() {
    this.methodSelect = el("select", { id: "attention-method-select", "data-testid": "attention-method-select" });
    this.methodSelect.addEventListener("change", () => this.ctx?.setState({ attr: this.methodSelect.value }));
    this.title = el("h3", { class: "pane-title export-text", "data-testid": "attention-title" });
    this.note = el("p", { class: "hint export-text", "data-testid": "attention-note" });
    this.grid = new TileGrid({ testid: "attention-grid", className: "attention-grid" });
    this.filmstripTitle = el("h3", { class: "filmstrip-title", "data-testid": "attention-filmstrip-title" });
    this.filmstrip = new TileGrid({ testid: "attention-filmstrip", className: "filmstrip attention-grid" });
    this.element = el("section", { class: "view", "data-testid": "view-attention" }, [
      el("div", { class: "view-toolbar" }, [labelled("Method", this.methodSelect), this.note]),
      this.title,
      this.grid.element,
      this.filmstripTitle,
      this.filmstrip.element,
    ]);
    this.begin = latestOnly();
  }

  async update(ctx) {
    this.ctx = ctx;
    const isCurrent = this.begin();
    const { run, attribution, state } = ctx;
    setOptions(this.methodSelect, (run.attributions ?? []).map((a) => ({ value: a.method, label: methodLabel(a) })), attribution?.method ?? "");
    if (!attribution) {
      this.grid.render([]);
      this.filmstrip.render([]);
      this.title.textContent = "";
      this.filmstripTitle.textContent = "";
      this.note.replaceChildren(notice("This run logged no attributions: ActivationLogger(..., attributions=True)."));
      return markPainted(this.element, ctx.stepInfo, ctx.paintKey);
    }
    const steps = await ctx.store.stepsOf(run.run, attribution.tag);
    const stepInfo = stepAtOrBefore(steps, ctx.stepInfo.step);
    const [records, bitmaps, strip, series] = await Promise.all([
      ctx.store.recordSeriesOf(run.run, attribution),
      run.probe ? ctx.store.probeImages(run.run, run.probe) : [],
      stepInfo ? ctx.store.attributionStrip(run.run, attribution, stepInfo) : null,
      ctx.store.seriesOf(run.run, attribution, 1),
    ]);
    if (!isCurrent()) return;
    const recordAt = new Map(records.map(({ stepInfo: info, value }) => [info.step, value]));
    const record = stepInfo ? recordAt.get(stepInfo.step) ?? null : null;
    const image = Math.min(state.image, attribution.numImages - 1);
    this.note.textContent = `For ${targetText(attribution)}; each map scaled to its own range; opacity ${state.opacity}%.`;
    this.title.textContent = `${run.run} · ${methodLabel(attribution)} · ${stepInfo ? stepText(attribution, stepInfo.step) : "nothing logged at or before this step"}`;
    const specs = !stepInfo ? [] : [...Array(attribution.numImages).keys()].map((k) => attentionTile(ctx, {
      run, attribution, stepInfo, strip, record, image: k, bitmaps,
      caption: [...imageCaption(run.probe, k), predictionLine(attribution, record, k)],
      current: k === image,
    }));
    this.grid.render(specs);
    this.filmstripTitle.textContent = `Image ${image} at every logged step`;
    this.filmstrip.render(series.map(({ stepInfo: info, value }) => {
      const stepRecord = recordAt.get(info.step) ?? null;
      return {
        ...attentionTile(ctx, {
          run, attribution, stepInfo: info, strip: value, record: stepRecord, image, bitmaps,
          caption: [el("span", { class: "caption-key", text: stepText(attribution, info.step) }), predictionLine(attribution, stepRecord, image)],
          current: stepInfo !== null && info.step === stepInfo.step,
        }),
        open: () => ctx.setState({ step: info.step }),
      };
    }));
    markPainted(this.element, ctx.stepInfo, ctx.paintKey);
  }
}
