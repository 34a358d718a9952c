// The chosen probe image with its label, shown beside the filters grid.

import { el } from "../dom.js";
import { probeCanvas } from "./view_helpers.js";

export class ProbePanel {
  constructor() {
    this.element = el("aside", { class: "probe-panel", "data-testid": "probe-panel" });
  }

  /** `images`: show these probe images in a row (the filmstrip's left-to-right order) instead of `image`. */
  async load(ctx, { run, image, images = null }) {
    const probe = run.probe;
    const bitmaps = probe ? await ctx.store.probeImages(run.run, probe) : [];
    if (images && images.length > 1) return () => this.paintRow(probe, bitmaps, images);
    return () => {
      const label = probe?.labels?.[image];
      this.element.replaceChildren(
        el("h3", { text: "Probe image" }),
        bitmaps[image]
          ? probeCanvas(bitmaps[image], "probe", "probe-canvas")
          : el("p", { class: "notice", text: "This run logged no probe images." }),
        el("p", { class: "probe-caption", "data-testid": "probe-caption" }, [
          el("span", { class: "caption-key", text: `image: ${image}` }),
          label ? el("span", { class: "caption-label", text: label }) : null,
        ]),
      );
    };
  }

  paintRow(probe, bitmaps, images) {
    this.element.replaceChildren(
      el("h3", { text: `Probe images, left to right (${images.length})` }),
      el("div", { class: "probe-row", "data-testid": "probe-row" }, images.map((image) => {
        const label = probe?.labels?.[image];
        return el("figure", { class: "probe-row-item", "data-image": String(image) }, [
          bitmaps[image] ? probeCanvas(bitmaps[image], "thumb", "probe-thumb") : null,
          el("figcaption", { class: "probe-caption" }, [
            el("span", { class: "caption-key", text: `${image}` }),
            label ? el("span", { class: "caption-label", text: label }) : null,
          ]),
        ]);
      })),
    );
  }
}
