// View B: the chosen filter for every probe image (the seed's "image: k" grid).

import { el } from "../dom.js";
import { TileGrid } from "../tile_grid.js";
import { imageCaption, mapTile, resolverFor } from "../map_tiles.js";
import { latestOnly, markPainted, probeCanvas } from "./view_helpers.js";

export class ImagesView {
  constructor() {
    this.grid = new TileGrid({ testid: "images-grid" });
    this.element = el("section", { class: "view", "data-testid": "view-images" }, [this.grid.element]);
    this.begin = latestOnly();
  }

  async update(ctx) {
    const isCurrent = this.begin();
    const { run, layer, stepInfo, filterPosition: position } = ctx;
    const [{ stats, strips }, bitmaps] = await Promise.all([
      ctx.store.layerStep(run.run, layer, stepInfo, [position]),
      run.probe ? ctx.store.probeImages(run.run, run.probe) : [],
    ]);
    const resolve = await resolverFor(ctx, run, layer, stats);
    if (!isCurrent()) return;
    const images = [...Array(layer.numImages).keys()];
    this.grid.render(
      images.map((image) =>
        mapTile(ctx, {
          run, layer, stepInfo, stats, resolve, position,
          strip: strips.get(position),
          images: [image],
          current: image === ctx.state.image,
          caption: imageCaption(run.probe, image, bitmaps[image] ? probeCanvas(bitmaps[image], "thumb", "probe-thumb") : null),
        }),
      ),
    );
    markPainted(this.element, stepInfo, ctx.paintKey);
  }
}
