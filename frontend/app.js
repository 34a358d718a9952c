// Wiring: URL state + catalog (runs, steps) -> context -> controls and the
// active view. Polls for new steps and follows the latest one if the user was on it.

import { fetchRuns } from "./api.js";
import { COLORMAPS, DEFAULT_COLORMAP } from "./colormaps.js";
import { Controls } from "./controls.js";
import { el } from "./dom.js";
import { downloadViewPng } from "./download.js";
import { NORMALIZATIONS } from "./normalize.js";
import { DEFAULT_STATE, UrlState, VIEWS } from "./state.js";
import { methodLabel } from "./attention.js";
import { coversImage, stepText } from "./map_kinds.js";
import { stepAtOrBefore, stepIndexAtOrBefore } from "./steps.js";
import { ActivationStore } from "./store.js";
import { DATA_RELOADED, TensorBoardBridge } from "./tb_bridge.js";
import { followHostTheme } from "./theme.js";
import { CompareView } from "./views/compare_view.js";
import { EvolutionView } from "./views/evolution_view.js";
import { FiltersView } from "./views/filters_view.js";
import { ImagesView } from "./views/images_view.js";
import { KernelsView } from "./views/kernels_view.js";
import { AttentionView } from "./views/attention_view.js";
import { SummaryPanel } from "./views/summary_panel.js";
import { IMAGE_ORDERS, RANKINGS } from "./insight.js";
import { ZoomDialog } from "./zoom.js";

const PLUGIN_NAME = "activations";
const POLL_MS = 20000;
const PLAY_INTERVAL_MS = 350;
const LOADING_DELAY_MS = 120;
const EMPTY_LOG_DIR = "No activations in this log dir: add ActivationLogger to model.fit, then reload.";

const clamp = (value, lo, hi) => Math.min(hi, Math.max(lo, value));
const UNREADABLE_LISTED = 3;

/** What to tell about tags that cannot be read; `nothingElse`: no readable layer in the log dir. */
function unreadableText(unreadable, nothingElse) {
  const newer = unreadable.filter(({ newerVersion }) => newerVersion !== null && newerVersion !== undefined);
  const count = (n) => `${n} tag${n === 1 ? "" : "s"}`;
  const upgrade = newer.length
    ? `${count(newer.length)} written by a newer tb_actviz (format version ${Math.max(...newer.map(({ newerVersion }) => newerVersion))}): upgrade tb_actviz (pip install --upgrade tb_actviz) and reload to see ${newer.length === 1 ? "it" : "them"}.`
    : "";
  const damaged = unreadable.filter((entry) => !newer.includes(entry));
  const listed = damaged.slice(0, UNREADABLE_LISTED).map(({ run, tag, reason }) => `${run} · ${tag}: ${reason}`);
  const more = damaged.length > UNREADABLE_LISTED ? ` (and ${damaged.length - UNREADABLE_LISTED} more)` : "";
  const broken = damaged.length ? `${count(damaged.length)} with damaged metadata: ${listed.join("; ")}${more}.` : "";
  const lead = nothingElse ? "No activations this tb_actviz can read in this log dir:" : "Not shown:";
  return [lead, upgrade, broken].filter(Boolean).join(" ");
}
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function defaultCompareLayer(compareRun, mainRun, mainLayer) {
  if (compareRun !== mainRun) {
    const same = compareRun.layers.find(({ path }) => path === mainLayer.path);
    if (same) return same;
  }
  const others = compareRun.layers.filter(({ path }) => path !== mainLayer.path);
  return others.filter(coversImage).at(-1) ?? others.at(-1) ?? compareRun.layers.at(-1);
}

