// Attention: where the model looks at this step. Each probe image with its
// Grad-CAM (or saliency) heatmap over it and what the model predicted; under
// it, the chosen image at every logged step (the step slider and Play move
// through training).

import { attentionTile, methodLabel, predictionLine, targetText } from "../attention.js";
import { el, setOptions } from "../dom.js";
import { imageCaption } from "../map_tiles.js";
import { stepAtOrBefore, stepText, stepUnit } from "../steps.js";
import { TileGrid } from "../tile_grid.js";
import { notice, paneTitle, toolbar, View, viewNote } from "./view_helpers.js";

// Each map is scaled to its own range and drawn without contours, over its probe
// image: the layer, filter, normalization, contour and overlay controls do not act here.
const ATTENTION_CONTROLS = Object.freeze(["image", "colormap", "opacity"]);

export class AttentionView extends View {
  constructor() {
    super("attention");
    this.methodSelect = this.stateSelect("attention-method-select", "attr");
    this.title = paneTitle("attention-title");
    this.note = viewNote("attention-note");
    this.grid = new TileGrid({ testid: "attention-grid", className: "attention-grid" });
    this.filmstripTitle = el("h3", { class: "filmstrip-title", "data-testid": "attention-filmstrip-title" });
    this.filmstrip = new TileGrid({ testid: "attention-filmstrip", className: "filmstrip attention-grid" });
    this.layout({
      parts: [toolbar(["Method", this.methodSelect], this.note), this.title, this.grid.element, this.filmstripTitle, this.filmstrip.element],
    });
  }

  controlsFor() {
    return ATTENTION_CONTROLS;
  }

  async update(ctx) {
    const isCurrent = this.beginRender(ctx);
    const { run, attribution, state } = ctx;
    setOptions(this.methodSelect, (run.attributions ?? []).map((a) => ({ value: a.method, label: methodLabel(a) })), attribution?.method ?? "");
    if (!attribution) {
      this.grid.render([]);
      this.filmstrip.render([]);
      this.title.textContent = "";
      this.filmstripTitle.textContent = "";
      this.note.replaceChildren(notice("This run logged no attributions: ActivationLogger(..., attributions=True)."));
      return this.markPainted(ctx);
    }
    const steps = await ctx.store.stepsOf(run.run, attribution.tag);
    const stepInfo = stepAtOrBefore(steps, ctx.stepInfo.step);
    const [records, bitmaps, strip, series] = await Promise.all([
      ctx.store.recordSeriesOf(run.run, attribution),
      run.probe ? ctx.store.probeImages(run.run, run.probe) : [],
      stepInfo ? ctx.store.attributionStrip(run.run, attribution, stepInfo) : null,
      ctx.store.attributionSeriesOf(run.run, attribution),
    ]);
    if (!isCurrent()) return;
    const recordAt = new Map(records.map(({ stepInfo: info, value }) => [info.step, value]));
    const record = stepInfo ? recordAt.get(stepInfo.step) ?? null : null;
    const image = Math.min(state.image, attribution.numImages - 1);
    this.note.textContent = `For ${targetText(attribution)}; each map scaled to its own range; opacity ${state.opacity}%.`;
    const step = stepInfo ? stepText(attribution, stepInfo.step) : `nothing logged at or before ${stepText(attribution, ctx.stepInfo.step)}`;
    this.title.textContent = `${run.run} · ${methodLabel(attribution)} · ${step}`;
    const specs = !stepInfo ? [] : [...Array(attribution.numImages).keys()].map((k) => attentionTile(ctx, {
      run, attribution, stepInfo, strip, record, image: k, bitmaps,
      caption: [...imageCaption(run.probe, k), predictionLine(attribution, record, k)],
      current: k === image,
    }));
    this.grid.render(specs);
    this.filmstripTitle.textContent = `Image ${image} at every logged ${stepUnit(attribution)}`;
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
    this.markPainted(ctx);
  }
}
