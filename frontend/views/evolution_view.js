// The chosen filter at every logged step (one /series request for its pixels,
// one for the stats), as a filmstrip; the current step is highlighted and
// shown large, so the step slider / play button animate over training. The
// probe images beside it paint when they come (with it when they are in).

import { el, phrases, setOptions } from "../dom.js";
import { TileGrid } from "../tile_grid.js";
import { filterLabel } from "../map_kinds.js";
import { mapTile } from "../map_tiles.js";
import { rangeOverSteps, rangeResolver } from "../normalize.js";
import { stepText, stepUnit } from "../steps.js";
import { ProbePanel } from "./probe_panel.js";
import { toolbar, View } from "./view_helpers.js";

/** "images 0 (face), 1 (not face), left to right": the probe images of a row of maps. */
function imagesPhrase(run, images) {
  const labelled = images.map((image) => {
    const label = run.probe?.labels?.[image];
    return label ? `${image} (${label}),` : `${image},`;
  });
  return phrases(["images", ...labelled, "left to right"]);
}

export class EvolutionView extends View {
  constructor() {
    super("evolution");
    this.imagesSelect = this.stateSelect("evolution-images-select", "evo");
    this.preview = new TileGrid({ testid: "evolution-preview", className: "preview" });
    this.filmstrip = new TileGrid({ testid: "filmstrip", className: "filmstrip" });
    this.probe = new ProbePanel();
    this.filmstripTitle = el("h3", { class: "filmstrip-title", "data-testid": "filmstrip-title" });
    this.layout({
      parts: [
        toolbar(["Images", this.imagesSelect]),
        el("div", { class: "view-with-aside" }, [this.probe.element, this.preview.element]),
        this.filmstripTitle,
        this.filmstrip.element,
      ],
    });
  }

  async update(ctx) {
    const isCurrent = this.beginRender(ctx);
    const { run, layer, filterPosition: position, state } = ctx;
    const images = state.evo === "all" ? [...Array(layer.numImages).keys()] : [state.image];
    setOptions(this.imagesSelect, [
      { value: "image", label: `image ${state.image} only` },
      { value: "all", label: "all images" },
    ], state.evo === "all" ? "all" : "image");
    // The probe images (two requests on a cold cache) paint when they are in: with the
    // filmstrip if they already are (a settled promise's callback runs before the next
    // task), the filmstrip never waits for them.
    const probeRequest = this.probe.load(ctx, { run, image: state.image, images });
    probeRequest.catch(() => {});
    const [pixels, statsSeries] = await Promise.all([
      ctx.store.seriesOf(run.run, layer, position + 1),
      ctx.store.seriesOf(run.run, layer, 0),
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
          caption: [stepText(layer, stepInfo.step)],
          current: stepInfo.step === ctx.stepInfo.step,
        });
      });
    if (!isCurrent()) return;
    this.element.style.setProperty("--span", String(images.length));
    probeRequest.then((paint) => isCurrent() && paint(), () => {});
    const current = specs.find((spec) => spec.current) ?? specs.at(-1);
    const caption = current && phrases([
      filterLabel(layer, layer.filterIndices[position]),
      stepText(layer, current.dataset.step),
      images.length > 1 ? imagesPhrase(run, images) : null,
    ], { separator: " · " });
    this.preview.render(current ? [{ ...current, current: false, caption: [caption] }] : []);
    this.filmstripTitle.textContent = `Every logged ${stepUnit(layer)}`;
    this.filmstrip.render(specs);
    this.revealCurrentTile();
    this.markPainted(ctx);
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