class App {
  constructor(body, { runsRequest = null } = {}) {
    this.runsRequest = runsRequest;
    this.store = new ActivationStore();
    this.bridge = new TensorBoardBridge(PLUGIN_NAME);
    this.url = new UrlState(this.bridge);
    this.runs = [];
    this.unreadable = [];
    this.generation = 0;
    this.pendingLoads = 0;
    this.playing = false;
    this.lastCtx = null;
    this.views = { filters: new FiltersView(), images: new ImagesView(), evolution: new EvolutionView(), compare: new CompareView(), kernels: new KernelsView(), attention: new AttentionView() };
    this.controls = new Controls({
      onChange: (patch) => this.setState(patch),
      onStepBy: (delta) => this.stepBy(delta),
      onPlay: () => this.togglePlay(),
      onDownload: () => this.download(),
    });
    this.zoom = new ZoomDialog(() => this.setState({ zoom: "" }));
    this.loading = el("span", { class: "loading", "data-testid": "loading", role: "status", "aria-live": "polite", hidden: true }, [el("span", { class: "spinner" }), "Loading…"]);
    this.message = el("div", { class: "message", "data-testid": "message", role: "alert", hidden: true });
    this.notice = el("div", { class: "hint notice", "data-testid": "unreadable-notice", role: "status", hidden: true });
    this.empty = el("div", { class: "empty-state", "data-testid": "empty-state", hidden: true });
    this.viewHost = el("main", { class: "view-host", "data-testid": "view-host" }, Object.values(this.views).map((view) => view.element));
    this.summary = new SummaryPanel();
    this.root = el("div", { id: "actviz-app", "data-testid": "actviz-app", class: "app" }, [
      this.controls.element, el("div", { class: "status-row" }, [this.loading, this.message, this.notice]), this.empty, this.viewHost, this.summary.element, this.zoom.element,
    ]);
    body.append(this.root);
    followHostTheme(document.documentElement);
  }

  async start() {
    this.setLoading(1);
    // Start from the parent's hash (read directly) without waiting for the
    // host's GetURLPluginData answer; reconcile when it comes.
    this.url.load();
    let started = false;
    this.url.reconcile().then((changed) => changed && started && this.refresh());
    try {
      ({ runs: this.runs, unreadable: this.unreadable } = await fetchRuns(this.runsRequest));
    } catch (error) {
      this.showMessage(`Could not load activations: ${error.message}`);
      return;
    } finally {
      this.runsRequest = null;
      this.setLoading(-1);
    }
    started = true;
    await this.refresh();
    this.listenForUpdates();
    this.listenForKeys();
  }

  setState(patch) {
    return this.url.update(patch) ? this.refresh() : Promise.resolve();
  }

  /** Choices resolved against the catalog: invalid or missing ones fall back to defaults. */
  resolve(state) {
    const runs = this.runs.filter(({ layers }) => layers.length > 0);
    if (runs.length === 0) return null;
    const run = runs.find(({ run: name }) => name === state.run) ?? runs[0];
    const layer = run.layers.find(({ path }) => path === state.layer) ?? run.layers[0];
    const compareRun = runs.find(({ run: name }) => name === state.cmpRun) ?? run;
    const compareLayer = compareRun.layers.find(({ path }) => path === state.cmpLayer) ?? defaultCompareLayer(compareRun, run, layer);
    const kernelLayers = run.kernels ?? [];
    const kernels = kernelLayers.find(({ path }) => path === state.kernel) ?? kernelLayers.find(({ path }) => path === layer.path) ?? kernelLayers[0] ?? null;
    const attributions = run.attributions ?? [];
    const attribution = attributions.find(({ method }) => method === state.attr) ?? attributions[0] ?? null;
    const offered = { kernels: Boolean(kernels), attention: Boolean(attribution) };
    const view = Object.hasOwn(VIEWS, state.view) && offered[state.view] !== false ? state.view : DEFAULT_STATE.view;
    const patch = {
      run: run.run,
      layer: layer.path,
      image: clamp(Math.trunc(state.image), 0, layer.numImages - 1),
      filter: layer.filterIndices.includes(state.filter) ? state.filter : layer.filterIndices[0],
      view,
      cmap: Object.hasOwn(COLORMAPS, state.cmap) ? state.cmap : DEFAULT_COLORMAP,
      norm: Object.hasOwn(NORMALIZATIONS, state.norm) ? state.norm : DEFAULT_STATE.norm,
      levels: clamp(Math.trunc(state.levels), 0, 32),
      size: clamp(state.size, 48, 320),
      evo: state.evo === "all" ? "all" : "image",
      rank: Object.hasOwn(RANKINGS, state.rank) ? state.rank : DEFAULT_STATE.rank,
      imgOrder: Object.hasOwn(IMAGE_ORDERS, state.imgOrder) ? state.imgOrder : DEFAULT_STATE.imgOrder,
      kernel: kernels && kernels.path === state.kernel ? state.kernel : DEFAULT_STATE.kernel,
      attr: attribution ? attribution.method : DEFAULT_STATE.attr,
      opacity: Number.isFinite(state.opacity) ? clamp(Math.round(state.opacity), 0, 100) : DEFAULT_STATE.opacity,
      overlay: state.overlay ? 1 : 0,
    };
    return { runs, run, layer, compareRun, compareLayer, kernels, attribution, patch };
  }

