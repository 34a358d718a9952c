// Decode stored blobs: quantized gray PNG strips, probe images, statistics,
// kernel ranges, summaries; and which decoder each blob of each kind of tag
// takes (`blobDecoder`, `summaryDecoder`: the one place the tab decides it).

import { decodeGrayPng } from "./png.js";
import { MAX_PROBE_SIDE } from "./wording.js";

const BITMAP_OPTIONS = { colorSpaceConversion: "none", premultiplyAlpha: "none" };

/** A blob that could not be fetched or decoded, in place of its value: what failed. */
export class BrokenBlob {
  constructor(message) {
    this.message = message;
  }
}

/** {width, height} a PNG declares in its header, read before anything is decoded. */
export function pngSize(bytes) {
  const view = new DataView(bytes);
  if (bytes.byteLength < 24 || view.getUint32(0) !== 0x89504e47 || view.getUint32(12) !== 0x49484452) {
    throw new Error(`not a PNG (${bytes.byteLength} bytes)`);
  }
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/**
 * Refuses, before decoding, a PNG whose size is not `expected` ({width, height}
 * from the metadata) or, for probe images ({maxSide}), larger than that.
 */
function checkSize(bytes, expected) {
  const { width, height } = pngSize(bytes);
  if (expected.maxSide !== undefined) {
    if (width > expected.maxSide || height > expected.maxSide) throw new Error(`a PNG of ${width}x${height}; probe images are at most ${expected.maxSide} a side`);
  } else if (width !== expected.width || height !== expected.height) {
    throw new Error(`a PNG of ${width}x${height} where the metadata says ${expected.width}x${expected.height}`);
  }
}

/** `expected`: {width, height}, or {maxSide} (default: the probe images' bound). */
export function decodeBitmap(bytes, expected = { maxSide: MAX_PROBE_SIDE }) {
  checkSize(bytes, expected);
  return createImageBitmap(new Blob([bytes], { type: "image/png" }), BITMAP_OPTIONS);
}

/**
 * Gray PNG of `expected` size ({width, height}) -> {width, height, q: Uint8Array of width*height quantized values}.
 * Inflated in script (png.js) when it is an 8-bit gray PNG, as tb_actviz writes them; else,
 * or when that refuses the stream, by the browser's image decoder.
 */
export async function decodeQuantized(bytes, expected) {
  checkSize(bytes, expected);
  try {
    const decoded = decodeGrayPng(bytes);
    if (decoded) return decoded;
  } catch {
    // the browser's decoder has the last word
  }
  const bitmap = await decodeBitmap(bytes, expected);
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = context.getImageData(0, 0, width, height).data;
  const q = new Uint8Array(width * height);
  for (let p = 0; p < q.length; p++) q[p] = rgba[p * 4];
  return { width, height, q };
}

/** Per-map statistics of one step: float32 LE [F, N, K]. */
export class LayerStats {
  constructor(bytes, numFilters, numImages, statNames) {
    const expected = numFilters * numImages * statNames.length;
    const view = new DataView(bytes);
    if (bytes.byteLength !== expected * 4) {
      throw new Error(`stats blob has ${bytes.byteLength} bytes, expected ${expected * 4}`);
    }
    this.values = new Float32Array(expected);
    for (let k = 0; k < expected; k++) this.values[k] = view.getFloat32(k * 4, true);
    this.numFilters = numFilters;
    this.numImages = numImages;
    this.statNames = statNames;
    this.statIndex = new Map(statNames.map((name, k) => [name, k]));
  }

  get(filterPosition, image, name) {
    const k = this.statIndex.get(name);
    if (k === undefined) return NaN;
    return this.values[(filterPosition * this.numImages + image) * this.statNames.length + k];
  }

  /** [min, max] of one map as stored (its quantization range). */
  mapRange(filterPosition, image) {
    return [this.get(filterPosition, image, "min"), this.get(filterPosition, image, "max")];
  }

  record(filterPosition, image) {
    return Object.fromEntries(this.statNames.map((name) => [name, this.get(filterPosition, image, name)]));
  }
}

/** Per-filter summary of one step (version-1 layers, kept in the event files): float32 LE [F, S]. */
export class LayerSummary {
  constructor(bytes, numFilters, summaryNames) {
    const expected = numFilters * summaryNames.length;
    if (bytes.byteLength !== expected * 4) {
      throw new Error(`summary blob has ${bytes.byteLength} bytes, expected ${expected * 4}`);
    }
    const view = new DataView(bytes);
    this.values = Float32Array.from({ length: expected }, (_, k) => view.getFloat32(k * 4, true));
    this.numFilters = numFilters;
    this.summaryNames = summaryNames;
    this.nameIndex = new Map(summaryNames.map((name, k) => [name, k]));
  }

  get(filterPosition, name) {
    const k = this.nameIndex.get(name);
    return k === undefined ? NaN : this.values[filterPosition * this.summaryNames.length + k];
  }
}

/** Blob 0 of a KERNELS step: float32 LE [F, 2] (min, max of each kernel). */
export class KernelRanges {
  constructor(bytes, numFilters) {
    if (bytes.byteLength !== numFilters * 8) throw new Error(`kernel ranges blob has ${bytes.byteLength} bytes, expected ${numFilters * 8}`);
    const view = new DataView(bytes);
    this.values = Float32Array.from({ length: numFilters * 2 }, (_, k) => view.getFloat32(k * 4, true));
  }

  range(position) {
    return [this.values[position * 2], this.values[position * 2 + 1]];
  }
}

/** A strip of quantized maps side by side: `numImages` maps of `mapWidth` x `mapHeight` (layers, attributions). */
function decodeStrip(entry, bytes) {
  return decodeQuantized(bytes, { width: entry.numImages * entry.mapWidth, height: entry.mapHeight });
}

/** Rows of a tag's per-step summary: a layer's filters, an attribution's images. */
function summaryRows(kind, entry) {
  return kind === "attribution" ? entry.numImages : entry.filterIndices.length;
}

/**
 * `(index, bytes) -> value` (or a Promise of it) for the blobs of one tag of
 * /runs, by its kind (docs/format.md):
 * - "layer": 0 the statistics (`LayerStats`), k + 1 the strip of filter position k;
 * - "attribution": 0 the per-image record (`LayerSummary`), 1 the strip of maps;
 * - "kernels": 0 the ranges (`KernelRanges`), 1 the kernels side by side (`ImageBitmap`);
 * - "probe": blob k is probe image k (`ImageBitmap`).
 */
export function blobDecoder(kind, entry) {
  switch (kind) {
    case "layer":
      return (index, bytes) => (index === 0
        ? new LayerStats(bytes, entry.filterIndices.length, entry.numImages, entry.statNames)
        : decodeStrip(entry, bytes));
    case "attribution":
      return (index, bytes) => (index === 0 ? new LayerSummary(bytes, entry.numImages, entry.summaryNames) : decodeStrip(entry, bytes));
    case "kernels": {
      const size = { width: entry.numFilters * entry.kernelWidth, height: entry.kernelHeight };
      return (index, bytes) => (index === 0 ? new KernelRanges(bytes, entry.numFilters) : decodeBitmap(bytes, size));
    }
    case "probe":
      return (_, bytes) => decodeBitmap(bytes);
    default:
      throw new Error(`no decoder for a ${kind} tag`);
  }
}

/** `bytes -> LayerSummary` for the event-file summaries of a "layer" or an "attribution" tag (/summaries). */
export function summaryDecoder(kind, entry) {
  const rows = summaryRows(kind, entry);
  return (bytes) => new LayerSummary(bytes, rows, entry.summaryNames);
}

/** Bytes a decoded value holds, for the cache's budget. */
export function decodedBytes(value) {
  if (value instanceof ImageBitmap) return value.width * value.height * 4;
  if (value?.q) return value.q.byteLength;
  return value?.values?.byteLength ?? 0;
}
