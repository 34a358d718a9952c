// Tile specs shared by the views: one map (or a row of maps) of a layer,
// coloured with the current colormap / normalization / posterization.

import { BrokenBlob } from "./decode.js";
import { el } from "./dom.js";
import { filterSummaries, summaryText } from "./insight.js";
import { coversImage, kindNote, tileShape } from "./map_kinds.js";
import { rangeOverSteps, rangeResolver } from "./normalize.js";
import { mapCoverage, paintMaps, paintMapsOver } from "./render_maps.js";
import { stepText } from "./steps.js";

/** (filterPosition, image) -> display range, for one step's stats. */
export async function resolverFor(ctx, run, layer, stats) {
  const { norm } = ctx.state;
  let fixedRange = null;
  if (norm === "fixed") {
    const series = await ctx.store.seriesOf(run.run, layer, 0);
    fixedRange = rangeOverSteps(series.map(({ value }) => value));
  }
  return rangeResolver(norm, stats, { fixedRange, diverging: ctx.style.diverging });
}

/** Whether a layer's maps can be laid over the probe images: 2-D maps (or a token grid) of the main run's probe. */
export function overlaid(ctx, run, layer) {
  return Boolean(ctx.overlay) && run.run === ctx.run.run && coversImage(layer);
}

/** Paint images `images` of filter `position` from `strip` side by side (over their probe images with the overlay on). */
function painter(ctx, run, layer, strip, stats, resolve, position, images) {
  const segments = images.map((image) => ({
    image,
    mapRange: stats.mapRange(position, image),
    displayRange: resolve(position, image),
  }));
  if (overlaid(ctx, run, layer)) {
    const options = { ...ctx.overlay, coverage: mapCoverage(layer) };
    return (canvas) => paintMapsOver(canvas, strip, layer.mapWidth, segments, ctx.style, options);
  }
  return (canvas) => paintMaps(canvas, strip, layer.mapWidth, segments, ctx.style);
}

export function imageCaption(probe, image, thumbnail = null) {
  const label = probe?.labels?.[image];
  return [
    thumbnail,
    el("span", { class: "caption-key", text: `image: ${image}` }),
    label ? el("span", { class: "caption-label", text: label }) : null,
  ].filter(Boolean);
}

/** Non-finite (NaN, ±Inf) values of filter `position` summed over `images`, at one step. */
export function nonfiniteOf(stats, position, images) {
  let count = 0;
  for (const image of images) {
    const value = stats.get(position, image, "nonfinite_count");
    if (Number.isFinite(value)) count += value;
  }
  return count;
}

export function nonfiniteText(count) {
  return `${count} non-finite value${count === 1 ? "" : "s"} (NaN or ±Inf)`;
}

/**
 * One tile spec for filter `position` at one step.
 * images: the probe images shown (one map each, left to right).
 */
export function mapTile(ctx, { run, layer, stepInfo, stats, strip, resolve, position, images, caption, dataset, current, sparkline }) {
  const filter = layer.filterIndices[position];
  if (strip instanceof BrokenBlob) return brokenTile({ run, layer, stepInfo, filter, images, caption, dataset, current, sparkline, message: strip.message });
  const summary = filterSummaries(stats)[position];
  // NaN / Inf in the shown maps at this step: badge + data-nonfinite (absent when none).
  const nonfinite = nonfiniteOf(stats, position, images);
  const notes = [summary.dead ? "dead (never positive on any probe image)" : null, nonfinite > 0 ? nonfiniteText(nonfinite) : null].filter(Boolean);
  const kind = kindNote(layer);
  return {
    key: JSON.stringify([run.run, layer.tag, stepInfo.step, stepInfo.wallTime, filter, images, ctx.paintStyleKey]),
    caption,
    // Dead: the filter is positive on no probe image at this step (marked in every grid).
    dataset: {
      filter, step: stepInfo.step, ...(images.length === 1 ? { image: images[0] } : {}), dead: String(summary.dead),
      overlay: String(overlaid(ctx, run, layer)),
      mapKind: layer.mapKind ?? "maps", ...(nonfinite > 0 ? { nonfinite } : {}), ...dataset,
    },
    note: notes.length ? notes.join(", ") : null,
    badge: nonfinite > 0 ? { text: `NaN ×${nonfinite}`, title: `${nonfiniteText(nonfinite)} in ${images.length === 1 ? "this map" : "these maps"} at ${stepText(layer, stepInfo.step)}; stored at the map's minimum` } : null,
    title: `filter ${filter} · ${stepText(layer, stepInfo.step)} over ${layer.numImages} probe images${kind ? ` · ${kind}` : ""}\n${summaryText(summary)}`,
    sparkline,
    aspect: [layer.mapWidth * images.length, layer.mapHeight],
    shape: tileShape(layer),
    current,
    paint: painter(ctx, run, layer, strip, stats, resolve, position, images),
    open: (fraction) => {
      const slot = Math.min(images.length - 1, Math.max(0, Math.floor(fraction * images.length)));
      ctx.openZoom({ run: run.run, layer: layer.path, step: stepInfo.step, filter, image: images[slot] });
    },
  };
}

/** A tile whose strip could not be read: blank, marked, saying what failed (its neighbours still show). */
function brokenTile({ run, layer, stepInfo, filter, images, caption, dataset, current, sparkline, message }) {
  const what = `filter ${filter} at ${stepText(layer, stepInfo.step)} cannot be shown: ${message}`;
  return {
    key: JSON.stringify([run.run, layer.tag, stepInfo.step, stepInfo.wallTime, filter, images, "broken", message]),
    caption,
    dataset: { filter, step: stepInfo.step, ...(images.length === 1 ? { image: images[0] } : {}), broken: "true", ...dataset },
    note: what,
    badge: { kind: "broken", text: "unreadable", title: what },
    title: what,
    sparkline,
    aspect: [layer.mapWidth * images.length, layer.mapHeight],
    shape: tileShape(layer),
    current,
    paint: (canvas) => {
      canvas.width = 1;
      canvas.height = 1;
      canvas.getContext("2d").clearRect(0, 0, 1, 1);
    },
  };
}
