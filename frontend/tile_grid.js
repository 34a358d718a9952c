// A responsive grid of labelled canvases. Tiles are reused between renders,
// so a redraw repaints canvases in place instead of rebuilding the DOM.
//
// A tile spec: {key, caption: [strings|nodes], dataset, aspect: [w, h],
// paint(canvas), current?: bool, open?(fractionX), title?: tooltip text,
// note?: text added to the tile's accessible name (e.g. "dead"),
// sparkline?: {key, paint(canvas)} drawn in a small canvas under the caption,
// badge?: {text, title, kind?: "nonfinite" (default) | "broken"} a warning badge in the
// tile's top-right corner (NaN/Inf in the map; a strip that cannot be read),
// shape?: "map" (default) | "strip" (1-row heat strip, stretched to a readable
// height) | "wide-strip" (a strip that spans the grid's whole row)}.

import { el } from "./dom.js";

export class TileGrid {
  constructor({ testid, className = "" }) {
    this.element = el("div", { class: `tile-grid ${className}`, "data-testid": testid, role: "list" });
    this.specs = [];
  }

  render(specs) {
    this.specs = specs;
    const tiles = [...this.element.children];
    while (tiles.length > specs.length) tiles.pop().remove();
    specs.forEach((spec, index) => {
      const tile = tiles[index] ?? this.element.appendChild(this.createTile(index));
      this.updateTile(tile, spec);
    });
  }

  createTile(index) {
    const canvas = el("canvas", { class: "map", "data-testid": "tile-canvas" });
    const caption = el("figcaption");
    const tile = el("figure", { class: "tile", "data-testid": "tile", role: "listitem", tabindex: 0 }, [canvas, caption]);
    const open = (fraction) => this.specs[index]?.open?.(fraction);
    tile.addEventListener("click", (event) => {
      const box = canvas.getBoundingClientRect();
      open(box.width > 0 ? (event.clientX - box.left) / box.width : 0);
    });
    tile.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        open(0);
      }
    });
    return tile;
  }

  updateSparkline(tile, sparkline) {
    let canvas = tile.querySelector("canvas.sparkline");
    if (!sparkline) {
      canvas?.remove();
      return;
    }
    if (!canvas) canvas = tile.appendChild(document.createElement("canvas"));
    canvas.className = "sparkline";
    canvas.dataset.testid = "tile-sparkline";
    canvas.setAttribute("aria-hidden", "true");
    if (canvas.dataset.paintedKey !== sparkline.key) {
      sparkline.paint(canvas);
      canvas.dataset.paintedKey = sparkline.key;
    }
  }

  updateBadge(tile, badge) {
    let element = tile.querySelector(":scope > .tile-badge");
    if (!badge) {
      element?.remove();
      return;
    }
    if (!element) {
      element = document.createElement("span");
      element.setAttribute("aria-hidden", "true"); // the tile's accessible name says it
      tile.appendChild(element);
    }
    const kind = badge.kind ?? "nonfinite";
    element.className = `tile-badge ${kind}-badge`;
    element.dataset.testid = `${kind}-badge`;
    element.textContent = badge.text;
    element.title = badge.title ?? "";
  }

  updateTile(tile, spec) {
    const [canvas, caption] = tile.children;
    for (const key of tile.specDataKeys ?? []) delete tile.dataset[key];
    tile.specDataKeys = Object.keys(spec.dataset ?? {});
    Object.assign(tile.dataset, spec.dataset ?? {});
    tile.classList.toggle("current", Boolean(spec.current));
    tile.toggleAttribute("aria-current", Boolean(spec.current));
    caption.replaceChildren(...spec.caption);
    tile.setAttribute("aria-label", spec.note ? `${caption.textContent}, ${spec.note}` : caption.textContent);
    if (spec.title) tile.title = spec.title;
    else tile.removeAttribute("title");
    this.updateSparkline(tile, spec.sparkline);
    this.updateBadge(tile, spec.badge);
    const shape = spec.shape ?? "map";
    tile.classList.toggle("strip", shape !== "map");
    tile.classList.toggle("wide", shape === "wide-strip");
    const [width, height] = spec.aspect;
    // Strips get their height from CSS (`.tile.strip canvas.map`), maps keep their aspect.
    canvas.style.aspectRatio = shape === "map" ? `${width} / ${Math.max(height, width / 8)}` : "auto";
    if (canvas.dataset.paintedKey !== spec.key) {
      spec.paint(canvas);
      canvas.dataset.paintedKey = spec.key;
    }
  }
}