  async refresh() {
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    const resolved = this.resolve(this.url.get());
    this.showUnreadable();
    if (!resolved) return this.showEmpty(this.unreadable.length ? unreadableText(this.unreadable, true) : EMPTY_LOG_DIR);
    const { runs, run, layer, compareRun, compareLayer, kernels, attribution, patch } = resolved;
    this.setLoading(1);
    let ctx = null;
    try {
      const steps = await this.store.stepsOf(run.run, layer.tag);
      if (!current()) return;
      if (steps.length === 0) return this.showEmpty(`No steps logged yet for ${layer.path} in run ${run.run}. Steps appear after the first epoch.`);
      const stepIndex = stepIndexAtOrBefore(steps, this.url.get().step);
      this.url.update({ ...patch, step: steps[stepIndex].step });
      const state = this.url.get();
      const compare = { run: compareRun, layer: compareLayer, stepInfo: null };
      if (state.view === "compare") {
        const compareSteps = await this.store.stepsOf(compareRun.run, compareLayer.tag);
        compare.stepInfo = stepAtOrBefore(compareSteps, state.step);
      }
      // Maps over their probe image: the probe's bitmaps, decoded once per run.
      const probeBitmaps = state.overlay && run.probe ? await this.store.probeImages(run.run, run.probe) : null;
      if (!current()) return;
      ctx = this.context({ state, runs, run, layer, steps, stepIndex, compare, kernels, attribution, probeBitmaps });
      this.lastCtx = ctx;
      this.present(ctx);
      await this.views[state.view].update(ctx);
      if (!current()) return;
      this.message.hidden = true;
      await this.syncZoom(ctx);
      this.prefetchAround(ctx);
    } catch (error) {
      if (!current()) return;
      this.showMessage(`Could not show activations: ${error.message}`);
      if (ctx && ctx.layer.summaryNames?.length) await this.showSummaryInstead(ctx, current);
    } finally {
      this.setLoading(-1);
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
    return {
      state, runs, run, layer, steps, stepIndex, compare, kernels, attribution, overlay, style, paintStyleKey,
      stepInfo: steps[stepIndex],
      filterPosition: layer.filterIndices.indexOf(state.filter),
      paintKey: JSON.stringify([state.view, run.run, layer.path, state.step, state.image, state.filter, state.evo, compare.run.run, compare.layer.path, paintStyleKey, state.rank, state.imgOrder, kernels?.path ?? null, attribution?.method ?? null, state.opacity]),
      store: this.store,
      setState: (patch) => this.setState(patch),
      openZoom: (ref) => this.setState({ zoom: JSON.stringify(ref) }),
    };
  }

  present(ctx) {
    this.empty.hidden = true;
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

  /** Decode the neighbouring steps of what is shown, so stepping is instant. */
  prefetchAround(ctx) {
    const { view } = ctx.state;
    if (view === "evolution" || view === "attention") return;
    if (view === "kernels") {
      for (const offset of [1, -1]) {
        const stepInfo = ctx.steps[ctx.stepIndex + offset];
        if (stepInfo) this.views.kernels.prefetch(ctx, stepInfo);
      }
      return;
    }
    const positions = view === "images" ? [ctx.filterPosition] : ctx.layer.filterIndices.map((_, position) => position);
    const offsets = this.playing ? [1, 2] : [1, -1];
    for (const offset of offsets) {
      const stepInfo = ctx.steps[ctx.stepIndex + offset];
      if (stepInfo) this.store.layerStep(ctx.run.run, ctx.layer, stepInfo, positions).catch(() => {});
    }
  }

  stepBy(delta) {
    const ctx = this.lastCtx;
    if (!ctx) return Promise.resolve();
    const stepInfo = ctx.steps[clamp(ctx.stepIndex + delta, 0, ctx.steps.length - 1)];
    return this.setState({ step: stepInfo.step });
  }

  stepTo(which) {
    const ctx = this.lastCtx;
    if (!ctx) return;
    this.setState({ step: (which === "first" ? ctx.steps[0] : ctx.steps.at(-1)).step });
  }

  togglePlay() {
    this.playing = !this.playing;
    this.controls.setPlaying(this.playing);
    if (this.playing) this.playLoop();
  }

  async playLoop() {
    const ctx = this.lastCtx;
    if (ctx && ctx.stepIndex >= ctx.steps.length - 1) await this.setState({ step: ctx.steps[0].step });
    while (this.playing) {
      await delay(PLAY_INTERVAL_MS);
      const { stepIndex, steps } = this.lastCtx ?? {};
      if (!this.playing) break;
      if (steps === undefined || stepIndex >= steps.length - 1) {
        this.togglePlay();
        break;
      }
      await this.stepBy(1);
    }
  }

  listenForKeys() {
    const actions = { ArrowLeft: () => this.stepBy(-1), ArrowRight: () => this.stepBy(1), Home: () => this.stepTo("first"), End: () => this.stepTo("last") };
    document.addEventListener("keydown", (event) => {
      if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
      if (event.target.closest?.("input, select, textarea, dialog")) return;
      const action = actions[event.key];
      if (!action) return;
      event.preventDefault();
      action();
    });
  }

  listenForUpdates() {
    setInterval(() => document.visibilityState === "visible" && this.poll(), POLL_MS);
    document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && this.poll());
    this.bridge.on(DATA_RELOADED, () => this.poll());
  }

  /** Re-read runs and steps; if the user was on the latest step, follow new ones. */
  async poll() {
    if (this.polling) return;
    this.polling = true;
    const before = this.lastCtx;
    try {
      this.store.forgetSteps();
      ({ runs: this.runs, unreadable: this.unreadable } = await fetchRuns());
      if (before && before.stepIndex === before.steps.length - 1 && this.url.get().run === before.run.run && this.url.get().layer === before.layer.path) {
        const steps = await this.store.stepsOf(before.run.run, before.layer.tag);
        if (steps.length > 0 && this.url.get().step === before.stepInfo.step) this.url.update({ step: steps.at(-1).step });
      }
      await this.refresh();
    } catch (error) {
      this.showMessage(`Could not refresh: ${error.message}`);
    } finally {
      this.polling = false;
    }
  }

  download() {
    const ctx = this.lastCtx;
    if (!ctx) return;
    const attention = ctx.state.view === "attention" && ctx.attribution;
    const subject = attention ? ctx.attribution.method : ctx.layer.path;
    const name = `actviz_${ctx.run.run}_${subject}_${ctx.state.view}_step${ctx.state.step}.png`.replace(/[^\w.-]+/g, "_");
    const colormap = COLORMAPS[ctx.state.cmap];
    const title = attention
      ? `${ctx.run.run} · ${methodLabel(ctx.attribution)} · ${stepText(ctx.layer, ctx.state.step)}`
      : `${ctx.run.run} · ${ctx.layer.path} · ${VIEWS[ctx.state.view]} · ${stepText(ctx.layer, ctx.state.step)}`;
    const legend = { lut: colormap.lut, label: `${colormap.label}: low → high, ${NORMALIZATIONS[ctx.state.norm]}` };
    downloadViewPng(this.views[ctx.state.view].element, name, { title, legend });
  }

  showEmpty(text) {
    this.empty.textContent = text;
    this.empty.hidden = false;
    this.viewHost.hidden = true;
    this.controls.element.hidden = true;
  }

  /** Says which tags are not shown because their metadata cannot be read (a newer tb_actviz, damage). */
  showUnreadable() {
    this.notice.hidden = this.unreadable.length === 0;
    this.notice.textContent = this.unreadable.length ? unreadableText(this.unreadable, false) : "";
  }

  showMessage(text) {
    this.message.textContent = text;
    this.message.hidden = false;
  }

  setLoading(delta) {
    this.pendingLoads += delta;
    clearTimeout(this.loadingTimer);
    if (this.pendingLoads <= 0) {
      this.loading.hidden = true;
      this.root.dataset.busy = "false";
    } else {
      this.root.dataset.busy = "true";
      this.loadingTimer = setTimeout(() => { this.loading.hidden = this.pendingLoads <= 0; }, LOADING_DELAY_MS);
    }
  }
}

export function startApp(body, options = {}) {
  const app = new App(body, options);
  app.start();
  return app;
}
