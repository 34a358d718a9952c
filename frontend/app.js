// Wiring: URL state (state.js) + the catalog (catalog.js: runs, steps, polling)
// -> a context -> the controls and the active view; the status line
// (status.js), playback (playback.js), the zoom and downloads hang off it.
// Follows new steps while training goes on if the user was on the latest one.

import { COLORMAPS } from "./colormaps.js";
import { Catalog } from "./catalog.js";
import { Controls } from "./controls.js";
import { el } from "./dom.js";
import { downloadViewPng, figureOf } from "./download.js";
import { Playback } from "./playback.js";
import { resolveState, UrlState } from "./state.js";
import { EMPTY_LOG_DIR, StatusLine, unreadableText } from "./status.js";
import { stepAtOrBefore, stepIndexAtOrBefore } from "./steps.js";
import { ActivationStore } from "./store.js";
import { TensorBoardBridge } from "./tb_bridge.js";
import { followHostTheme } from "./theme.js";
import { AttentionView } from "./views/attention_view.js";
import { CompareView } from "./views/compare_view.js";
import { EvolutionView } from "./views/evolution_view.js";
import { FiltersView } from "./views/filters_view.js";
import { ImagesView } from "./views/images_view.js";
import { KernelsView } from "./views/kernels_view.js";
import { SummaryPanel } from "./views/summary_panel.js";
import { ZoomDialog } from "./zoom.js";

const PLUGIN_NAME = "activations";

export class App {
  /** `firstRequest`: the /first request index.js started, adopted by the catalog. */
  constructor(body, { firstRequest = null } = {}) {
    this.firstRequest = firstRequest;
    this.store = new ActivationStore();
    this.catalog = new Catalog(this.store);
    this.bridge = new TensorBoardBridge(PLUGIN_NAME);
    this.url = new UrlState(this.bridge);
    this.generation = 0;
    this.lastCtx = null;
    this.views = { filters: new FiltersView(), images: new ImagesView(), evolution: new EvolutionView(), compare: new CompareView(), kernels: new KernelsView(), attention: new AttentionView() };
    this.playback = new Playback({
      current: () => this.lastCtx,
      goTo: (step) => this.setState({ step }),
      onPlaying: (playing) => this.controls.setPlaying(playing),
    });
    this.controls = new Controls({
      onChange: (patch) => this.setState(patch),
      onStepBy: (delta) => this.playback.stepBy(delta),
      onPlay: () => this.playback.toggle(),
      onDownload: () => this.download(),
    });
    this.zoom = new ZoomDialog(() => this.setState({ zoom: "" }));
    this.viewHost = el("main", { class: "view-host", "data-testid": "view-host" }, Object.values(this.views).map((view) => view.element));
    this.summary = new SummaryPanel();
    this.root = el("div", { id: "actviz-app", "data-testid": "actviz-app", class: "app" });
    this.status = new StatusLine(this.root);
    this.root.append(this.controls.element, this.status.row, this.status.empty, this.viewHost, this.summary.element, this.zoom.element);
    body.append(this.root);
    followHostTheme(document.documentElement);
  }

  async start() {
    // Start from the parent's hash (read directly) without waiting for the
    // host's GetURLPluginData answer; reconcile when it comes.
    this.url.load();
    let started = false;
    this.url.reconcile().then((changed) => changed && started && this.refresh());
    try {
      await this.status.whileLoading(() => this.catalog.load(this.firstRequest));
    } catch (error) {
      this.status.showMessage(`Could not load activations: ${error.message}`);
      return;
    } finally {
      this.firstRequest = null;
    }
    started = true;
    await this.refresh();
    this.catalog.watch(this.bridge, () => this.poll());
    this.playback.listenForKeys(document);
  }

  setState(patch) {
    return this.url.update(patch) ? this.refresh() : Promise.resolve();
  }

