// All logged filters of one layer for one probe image at one step
// (the seed's "filter: k" grid). Used by the filters view and by compare.

import { TileGrid } from "../tile_grid.js";
import { mapTile, resolverFor } from "../map_tiles.js";

export class LayerFiltersPanel {
  constructor(testid) {
    this.grid = new TileGrid({ testid });
    this.element = this.grid.element;
  }

  /** Fetch and decode; resolves to a function that paints (so callers can swap all panes at once). */
  async load(ctx, { run, layer, stepInfo, image, currentFilter = null }) {
    const positions = layer.filterIndices.map((_, position) => position);
    const { stats, strips } = await ctx.store.layerStep(run.run, layer, stepInfo, positions);
    const resolve = await resolverFor(ctx, run, layer, stats);
    const specs = positions.map((position) =>
      mapTile(ctx, {
        run, layer, stepInfo, stats, resolve, position,
        strip: strips.get(position),
        images: [image],
        caption: [`filter: ${layer.filterIndices[position]}`],
        current: layer.filterIndices[position] === currentFilter,
      }),
    );
    return () => this.grid.render(specs);
  }
}
