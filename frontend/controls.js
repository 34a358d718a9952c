// The control bar: view tabs, pickers, step slider, play, colour options.
// It only reflects the app's context and reports changes as state patches,
// and shows only the controls that act on the active view (`ctx.controls`,
// from the view's `controlsFor`; see views/view_helpers.js `MAP_CONTROLS`).

import { COLORMAPS } from "./colormaps.js";
import { el, labelled, setOptions } from "./dom.js";
import { NORMALIZATIONS } from "./normalize.js";
import { LEVEL_CHOICES, lutGradient } from "./render_maps.js";
import { VIEW_HELP, VIEWS } from "./state.js";
import { coversImage, kindNote, layerOptionLabel, mapKind } from "./map_kinds.js";
import { stepMeaning, stepText } from "./steps.js";

function select(id) {
  return el("select", { id, "data-testid": id });
}

function button(id, text, label) {
  return el("button", { type: "button", id, "data-testid": id, text, "aria-label": label });
}

/** A field of the bar that a view may leave out: `data-control=<name>`. */
function optional(name, field) {
  field.dataset.control = name;
  return field;
}

export class Controls {
  /** onChange(patch), onStepBy(delta), onStepTo("first"|"last"), onPlay(), onDownload() */
  constructor(handlers) {
    this.handlers = handlers;
    this.viewTabs = Object.entries(VIEWS).map(([view, label]) =>
      el("button", { type: "button", role: "tab", class: "view-tab", "data-view": view, "data-testid": `view-tab-${view}`, text: label, title: VIEW_HELP[view], onclick: () => handlers.onChange({ view }) }),
    );
    this.run = select("run-select");
    this.layer = select("layer-select");
    this.layerShape = el("span", { id: "layer-shape", "data-testid": "layer-shape", class: "hint" });
    this.image = select("image-select");
    this.filter = select("filter-select");
    this.slider = el("input", { type: "range", id: "step-slider", "data-testid": "step-slider", min: 0, max: 0, step: 1, value: 0 });
    this.stepLabel = el("output", { id: "step-label", "data-testid": "step-label", for: "step-slider" });
    this.prev = button("step-prev", "◀", "Previous logged step");
    this.next = button("step-next", "▶", "Next logged step");
    this.play = button("play-button", "Play", "Play over training");
    this.colormap = select("colormap-select");
    this.legend = el("span", { class: "legend", "data-testid": "colormap-legend", "aria-hidden": "true" });
    this.norm = select("norm-select");
    this.levels = select("levels-select");
    this.size = el("input", { type: "range", id: "size-slider", "data-testid": "size-slider", min: 48, max: 320, step: 8 });
    this.overlay = el("input", { type: "checkbox", id: "overlay-toggle", "data-testid": "overlay-toggle" });
    this.overlayField = optional("overlay", el("div", { class: "field" }, [this.overlay, el("label", { for: "overlay-toggle", text: "Over the probe image" })]));
    this.opacity = el("input", { type: "range", id: "opacity-slider", "data-testid": "opacity-slider", min: 0, max: 100, step: 5 });
    this.opacityField = optional("opacity", labelled("Opacity", this.opacity));
    // Shown only where the view lists them (overlay and opacity: `updateOverlay`).
    this.fields = {
      layer: optional("layer", el("div", { class: "field" }, [el("label", { for: "layer-select", text: "Layer" }), this.layer, this.layerShape])),
      image: optional("image", labelled("Probe image", this.image)),
      filter: optional("filter", labelled("Filter", this.filter)),
      colormap: optional("colormap", el("div", { class: "field" }, [el("label", { for: "colormap-select", text: "Colormap" }), this.colormap, this.legend])),
      norm: optional("norm", labelled("Normalize", this.norm)),
      levels: optional("levels", labelled("Contour levels", this.levels)),
    };
    this.download = button("download-button", "Download PNG", "Download the current view as PNG");
    this.bind();
    this.element = this.layout();
  }

  bind() {
    const { onChange, onStepBy, onPlay, onDownload } = this.handlers;
    const onSelect = (control, key, parse = String) => control.addEventListener("change", () => onChange({ [key]: parse(control.value) }));
    onSelect(this.run, "run");
    onSelect(this.layer, "layer");
    onSelect(this.image, "image", Number);
    onSelect(this.filter, "filter", Number);
    onSelect(this.colormap, "cmap");
    onSelect(this.norm, "norm");
    onSelect(this.levels, "levels", Number);
    this.size.addEventListener("input", () => onChange({ size: Number(this.size.value) }));
    this.overlay.addEventListener("change", () => onChange({ overlay: this.overlay.checked ? 1 : 0 }));
    this.opacity.addEventListener("input", () => onChange({ opacity: Number(this.opacity.value) }));
    this.slider.addEventListener("input", () => onChange({ step: this.steps[Number(this.slider.value)]?.step }));
    this.prev.addEventListener("click", () => onStepBy(-1));
    this.next.addEventListener("click", () => onStepBy(1));
    this.play.addEventListener("click", () => onPlay());
    this.download.addEventListener("click", () => onDownload());
  }

