// How each map kind (docs/format.md, "Map kinds"; `mapKind` in /runs) is
// labelled and laid out. `maps`, `token_grid` (a transformer's tokens laid out
// as its patch grid, `leadingTokens` of them left out) and
// `volume_max_projection` are H x W images; `sequence` (one row per filter,
// time left to right) and `units` (one "filter" whose map is the row of all
// units) are 1-row heat strips, drawn stretched to a readable height (CSS
// `.tile.strip`).

export const KIND_LABELS = {
  maps: "",
  sequence: "sequence (time →, one row per filter)",
  units: "units (one strip of all units)",
  volume_max_projection: "max over depth",
};

export function mapKind(layer) {
  return layer?.mapKind ?? "maps";
}

/** Whether the maps lie over the probe image as a conv layer's do (the overlay): `maps` and `token_grid`. */
export function coversImage(layer) {
  const kind = mapKind(layer);
  return kind === "maps" || kind === "token_grid";
}

/** "1 leading token", "5 leading tokens" (of a `token_grid` layer; "" for none). */
function leadingText(layer) {
  const leading = layer?.leadingTokens ?? 0;
  return leading > 0 ? `${leading} leading token${leading === 1 ? "" : "s"}` : "";
}

/** "tokens as a 14 × 14 patch grid (1 leading token left out)". */
function tokenGridNote(layer) {
  const leading = leadingText(layer);
  return `tokens as a ${layer.sourceHeight} × ${layer.sourceWidth} patch grid${leading ? ` (${leading} left out)` : ""}`;
}

/** A 1-row heat strip (sequence or units). */
export function isStrip(layer) {
  const kind = mapKind(layer);
  return kind === "sequence" || kind === "units";
}

/** Tile layout: "map", "strip" (sequence) or "wide-strip" (units: one strip per grid row). */
export function tileShape(layer) {
  const kind = mapKind(layer);
  if (kind === "units") return "wide-strip";
  return kind === "sequence" ? "strip" : "map";
}

/** Short note for titles and labels ("" for plain maps). */
export function kindNote(layer) {
  if (mapKind(layer) === "token_grid") return tokenGridNote(layer);
  return KIND_LABELS[mapKind(layer)] ?? mapKind(layer);
}

/** Short kind for option labels ("" for plain maps). */
export function kindShort(layer) {
  return { sequence: "sequence", units: "units", volume_max_projection: "max over depth", token_grid: "token grid" }[mapKind(layer)] ?? "";
}

/** Option label of a layer picker: its path, and its kind unless plain maps. */
export function layerOptionLabel(layer) {
  const kind = kindShort(layer);
  return kind ? `${layer.path} (${kind})` : layer.path;
}

/** Number of units of a `units` layer (its stored strip covers all of them). */
export function unitCount(layer) {
  return layer.sourceWidth ?? layer.mapWidth;
}

/** The caption key of a filter: `filter: k`, or for units `U units`. */
export function filterLabel(layer, filter) {
  return mapKind(layer) === "units" ? `${unitCount(layer)} units` : `filter: ${filter}`;
}

/** Source positions covered by stored column `x` (area averaging by `downsampleFactor`). */
function sourceSpan(layer, x) {
  const factor = layer.downsampleFactor ?? 1;
  if (factor <= 1) return `${x}`;
  const first = x * factor;
  const last = Math.min(layer.sourceWidth ?? Infinity, (x + 1) * factor) - 1;
  return last > first ? `${first}–${last}` : `${first}`;
}

/** Readout prefix of stored pixel (x, y): `x 3, y 4`, `t 3` (sequence), `unit 3` (units), `x 3, y 4 (token 60)` (token grid, not averaged). */
export function positionLabel(layer, x, y) {
  const kind = mapKind(layer);
  if (kind === "sequence") return `t ${sourceSpan(layer, x)}`;
  if (kind === "units") return `unit ${sourceSpan(layer, x)}`;
  if (kind === "token_grid" && (layer.downsampleFactor ?? 1) <= 1) {
    return `x ${x}, y ${y} (token ${(layer.leadingTokens ?? 0) + y * layer.sourceWidth + x})`;
  }
  return `x ${x}, y ${y}`;
}

/** "Stored …" line of the zoom dialog. */
export function geometryText(layer) {
  const averaged = layer.downsampleFactor > 1 ? ` (area-averaged ×${layer.downsampleFactor})` : "";
  const kind = mapKind(layer);
  if (kind === "sequence") return `Sequence: stored ${layer.mapWidth} of ${layer.sourceWidth} time steps${averaged}, one row per filter`;
  if (kind === "units") return `Units: stored ${layer.mapWidth} of ${layer.sourceWidth} units${averaged}, one strip`;
  const base = `Stored ${layer.mapHeight} × ${layer.mapWidth} of ${layer.sourceHeight} × ${layer.sourceWidth}${averaged}`;
  if (kind === "token_grid") {
    const leading = leadingText(layer);
    return `${base}; tokens laid out as the patch grid, row by row${leading ? `, after the ${leading} (left out)` : ""}`;
  }
  return kind === "volume_max_projection" ? `${base}; maximum over the depth axis of the 3-D output` : base;
}
