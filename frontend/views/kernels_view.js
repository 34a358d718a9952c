// Kernels: the logged convolution weights of one layer at the current step
// (KERNELS tag, docs/format.md): one small RGB or gray patch per filter, each
// scaled to its own range, magnified without smoothing.

import { el, labelled, setOptions } from "../dom.js";
import { formatNumber } from "../insight.js";
import { TileGrid } from "../tile_grid.js";
import { stepAtOrBefore } from "../steps.js";
import { latestOnly, markPainted, notice } from "./view_helpers.js";

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

export class KernelsView {
  constructor() {
    this.layerSelect = el("select", { id: "kernel-layer-select", "data-testid": "kernel-layer-select" });
    this.layerSelect.addEventListener("change", () => this.ctx?.setState({ kernel: this.layerSelect.value }));
    this.title = el("h3", { class: "pane-title export-text", "data-testid": "kernels-title" });
    this.note = el("p", { class: "hint export-text", "data-testid": "kernels-note" });
    this.grid = new TileGrid({ testid: "kernels-grid", className: "kernels-grid" });
    this.element = el("section", { class: "view", "data-testid": "view-kernels" }, [
      el("div", { class: "view-toolbar" }, [labelled("Kernels of", this.layerSelect), this.note]),
      this.title,
      this.grid.element,
    ]);
    this.begin = latestOnly();
  }

  /** Kernel step at or before `stepInfo.step` (the slider follows the activation layer's steps). */
  async kernelStepInfo(ctx, stepInfo) {
    const steps = await ctx.store.stepsOf(ctx.run.run, ctx.kernels.tag);
    return stepAtOrBefore(steps, stepInfo.step);
  }

  prefetch(ctx, stepInfo) {
    if (!ctx.kernels) return;
    this.kernelStepInfo(ctx, stepInfo)
      .then((info) => info && ctx.store.kernelStep(ctx.run.run, ctx.kernels, info))
      .catch(() => {});
  }

  async update(ctx) {
    this.ctx = ctx;
    const isCurrent = this.begin();
    const { run, kernels, state } = ctx;
    setOptions(this.layerSelect, (run.kernels ?? []).map(({ path }) => ({ value: path, label: path })), kernels?.path ?? "");
    this.layerSelect.disabled = (run.kernels ?? []).length < 2;
    if (!kernels) {
      this.grid.render([]);
      this.title.textContent = "";
      this.note.replaceChildren(notice("This run logged no kernels: ActivationLogger(..., kernels=True)."));
      return markPainted(this.element, ctx.stepInfo, ctx.paintKey);
    }
    const stepInfo = await this.kernelStepInfo(ctx, ctx.stepInfo);
    const data = stepInfo ? await ctx.store.kernelStep(run.run, kernels, stepInfo) : null;
    if (!isCurrent()) return;
    const sameLayer = kernels.path === ctx.layer.path;
    const kind = kernels.channels === 3 ? "RGB (3 input channels)" : "gray (mean over input channels)";
    this.note.textContent = `${kernels.kernelHeight} × ${kernels.kernelWidth}, ${kind}; each kernel scaled to its own min … max.`;
    this.title.textContent = `${run.run} · kernels of ${kernels.path} · ${stepInfo ? `step ${stepInfo.step}` : "no kernels logged at or before this step"}`;
    const specs = !data ? [] : kernels.filterIndices.map((filter, position) => {
      const [min, max] = data.ranges.range(position);
      return {
        key: JSON.stringify([run.run, kernels.tag, stepInfo.step, stepInfo.wallTime, filter]),
        caption: [`filter: ${filter}`],
        dataset: { filter, step: stepInfo.step, min, max },
        aspect: [kernels.kernelWidth, kernels.kernelHeight],
        current: sameLayer && filter === state.filter,
        title: `filter ${filter} · step ${stepInfo.step}\nweights ${formatNumber(min)} … ${formatNumber(max)}`,
        paint: kernelPainter(data.bitmap, kernels, position),
        open: sameLayer && ctx.layer.filterIndices.includes(filter) ? () => ctx.setState({ filter }) : null,
      };
    });
    this.grid.render(specs);
    this.grid.element.dataset.channels = String(kernels.channels);
    markPainted(this.element, ctx.stepInfo, ctx.paintKey);
  }
}
