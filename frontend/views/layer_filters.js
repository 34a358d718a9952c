// All logged filters of one layer for one probe image at one step
// (the seed's "filter: k" grid). Used by the filters view and by compare.
// Dead filters are marked by `mapTile`; the filters view adds an order
// (rankings) and a sparkline per tile.

import { TileGrid } from "../tile_grid.js";
import { filterLabel } from "../map_kinds.js";
import { mapTile, resolverFor } from "../map_tiles.js";

export class LayerFiltersPanel {
  constructor(testid) {
    this.grid = new TileGrid({ testid });
    this.element = this.grid.element;
  }

  /**
   * Fetch and decode; resolves to a function that paints (so callers can swap all panes at once).
   * order(layerStep) -> filter positions in display order (may be async);
   * sparklineOf(position) -> tile sparkline spec or null, read when painting.
   */
  async load(ctx, { run, layer, stepInfo, image, currentFilter = null, order = null, sparklineOf = null }) {
    const positions = layer.filterIndices.map((_, position) => position);
    const layerStep = await ctx.store.layerStep(run.run, layer, stepInfo, positions);
    const { stats, strips } = layerStep;
    const [resolve, ordered] = await Promise.all([resolverFor(ctx, run, layer, stats), order ? order(layerStep) : positions]);
    const specs = (sparkline) => ordered.map((position) =>
      mapTile(ctx, {
        run, layer, stepInfo, stats, resolve, position,
        strip: strips.get(position),
        images: [image],
        caption: [filterLabel(layer, layer.filterIndices[position])],
        current: layer.filterIndices[position] === currentFilter,
        sparkline: sparkline ? sparkline(position) : null,
      }),
    );
    const paint = (sparkline = sparklineOf) => this.grid.render(specs(sparkline));
    return paint;
  }
}
