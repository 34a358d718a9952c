// Per-filter insight from the stats blob (docs/format.md, blob 0 of a layer
// step: float32 [F, N, K]): summaries over the probe images, dead filters,
// rankings, change between two logged steps, top probe images of a filter.

export const RANKINGS = {
  index: "filter index",
  mean: "mean activation",
  sparsity: "sparsity",
  change: "change since previous log",
};

export const IMAGE_ORDERS = {
  index: "probe order",
  top: "most excited first",
};

const summaryCache = new WeakMap(); // LayerStats -> [FilterSummary]

/**
 * One filter at one step, over the probe images:
 * {mean, std (pooled), max, min, sparsity (1 - mean positive fraction),
 *  positiveFraction (max over images), nonfinite (sum), dead}.
 * Dead: positive on no probe image (max over images of positive_fraction == 0).
 */
function summarize(stats, position) {
  const n = stats.numImages;
  let meanSum = 0;
  let secondMoment = 0;
  let max = -Infinity;
  let min = Infinity;
  let positiveSum = 0;
  let positiveMax = 0;
  let nonfinite = 0;
  for (let image = 0; image < n; image++) {
    const mean = stats.get(position, image, "mean");
    const std = stats.get(position, image, "std");
    const positive = stats.get(position, image, "positive_fraction");
    meanSum += mean;
    secondMoment += std * std + mean * mean;
    max = Math.max(max, stats.get(position, image, "max"));
    min = Math.min(min, stats.get(position, image, "min"));
    positiveSum += positive;
    positiveMax = Math.max(positiveMax, positive);
    nonfinite += stats.get(position, image, "nonfinite_count");
  }
  const mean = meanSum / n;
  return {
    mean,
    std: Math.sqrt(Math.max(0, secondMoment / n - mean * mean)),
    max,
    min,
    sparsity: 1 - positiveSum / n,
    positiveFraction: positiveMax,
    nonfinite,
    dead: !(positiveMax > 0),
  };
}

/** Summaries of every filter of one step (memoized per decoded stats). */
export function filterSummaries(stats) {
  let summaries = summaryCache.get(stats);
  if (!summaries) {
    summaries = Array.from({ length: stats.numFilters }, (_, position) => summarize(stats, position));
    summaryCache.set(stats, summaries);
  }
  return summaries;
}

export function deadFraction(stats) {
  const summaries = filterSummaries(stats);
  return summaries.length ? summaries.filter(({ dead }) => dead).length / summaries.length : 0;
}

/**
 * How much each filter moved between two steps: mean absolute difference of
 * the de-quantized maps over every image and pixel. Needs both steps' strips
 * (Map position -> {width, height, q}); returns null if one is missing.
 */
export function changeFromMaps(layer, previous, current) {
  const positions = layer.filterIndices.map((_, position) => position);
  const out = new Float64Array(positions.length);
  for (const position of positions) {
    const a = previous.strips.get(position);
    const b = current.strips.get(position);
    if (!a?.q || !b?.q || a.q.length !== b.q.length) return null; // missing or unreadable
    let total = 0;
    const w = layer.mapWidth;
    for (let image = 0; image < layer.numImages; image++) {
      const [aMin, aMax] = previous.stats.mapRange(position, image);
      const [bMin, bMax] = current.stats.mapRange(position, image);
      const aScale = (aMax - aMin) / 255;
      const bScale = (bMax - bMin) / 255;
      for (let y = 0; y < a.height; y++) {
        const row = y * a.width + image * w;
        for (let x = 0; x < w; x++) {
          total += Math.abs(aMin + a.q[row + x] * aScale - (bMin + b.q[row + x] * bScale));
        }
      }
    }
    out[position] = total / (layer.numImages * a.height * w);
  }
  return out;
}

/** Stand-in until the strips are there: mean over images of |change of the map mean|. */
export function changeFromStats(previousStats, currentStats) {
  const out = new Float64Array(currentStats.numFilters);
  for (let position = 0; position < currentStats.numFilters; position++) {
    let total = 0;
    for (let image = 0; image < currentStats.numImages; image++) {
      total += Math.abs(currentStats.get(position, image, "mean") - previousStats.get(position, image, "mean"));
    }
    out[position] = total / currentStats.numImages;
  }
  return out;
}

/**
 * Filter positions in display order. `values` (one per position) rank
 * descending; ties and missing values fall back to filter index.
 */
export function rankPositions(count, values) {
  const positions = [...Array(count).keys()];
  if (!values) return positions;
  const key = (position) => (Number.isFinite(values[position]) ? values[position] : -Infinity);
  return positions.sort((a, b) => key(b) - key(a) || a - b);
}

/** Images of filter `position` at one step by mean activation, highest first: [{image, mean}]. */
export function topImages(stats, position) {
  return [...Array(stats.numImages).keys()]
    .map((image) => ({ image, mean: stats.get(position, image, "mean"), max: stats.get(position, image, "max") }))
    .sort((a, b) => b.mean - a.mean || a.image - b.image);
}

/** A number as the tab writes it: `digits` significant digits, exponential below 1e-3 and from 1e4. */
export function formatNumber(value, digits = 3) {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return "0";
  return Math.abs(value) >= 1e4 || Math.abs(value) < 1e-3 ? value.toExponential(digits - 1) : String(+value.toPrecision(digits));
}

export function formatPercent(fraction) {
  return Number.isFinite(fraction) ? `${Math.round(fraction * 100)}%` : "–";
}

/** One-line text of a filter summary (tooltips, aria). */
export function summaryText(summary) {
  return [
    `mean ${formatNumber(summary.mean)}`,
    `std ${formatNumber(summary.std)}`,
    `max ${formatNumber(summary.max)}`,
    `sparsity ${formatPercent(summary.sparsity)}`,
    `non-finite ${summary.nonfinite}`,
  ].join(" · ") + (summary.dead ? " · dead" : "");
}