  layout() {
    return el("header", { class: "controls", "data-testid": "controls" }, [
      el("nav", { class: "view-tabs", role: "tablist", "aria-label": "View" }, this.viewTabs),
      el("div", { class: "control-row" }, [labelled("Run", this.run), this.fields.layer, this.fields.image, this.fields.filter]),
      el("div", { class: "control-row step-row" }, [
        el("label", { for: "step-slider", text: "Step" }),
        this.prev, this.slider, this.next, this.stepLabel, this.play,
      ]),
      el("div", { class: "control-row" }, [
        this.fields.colormap,
        this.fields.norm,
        this.fields.levels,
        labelled("Tile size", this.size),
        this.overlayField,
        this.opacityField,
        this.download,
      ]),
    ]);
  }

  /** Reflect the app context (see app.js `context()`). */
  update(ctx) {
    const { state, runs, run, layer, steps, stepIndex } = ctx;
    this.steps = steps;
    for (const [name, field] of Object.entries(this.fields)) field.hidden = !ctx.controls.has(name);
    for (const tab of this.viewTabs) {
      const selected = tab.dataset.view === state.view;
      tab.setAttribute("aria-selected", String(selected));
      tab.classList.toggle("selected", selected);
      const offered = { kernels: Boolean(ctx.kernels), attention: Boolean(ctx.attribution) }[tab.dataset.view];
      if (offered !== undefined) {
        tab.hidden = !offered;
        tab.title = offered ? VIEW_HELP[tab.dataset.view] : "";
      }
    }
    this.updateOverlay(ctx);
    setOptions(this.run, runs.map(({ run: name }) => ({ value: name, label: name })), run.run);
    setOptions(this.layer, run.layers.map((candidate) => ({ value: candidate.path, label: layerOptionLabel(candidate) })), layer.path);
    const kind = kindNote(layer);
    const channels = (layer.outputShape ?? []).at(-1);
    const logged = layer.filterIndices.length;
    const partial = Number.isInteger(channels) && channels > logged ? ` · ${logged} of ${channels} filters logged (max_filters=${logged})` : "";
    this.layerShape.textContent = `${layer.class ?? ""} → [${(layer.outputShape ?? []).join(" × ")}]${kind ? ` · ${kind}` : ""}${partial}`;
    this.layerShape.dataset.mapKind = mapKind(layer);
    const labels = run.probe?.labels ?? [];
    setOptions(this.image, [...Array(layer.numImages).keys()].map((image) => ({ value: image, label: labels[image] ? `${image}: ${labels[image]}` : `${image}` })), state.image);
    setOptions(this.filter, layer.filterIndices.map((filter) => ({ value: filter, label: `${filter}` })), state.filter);
    this.slider.max = String(Math.max(0, steps.length - 1));
    this.slider.value = String(stepIndex);
    const shown = stepText(layer, steps[stepIndex]?.step);
    this.slider.setAttribute("aria-valuetext", shown);
    this.stepLabel.textContent = `${shown} (${stepIndex + 1} of ${steps.length})`;
    this.stepLabel.title = `${stepMeaning(layer)} ${steps.length} logged.`;
    this.slider.title = stepMeaning(layer);
    this.prev.disabled = stepIndex <= 0;
    this.next.disabled = stepIndex >= steps.length - 1;
    setOptions(this.colormap, Object.entries(COLORMAPS).map(([value, { label }]) => ({ value, label })), state.cmap);
    this.legend.style.backgroundImage = lutGradient(COLORMAPS[state.cmap].lut);
    setOptions(this.norm, Object.entries(NORMALIZATIONS).map(([value, label]) => ({ value, label })), state.norm);
    setOptions(this.levels, LEVEL_CHOICES.map((levels) => ({ value: levels, label: levels ? `${levels} levels` : "off" })), state.levels);
    this.size.value = String(state.size);
  }

  /** The overlay toggle (views that list it) and the opacity (views that list it, or maps laid over their images). */
  updateOverlay({ state, run, layer, controls }) {
    const mapsView = controls.has("overlay");
    this.overlayField.hidden = !mapsView;
    const possible = Boolean(run.probe) && coversImage(layer);
    this.overlay.disabled = !possible;
    this.overlay.checked = possible && Boolean(state.overlay);
    this.overlayField.title = possible
      ? "Lay each map, upsampled, over its probe image"
      : !run.probe ? "This run logged no probe images" : `${layer.path}'s maps are not 2-D images (${layer.mapKind})`;
    this.opacityField.hidden = !(controls.has("opacity") || (mapsView && this.overlay.checked));
    this.opacity.value = String(state.opacity);
  }

  setPlaying(playing) {
    this.play.textContent = playing ? "Pause" : "Play";
    this.play.setAttribute("aria-pressed", String(playing));
  }
}
