// Display ranges: which real values map to the ends of the colormap.

export const NORMALIZATIONS = {
  map: "per map",
  filter: "per filter, across images",
  layer: "per layer, this step",
  fixed: "fixed, all steps",
};

export const DEFAULT_NORMALIZATION = "map";

function union(ranges) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const [min, max] of ranges) {
    if (Number.isFinite(min)) lo = Math.min(lo, min);
    if (Number.isFinite(max)) hi = Math.max(hi, max);
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

function filterRange(stats, filterPosition) {
  const ranges = [];
  for (let image = 0; image < stats.numImages; image++) ranges.push(stats.mapRange(filterPosition, image));
  return union(ranges);
}

export function layerRange(stats) {
  const ranges = [];
  for (let position = 0; position < stats.numFilters; position++) ranges.push(filterRange(stats, position));
  return union(ranges);
}

/** Range over every map of a layer at every step (the "fixed" normalization). */
export function rangeOverSteps(statsPerStep) {
  return union(statsPerStep.map(layerRange));
}

function centredOnZero([lo, hi]) {
  const extent = Math.max(Math.abs(lo), Math.abs(hi));
  return [-extent, extent];
}

/**
 * Returns (filterPosition, image) -> [lo, hi] for one step's stats.
 * `fixedRange` is required for mode "fixed"; `diverging` centres ranges on zero.
 */
export function rangeResolver(mode, stats, { fixedRange = null, diverging = false } = {}) {
  const memo = new Map();
  const raw = {
    map: (position, image) => stats.mapRange(position, image),
    filter: (position) => filterRange(stats, position),
    layer: () => layerRange(stats),
    fixed: () => fixedRange ?? layerRange(stats),
  }[mode] ?? ((position, image) => stats.mapRange(position, image));
  return (position, image) => {
    const key = mode === "map" ? `${position},${image}` : mode === "filter" ? `${position}` : "";
    if (!memo.has(key)) {
      const range = raw(position, image);
      memo.set(key, diverging ? centredOnZero(range) : range);
    }
    return memo.get(key);
  };
}
