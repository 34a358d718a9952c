// View A: every logged filter of the chosen layer for the chosen probe image,
// ordered by a ranking, each with a sparkline of its mean over training; the
// aside holds the probe image and the chosen filter's statistics.

import { el, setOptions } from "../dom.js";
import { changeFromMaps, changeFromStats, filterSummaries, RANKINGS, rankPositions } from "../insight.js";
import { stepSentence, stepText } from "../steps.js";
import { FilterStatsPanel, seriesSummaries, tileSparkline } from "./filter_stats_panel.js";
import { LayerFiltersPanel } from "./layer_filters.js";
import { ProbePanel } from "./probe_panel.js";
import { allPositions, markInsight, prefetchLayerSteps, quickly, toolbar, View } from "./view_helpers.js";

export class FiltersView extends View {
  constructor() {
    super("filters");
    this.filters = new LayerFiltersPanel("filters-grid");
    this.probe = new ProbePanel();
    this.stats = new FilterStatsPanel();
    this.rankSelect = this.stateSelect("rank-select", "rank");
    this.rankNote = el("span", { class: "hint export-text", id: "rank-note", "data-testid": "rank-note", role: "status" });
    this.layout({
      aside: [this.probe.element, this.stats.element],
      parts: [toolbar(["Order by", this.rankSelect], this.rankNote), this.filters.element],
    });
  }

  prefetch(ctx) {
    prefetchLayerSteps(ctx, allPositions(ctx.layer));
  }

  /**
   * The grid paints as soon as its strips are decoded. The probe image and the
   * stats series (sparklines, stats charts) fill in when ready: the probe is
   * requested once the grid's blobs are in, the series after the grid is
   * painted (each painted with the grid when already cached).
   */
  async update(ctx) {
    const isCurrent = this.beginRender(ctx);
    const { run, layer, stepInfo, state } = ctx;
    setOptions(this.rankSelect, Object.entries(RANKINGS).map(([value, label]) => ({ value, label })), state.rank);
    const cachedSeries = ctx.store.peekStatsSeries(run.run, layer, ctx.steps);
    let seriesRequest = cachedSeries ? cachedSeries.then(seriesSummaries, () => null) : null;
    let rankInfo = { source: "index", text: "" };
    let refineChange = null;
    const order = async (current) => {
      const ranked = await this.rank(ctx, current);
      rankInfo = ranked;
      refineChange = ranked.refine ?? null;
      return ranked.order;
    };
    const source = { run, layer, stepInfo, image: state.image, currentFilter: state.filter, order };
    const paintGrid = await this.filters.load(ctx, source);
    // Neither the series nor the probe images asked for yet (the tab's first paint): nothing
    // to wait a task for, the grid paints now.
    const nothingCached = !seriesRequest && run.probe && !ctx.store.hasSteps(run.run, run.probe.tag);
    // Requested once the grid's blobs are in, so it does not compete with them (cached after the first time).
    const probeRequest = this.probe.load(ctx, source);
    probeRequest.catch(() => {});
    // Same task if already settled (cached): paint everything at once.
    const [summarySeries, paintProbe] = nothingCached ? [undefined, undefined] : await Promise.all([
      seriesRequest ? quickly(seriesRequest, undefined) : undefined,
      quickly(probeRequest.catch(() => null), undefined),
    ]);
    if (!isCurrent()) return;
    const { stats } = await ctx.store.layerStep(run.run, layer, stepInfo, []);
    const sparklineOf = (series) => (series ? (position) => tileSparkline(series, position, stepInfo.step) : null);
    paintGrid(sparklineOf(summarySeries));
    if (paintProbe) paintProbe();
    this.showRank(rankInfo, state.rank);
    const position = Math.max(0, ctx.filterPosition);
    this.stats.render(ctx, { layer, stepInfo, stats, position });
    this.markPainted(ctx);
    if (paintProbe === undefined) {
      probeRequest.then((paint) => isCurrent() && paint(), () => {});
    }
    const finishSeries = (series) => {
      if (!isCurrent()) return;
      if (!series) {
        this.stats.showPending(false);
        return;
      }
      this.stats.renderSeries(ctx, { layer, position, summarySeries: series });
      markInsight(this.element, stepInfo, ctx.paintKey);
    };
    if (summarySeries !== undefined) finishSeries(summarySeries);
    else {
      this.stats.showPending(true);
      seriesRequest ??= ctx.store.statsSeriesOf(run.run, layer).then(seriesSummaries, () => null);
      seriesRequest.then((series) => {
        if (!isCurrent()) return;
        paintGrid(sparklineOf(series));
        finishSeries(series);
      });
    }
    // "change" from stats until the previous step's maps are decoded, then exact.
    if (refineChange) {
      refineChange.then((refined) => {
        if (!refined || !isCurrent()) return;
        this.update(ctx);
      });
    }
  }

  /** {order, source: index|stats|maps, text, refine?: Promise} for the current ranking. */
  async rank(ctx, current) {
    const { layer, state, steps, stepIndex, run } = ctx;
    const count = layer.filterIndices.length;
    const summaries = filterSummaries(current.stats);
    if (state.rank === "mean") {
      return { order: rankPositions(count, summaries.map(({ mean }) => mean)), source: "stats", text: "Mean over the probe images at this step, highest first." };
    }
    if (state.rank === "sparsity") {
      return { order: rankPositions(count, summaries.map(({ sparsity }) => sparsity)), source: "stats", text: "Share of values ≤ 0 over the probe images at this step, sparsest first." };
    }
    if (state.rank !== "change") return { order: rankPositions(count, null), source: "index", text: "" };
    const previousInfo = steps[stepIndex - 1];
    if (!previousInfo) return { order: rankPositions(count, null), source: "index", text: `${stepSentence(layer, ctx.stepInfo.step)} is the first log: nothing to compare with, so by filter index.` };
    const previousText = stepText(layer, previousInfo.step);
    const positions = allPositions(layer);
    const previous = ctx.store.peekLayerStep(run.run, layer, previousInfo, positions);
    if (previous) {
      const change = changeFromMaps(layer, previous, current);
      if (change) {
        return {
          order: rankPositions(count, change), source: "maps", values: change,
          text: `Mean |difference| of the de-quantized maps since ${previousText} (from the maps), most first.`,
        };
      }
    }
    const previousStats = (await ctx.store.layerStep(run.run, layer, previousInfo, [])).stats;
    const refine = ctx.store.layerStep(run.run, layer, previousInfo, positions).then(() => true, () => false);
    return {
      order: rankPositions(count, changeFromStats(previousStats, current.stats)), source: "stats", refine,
      text: `Mean |change of map means| since ${previousText} (from statistics, maps of ${previousText} still loading), most first.`,
    };
  }

  showRank({ source, text }, rank) {
    this.rankNote.textContent = text;
    this.rankNote.hidden = !text;
    this.filters.element.dataset.rank = rank;
    this.filters.element.dataset.rankSource = source;
  }
}
