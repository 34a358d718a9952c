// The chosen probe image with its label, shown beside the filters grid.

import { el } from "../dom.js";
import { probeCanvas } from "./view_helpers.js";

export class ProbePanel {
  constructor() {
    this.element = el("aside", { class: "probe-panel", "data-testid": "probe-panel" });
  }

  async load(ctx, { run, image }) {
    const probe = run.probe;
    const bitmaps = probe ? await ctx.store.probeImages(run.run, probe) : [];
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
}
