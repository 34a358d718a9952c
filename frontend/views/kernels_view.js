// Kernels: the logged convolution weights of one layer at the current step
// (KERNELS tag, docs/format.md): one small RGB or gray patch per filter, each
// scaled to its own range, magnified without smoothing.

import { setOptions } from "../dom.js";
import { formatNumber } from "../insight.js";
import { TileGrid } from "../tile_grid.js";
import { stepAtOrBefore, stepText } from "../steps.js";
import { neighbourSteps, notice, paneTitle, toolbar, View, viewNote } from "./view_helpers.js";

function kernelPainter(bitmap, kernels, position) {
  return (canvas) => {
    const { kernelWidth: kw, kernelHeight: kh } = kernels;
    canvas.width = kw;
    canvas.height = kh;
    const context = canvas.getContext("2d");
    context.imageSmoothingEnabled = false;
    context.clearRect(0, 0, kw, kh);
    context.drawImage(bitmap, position * kw, 0, kw, kh, 0, 0, kw, kh);
  };
}

/** Whether the kernels shown are the chosen layer's (then the chosen filter is marked, and a click picks one). */
const ofChosenLayer = (ctx) => Boolean(ctx.kernels) && ctx.kernels.path === ctx.layer.path;

export class KernelsView extends View {
  constructor() {
    super("kernels");
    this.layerSelect = this.stateSelect("kernel-layer-select", "kernel");
    this.title = paneTitle("kernels-title");
    this.note = viewNote("kernels-note");
    this.grid = new TileGrid({ testid: "kernels-grid", className: "kernels-grid" });
    this.layout({ parts: [toolbar(["Kernels of", this.layerSelect], this.note), this.title, this.grid.element] });
  }

  /**
   * Kernels are drawn as logged (RGB or gray, each to its own range): no colormap,
   * normalization or contours; "Kernels of" picks the layer. The filter control
   * marks a kernel only where they are the chosen layer's.
   */
  controlsFor(ctx) {
    return ofChosenLayer(ctx) ? ["filter"] : [];
  }

  /** Kernel step at or before `stepInfo.step` (the slider follows the activation layer's steps). */
  async kernelStepInfo(ctx, stepInfo) {
    const steps = await ctx.store.stepsOf(ctx.run.run, ctx.kernels.tag);
    return stepAtOrBefore(steps, stepInfo.step);
  }

  prefetch(ctx) {
    if (!ctx.kernels) return;
    for (const stepInfo of neighbourSteps(ctx)) {
      this.kernelStepInfo(ctx, stepInfo)
        .then((info) => info && ctx.store.kernelStep(ctx.run.run, ctx.kernels, info))
        .catch(() => {});
    }
  }

  async update(ctx) {
    const isCurrent = this.beginRender(ctx);
    const { run, kernels, state } = ctx;
    setOptions(this.layerSelect, (run.kernels ?? []).map(({ path }) => ({ value: path, label: path })), kernels?.path ?? "");
    this.layerSelect.disabled = (run.kernels ?? []).length < 2;
    if (!kernels) {
      this.grid.render([]);
      this.title.textContent = "";
      this.note.replaceChildren(notice("This run logged no kernels: ActivationLogger(..., kernels=True)."));
      return this.markPainted(ctx);
    }
    const stepInfo = await this.kernelStepInfo(ctx, ctx.stepInfo);
    const data = stepInfo ? await ctx.store.kernelStep(run.run, kernels, stepInfo) : null;
    if (!isCurrent()) return;
    const sameLayer = ofChosenLayer(ctx);
    const kind = kernels.channels === 3 ? "RGB (3 input channels)" : "gray (mean over input channels)";
    this.note.textContent = `${kernels.kernelHeight} × ${kernels.kernelWidth}, ${kind}; each kernel scaled to its own min … max.`;
    const step = stepInfo ? stepText(run, stepInfo.step) : `no kernels logged at or before ${stepText(run, ctx.stepInfo.step)}`;
    this.title.textContent = `${run.run} · kernels of ${kernels.path} · ${step}`;
    const specs = !data ? [] : kernels.filterIndices.map((filter, position) => {
      const [min, max] = data.ranges.range(position);
      return {
        key: JSON.stringify([run.run, kernels.tag, stepInfo.step, stepInfo.wallTime, filter]),
        caption: [`filter: ${filter}`],
        dataset: { filter, step: stepInfo.step, min, max },
        aspect: [kernels.kernelWidth, kernels.kernelHeight],
        current: sameLayer && filter === state.filter,
        title: `filter ${filter} · ${stepText(run, stepInfo.step)}\nweights ${formatNumber(min)} … ${formatNumber(max)}`,
        paint: kernelPainter(data.bitmap, kernels, position),
        open: sameLayer && ctx.layer.filterIndices.includes(filter) ? () => ctx.setState({ filter }) : null,
      };
    });
    this.grid.render(specs);
    this.grid.element.dataset.channels = String(kernels.channels);
    this.markPainted(ctx);
  }
}
