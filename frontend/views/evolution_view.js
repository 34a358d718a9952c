// The chosen filter at every logged step (one /series request for its pixels,
// one for the stats), as a filmstrip; the current step is highlighted and
// shown large, so the step slider / play button animate over training.

import { el, labelled, setOptions } from "../dom.js";
import { TileGrid } from "../tile_grid.js";
import { filterLabel } from "../map_kinds.js";
import { mapTile } from "../map_tiles.js";
import { rangeOverSteps, rangeResolver } from "../normalize.js";
import { ProbePanel } from "./probe_panel.js";
import { latestOnly, markPainted } from "./view_helpers.js";

export class EvolutionView {
  constructor() {
    this.imagesSelect = el("select", { id: "evolution-images-select", "data-testid": "evolution-images-select" });
    this.imagesSelect.addEventListener("change", () => this.ctx?.setState({ evo: this.imagesSelect.value }));
    this.preview = new TileGrid({ testid: "evolution-preview", className: "preview" });
    this.filmstrip = new TileGrid({ testid: "filmstrip", className: "filmstrip" });
    this.probe = new ProbePanel();
    this.element = el("section", { class: "view", "data-testid": "view-evolution" }, [
      el("div", { class: "view-toolbar" }, [labelled("Images", this.imagesSelect)]),
      el("div", { class: "view-with-aside" }, [this.probe.element, this.preview.element]),
      el("h3", { class: "filmstrip-title", text: "Every logged step" }),
      this.filmstrip.element,
    ]);
    this.begin = latestOnly();
  }

  async update(ctx) {
    this.ctx = ctx;
    const isCurrent = this.begin();
    const { run, layer, filterPosition: position, state } = ctx;
    const images = state.evo === "all" ? [...Array(layer.numImages).keys()] : [state.image];
    setOptions(this.imagesSelect, [
      { value: "image", label: `image ${state.image} only` },
      { value: "all", label: "all images" },
    ], state.evo === "all" ? "all" : "image");
    const [pixels, statsSeries, paintProbe] = await Promise.all([
      ctx.store.seriesOf(run.run, layer, position + 1),
      ctx.store.seriesOf(run.run, layer, 0),
      this.probe.load(ctx, { run, image: state.image, images }),
    ]);
    const fixedRange = state.norm === "fixed" ? rangeOverSteps(statsSeries.map(({ value }) => value)) : null;
    const statsByStep = new Map(statsSeries.map(({ stepInfo, value }) => [stepInfo.step, value]));
    const specs = pixels
      .filter(({ stepInfo }) => statsByStep.has(stepInfo.step))
      .map(({ stepInfo, value: strip }) => {
        const stats = statsByStep.get(stepInfo.step);
        const resolve = rangeResolver(state.norm, stats, { fixedRange, diverging: ctx.style.diverging });
        return mapTile(ctx, {
          run, layer, stepInfo, stats, resolve, position, strip, images,
          caption: [`step ${stepInfo.step}`],
          current: stepInfo.step === ctx.stepInfo.step,
        });
      });
    if (!isCurrent()) return;
    this.element.style.setProperty("--span", String(images.length));
    paintProbe();
    const current = specs.find((spec) => spec.current) ?? specs.at(-1);
    const shownImages = images.length > 1 ? ` · images ${images.map((image) => run.probe?.labels?.[image] ? `${image} (${run.probe.labels[image]})` : `${image}`).join(", ")}, left to right` : "";
    this.preview.render(current ? [{ ...current, current: false, caption: [`${filterLabel(layer, layer.filterIndices[position])} · ${current.caption[0]}${shownImages}`] }] : []);
    this.filmstrip.render(specs);
    this.revealCurrentTile();
    markPainted(this.element, ctx.stepInfo, ctx.paintKey);
  }

  /** Scroll the filmstrip box (not the page) so the current step's tile is visible. */
  revealCurrentTile() {
    const strip = this.filmstrip.element;
    const tile = strip.querySelector(".tile.current");
    if (!tile) return;
    const visible = tile.offsetTop >= strip.scrollTop && tile.offsetTop + tile.offsetHeight <= strip.scrollTop + strip.clientHeight;
    if (!visible) strip.scrollTop = tile.offsetTop - (strip.clientHeight - tile.offsetHeight) / 2;
  }
}
