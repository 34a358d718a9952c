// View B: the chosen filter for every probe image (the seed's "image: k" grid),
// in probe order or most excited first, with a "Top images" strip (OpenAI
// Microscope's dataset examples, on the probe set) and the filter's statistics.

import { el, setOptions } from "../dom.js";
import { formatNumber, IMAGE_ORDERS, topImages } from "../insight.js";
import { TileGrid } from "../tile_grid.js";
import { filterLabel } from "../map_kinds.js";
import { imageCaption, mapTile, resolverFor } from "../map_tiles.js";
import { stepText } from "../steps.js";
import { FilterStatsPanel, seriesSummaries } from "./filter_stats_panel.js";
import { markInsight, prefetchLayerSteps, probeCanvas, quickly, toolbar, View, viewNote } from "./view_helpers.js";

const TOP_SHOWN = 8;

export class ImagesView extends View {
  constructor() {
    super("images");
    this.grid = new TileGrid({ testid: "images-grid" });
    this.stats = new FilterStatsPanel();
    this.orderSelect = this.stateSelect("image-order-select", "imgOrder");
    this.topTitle = el("h3", { class: "export-text", "data-testid": "top-images-title" });
    this.top = el("ol", { class: "top-images", "data-testid": "top-images", "aria-label": "Probe images that excite this filter most" });
    this.topNote = viewNote("top-images-note");
    this.layout({
      aside: [this.stats.element],
      parts: [
        el("div", { class: "top-images-panel" }, [this.topTitle, this.top, this.topNote]),
        toolbar(["Order images", this.orderSelect]),
        this.grid.element,
      ],
    });
  }

  prefetch(ctx) {
    prefetchLayerSteps(ctx, [ctx.filterPosition]);
  }

  async update(ctx) {
    const isCurrent = this.beginRender(ctx);
    const { run, layer, stepInfo, filterPosition: position, state } = ctx;
    setOptions(this.orderSelect, Object.entries(IMAGE_ORDERS).map(([value, label]) => ({ value, label })), state.imgOrder);
    // The stats series (charts) is requested after the grid is painted, unless already cached.
    const cachedSeries = ctx.store.peekStatsSeries(run.run, layer, ctx.steps);
    let seriesRequest = cachedSeries ? cachedSeries.then(seriesSummaries, () => null) : null;
    const [{ stats, strips }, bitmaps] = await Promise.all([
      ctx.store.layerStep(run.run, layer, stepInfo, [position]),
      run.probe ? ctx.store.probeImages(run.run, run.probe) : [],
    ]);
    const resolve = await resolverFor(ctx, run, layer, stats);
    const summarySeries = seriesRequest ? await quickly(seriesRequest, undefined) : undefined;
    if (!isCurrent()) return;
    const ranked = topImages(stats, position);
    const rankOf = new Map(ranked.map(({ image }, k) => [image, k + 1]));
    const images = state.imgOrder === "top" ? ranked.map(({ image }) => image) : [...Array(layer.numImages).keys()];
    this.grid.render(
      images.map((image) =>
        mapTile(ctx, {
          run, layer, stepInfo, stats, resolve, position,
          strip: strips.get(position),
          images: [image],
          current: image === state.image,
          caption: imageCaption(run.probe, image, bitmaps[image] ? probeCanvas(bitmaps[image], "thumb", "probe-thumb") : null),
          dataset: { rank: rankOf.get(image), mean: stats.get(position, image, "mean") },
        }),
      ),
    );
    this.grid.element.dataset.order = state.imgOrder;
    this.renderTop(ctx, ranked, bitmaps);
    this.stats.render(ctx, { layer, stepInfo, stats, position });
    this.markPainted(ctx);
    const finish = (series) => {
      if (!isCurrent() || !series) return this.stats.showPending(false);
      this.stats.renderSeries(ctx, { layer, position, summarySeries: series });
      markInsight(this.element, stepInfo, ctx.paintKey);
    };
    if (summarySeries !== undefined) finish(summarySeries);
    else {
      this.stats.showPending(true);
      seriesRequest ??= ctx.store.statsSeriesOf(run.run, layer).then(seriesSummaries, () => null);
      seriesRequest.then(finish);
    }
  }

  renderTop(ctx, ranked, bitmaps) {
    const { run, layer, state, stepInfo } = ctx;
    const labels = run.probe?.labels ?? [];
    const shown = ranked.slice(0, Math.min(TOP_SHOWN, ranked.length));
    this.topTitle.textContent = `Top probe images for ${filterLabel(layer, state.filter)} at ${stepText(layer, stepInfo.step)} (by mean activation)`;
    this.top.replaceChildren(
      ...shown.map(({ image, mean }, k) => {
        const label = labels[image];
        const item = el("li", {}, [
          el("button", {
            type: "button", class: "top-image", "data-testid": "top-image", "data-image": image, "data-rank": k + 1, "data-value": mean,
            "aria-pressed": String(image === state.image),
            "aria-label": `Rank ${k + 1}: image ${image}${label ? `, ${label}` : ""}, mean activation ${formatNumber(mean)}. Show this image.`,
            onclick: () => ctx.setState({ image }),
          }, [
            bitmaps[image] ? probeCanvas(bitmaps[image], "top-thumb", "top-image-canvas") : null,
            el("span", { class: "top-caption" }, [
              el("span", { class: "caption-key", text: `#${k + 1} image: ${image}` }),
              label ? el("span", { class: "caption-label", text: label }) : null,
              el("span", { class: "top-value", "data-testid": "top-image-value", text: `mean ${formatNumber(mean)}` }),
            ]),
          ]),
        ]);
        return item;
      }),
    );
    const n = layer.numImages;
    this.topNote.textContent =
      `Ranked among the ${n} probe images only. A larger probe gives better examples: pass more images, ` +
      `e.g. probe=x_val[:32]` + (n >= 16 ? `, and raise max_images (it caps the probe at 16 by default)` : "") +
      `; the callback's "one log writes …" line states what each log then costs.`;
  }
}
