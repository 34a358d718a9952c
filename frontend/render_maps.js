// Quantized map -> coloured canvas. A map's real value is
// min + q/255 * (max - min); the display range, colormap and optional
// posterization turn each of the 256 q values into one RGBA colour.

export const LEVEL_CHOICES = [0, 3, 5, 7, 9, 12];

/** 256 packed RGBA colours, one per quantized value q, for one map. */
function colourTable(mapRange, displayRange, { lut, levels, diverging }) {
  const bytes = new Uint8ClampedArray(256 * 4);
  const [min, max] = mapRange;
  const [lo, hi] = displayRange;
  const span = hi - lo;
  for (let q = 0; q < 256; q++) {
    const value = min + (q / 255) * (max - min);
    let t = span > 0 ? (value - lo) / span : diverging ? 0.5 : 0; // a constant map sits at zero / the bottom
    t = Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0;
    if (levels > 1) t = Math.min(levels - 1, Math.floor(t * levels)) / (levels - 1);
    const entry = Math.round(t * 255) * 3;
    bytes[q * 4] = lut[entry];
    bytes[q * 4 + 1] = lut[entry + 1];
    bytes[q * 4 + 2] = lut[entry + 2];
    bytes[q * 4 + 3] = 255;
  }
  return new Uint32Array(bytes.buffer);
}

/**
 * Paint maps of a strip side by side onto `canvas`.
 * strip: {width, height, q}; mapWidth: columns per image in the strip.
 * segments: [{image, mapRange, displayRange}], drawn left to right.
 * style: {lut, levels, diverging}.
 */
// Columns between the maps of a row (several probe images side by side), left transparent.
const SEPARATOR = 1;

export function paintMaps(canvas, strip, mapWidth, segments, style) {
  const height = strip.height;
  const pitch = mapWidth + (segments.length > 1 ? SEPARATOR : 0);
  const width = pitch * segments.length - (segments.length > 1 ? SEPARATOR : 0);
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const pixels = new ImageData(width, height);
  const out = new Uint32Array(pixels.data.buffer);
  segments.forEach(({ image, mapRange, displayRange }, slot) => {
    const table = colourTable(mapRange, displayRange, style);
    for (let y = 0; y < height; y++) {
      const source = y * strip.width + image * mapWidth;
      const target = y * width + slot * pitch;
      for (let x = 0; x < mapWidth; x++) out[target + x] = table[strip.q[source + x]];
    }
  });
  canvas.getContext("2d").putImageData(pixels, 0, 0);
}

/** Real (de-quantized) activation at map pixel (x, y) of `image` in a strip. */
export function valueAt(strip, mapWidth, image, x, y, mapRange) {
  const q = strip.q[y * strip.width + image * mapWidth + x];
  const [min, max] = mapRange;
  return { q, value: min + (q / 255) * (max - min) };
}

/** CSS gradient string of a LUT, for legends. */
export function lutGradient(lut, stops = 16) {
  const colours = [];
  for (let s = 0; s <= stops; s++) {
    const entry = Math.round((s / stops) * 255) * 3;
    colours.push(`rgb(${lut[entry]} ${lut[entry + 1]} ${lut[entry + 2]})`);
  }
  return `linear-gradient(to right, ${colours.join(", ")})`;
}

// Overlays are drawn at least this wide per image, so that the upsampled
// heatmap is smooth however large the tile.
const OVERLAY_MIN_WIDTH = 160;

/**
 * Paint maps of a strip, each laid over its probe image (`bitmaps[image]`),
 * upsampled smoothly to the image and blended with `opacity` (0-1).
 * coverage: the fraction of the image's width and height the stored map
 * spans ([mapWidth * factor / sourceWidth, ...]: partial blocks reach past it).
 * Other arguments as `paintMaps`.
 */
export function paintMapsOver(canvas, strip, mapWidth, segments, style, { bitmaps, opacity, coverage = [1, 1] }) {
  const first = bitmaps[segments[0].image];
  if (!first) return paintMaps(canvas, strip, mapWidth, segments, style);
  const scale = Math.max(1, Math.ceil(OVERLAY_MIN_WIDTH / first.width));
  const cellWidth = first.width * scale;
  const cellHeight = first.height * scale;
  const gap = segments.length > 1 ? SEPARATOR * scale : 0;
  const width = (cellWidth + gap) * segments.length - gap;
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== cellHeight) canvas.height = cellHeight;
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, width, cellHeight);
  const heat = document.createElement("canvas");
  segments.forEach((segment, slot) => {
    const x = slot * (cellWidth + gap);
    const bitmap = bitmaps[segment.image];
    context.globalAlpha = 1;
    context.imageSmoothingEnabled = false;
    if (bitmap) context.drawImage(bitmap, x, 0, cellWidth, cellHeight);
    paintMaps(heat, strip, mapWidth, [segment], style);
    context.globalAlpha = opacity;
    context.imageSmoothingEnabled = true;
    context.imageSmoothingQuality = "high";
    context.drawImage(heat, x, 0, cellWidth * coverage[0], cellHeight * coverage[1]);
  });
  context.globalAlpha = 1;
}

/** The fraction of its image a layer's (or an attribution's) stored map spans, for `paintMapsOver`. */
export function mapCoverage(info) {
  const factor = info.downsampleFactor || 1;
  return [
    info.sourceWidth ? (info.mapWidth * factor) / info.sourceWidth : 1,
    info.sourceHeight ? (info.mapHeight * factor) / info.sourceHeight : 1,
  ];
}