  async refresh() {
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    const resolved = resolveState(this.url.get(), this.catalog.runs);
    const { unreadable } = this.catalog;
    this.status.showUnreadable(unreadable);
    if (!resolved) return this.showEmpty(unreadable.length ? unreadableText(unreadable, true) : EMPTY_LOG_DIR);
    const { runs, run, layer, compareRun, compareLayer, kernels, attribution, patch } = resolved;
    this.status.setLoading(1);
    let ctx = null;
    try {
      const steps = await this.catalog.stepsOf(run.run, layer.tag);
      if (!current()) return;
      if (steps.length === 0) return this.showEmpty(`No steps logged yet for ${layer.path} in run ${run.run}. Steps appear after the first epoch.`);
      const stepIndex = stepIndexAtOrBefore(steps, this.url.get().step);
      this.url.update({ ...patch, step: steps[stepIndex].step });
      const state = this.url.get();
      const compare = { run: compareRun, layer: compareLayer, stepInfo: null };
      if (state.view === "compare") {
        compare.stepInfo = stepAtOrBefore(await this.catalog.stepsOf(compareRun.run, compareLayer.tag), state.step);
      }
      // Maps over their probe image: the probe's bitmaps, decoded once per run.
      const probeBitmaps = state.overlay && run.probe ? await this.store.probeImages(run.run, run.probe) : null;
      if (!current()) return;
      ctx = this.context({ state, runs, run, layer, steps, stepIndex, compare, kernels, attribution, probeBitmaps });
      this.lastCtx = ctx;
      this.present(ctx);
      const view = this.views[state.view];
      await view.update(ctx);
      if (!current()) return;
      this.status.clearMessage();
      await this.syncZoom(ctx);
      view.prefetch(ctx);
    } catch (error) {
      if (!current()) return;
      this.status.showMessage(`Could not show activations: ${error.message}`);
      if (ctx && ctx.layer.summaryNames?.length) await this.showSummaryInstead(ctx, current);
    } finally {
      this.status.setLoading(-1);
    }
  }

  /** Where a step's pixels cannot be read: its statistics from the event files in place of the view. */
  async showSummaryInstead(ctx, current) {
    try {
      if (await this.summary.show(ctx, current)) this.viewHost.hidden = true;
    } catch {
      // the message above already says what failed
    }
  }

  context({ state, runs, run, layer, steps, stepIndex, compare, kernels, attribution, probeBitmaps }) {
    const colormap = COLORMAPS[state.cmap];
    const style = { lut: colormap.lut, levels: state.levels, diverging: colormap.diverging };
    const overlay = probeBitmaps ? { bitmaps: probeBitmaps, opacity: state.opacity / 100 } : null;
    const paintStyleKey = [state.cmap, state.norm, state.levels, overlay ? state.opacity : "-"].join("/");
    const ctx = {
      state, runs, run, layer, steps, stepIndex, compare, kernels, attribution, overlay, style, paintStyleKey,
      stepInfo: steps[stepIndex],
      filterPosition: layer.filterIndices.indexOf(state.filter),
      paintKey: JSON.stringify([state.view, run.run, layer.path, state.step, state.image, state.filter, state.evo, compare.run.run, compare.layer.path, paintStyleKey, state.rank, state.imgOrder, kernels?.path ?? null, attribution?.method ?? null, state.opacity]),
      store: this.store,
      setState: (patch) => this.setState(patch),
      openZoom: (ref) => this.setState({ zoom: JSON.stringify(ref) }),
      isPlaying: () => this.playback.playing,
    };
    // The controls of the bar that act on the active view.
    ctx.controls = new Set(this.views[state.view].controlsFor(ctx));
    return ctx;
  }

  present(ctx) {
    this.status.hideEmpty();
    this.viewHost.hidden = false;
    this.summary.hide();
    this.controls.element.hidden = false;
    this.controls.update(ctx);
    this.root.style.setProperty("--tile", `${ctx.state.size}px`);
    this.root.dataset.view = ctx.state.view;
    for (const [name, view] of Object.entries(this.views)) view.element.hidden = name !== ctx.state.view;
  }

  async syncZoom(ctx) {
    let ref = null;
    try {
      ref = ctx.state.zoom ? JSON.parse(ctx.state.zoom) : null;
    } catch {
      ref = null;
    }
    if (ref) await this.zoom.show(ctx, ref);
    else this.zoom.close();
  }

  /** Re-read runs and steps; if the user was on the latest step, follow new ones. */
  async poll() {
    const before = this.lastCtx;
    try {
      await this.catalog.reload();
      const state = this.url.get();
      if (before && before.stepIndex === before.steps.length - 1 && state.run === before.run.run && state.layer === before.layer.path) {
        const steps = await this.catalog.stepsOf(before.run.run, before.layer.tag);
        if (steps.length > 0 && this.url.get().step === before.stepInfo.step) this.url.update({ step: steps.at(-1).step });
      }
      await this.refresh();
    } catch (error) {
      this.status.showMessage(`Could not refresh: ${error.message}`);
    }
  }

  download() {
    const ctx = this.lastCtx;
    if (!ctx) return;
    const { name, header } = figureOf(ctx);
    downloadViewPng(this.views[ctx.state.view].element, name, header);
  }

  showEmpty(text) {
    this.status.showEmpty(text);
    this.viewHost.hidden = true;
    this.controls.element.hidden = true;
  }
}

export function startApp(body, options = {}) {
  const app = new App(body, options);
  app.start();
  return app;
}
