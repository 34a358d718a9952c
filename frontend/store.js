// Cached, de-duplicated access to decoded activation data.
// Keys carry the step's wallTime, so a rewritten step never hits a stale entry.

import { fetchBlobs, fetchSeries, fetchSteps, fetchSummaries } from "./api.js";
import { decodeBitmap, decodeQuantized, LayerStats, LayerSummary } from "./decode.js";
import { LruCache } from "./lru_cache.js";

const CACHE_BYTES = 256 * 1024 * 1024;
const SERIES_KEPT = 8;
const STATS_SERIES_KEPT = 16;

function blobKey(run, tag, step, wallTime, index) {
  return JSON.stringify([run, tag, step, wallTime, index]);
}

function statsSeriesKey(run, layer, steps) {
  return JSON.stringify([run, layer.tag, steps.length, steps.at(-1)?.wallTime ?? null]);
}

export class ActivationStore {
  constructor() {
    this.cache = new LruCache(CACHE_BYTES);
    this.pending = new Map(); // blob key -> Promise of decoded value
    this.steps = new Map(); // JSON [run, tag] -> Promise of [{step, wallTime}]
    this.series = new LruCache(SERIES_KEPT); // JSON [run, tag, index] -> Promise of series
    // JSON [run, tag, step count, last wallTime] -> Promise of the stats series;
    // kept across polls, refetched only when the tag's steps change.
    this.statsSeries = new LruCache(STATS_SERIES_KEPT);
  }

  /** `statsSeriesOf` if it is cached or in flight for these `steps` (the tag's), else null (never fetches). */
  peekStatsSeries(run, layer, steps) {
    return this.statsSeries.get(statsSeriesKey(run, layer, steps)) ?? null;
  }

  /** The layer's stats blob at every logged step ([{stepInfo, value: LayerStats}]), one request, cached until new steps arrive. */
  async statsSeriesOf(run, layer) {
    const steps = await this.stepsOf(run, layer.tag);
    const key = statsSeriesKey(run, layer, steps);
    if (!this.statsSeries.has(key)) {
      const request = this.layerSeries(run, layer, 0);
      request.catch(() => this.statsSeries.delete(key));
      this.statsSeries.set(key, request, 1);
    }
    return this.statsSeries.get(key);
  }

  /**
   * A version-1 layer's summaries at every step ([{stepInfo, value: LayerSummary}]), from
   * the event files: what the tab shows where the pixel files cannot be read. Not cached.
   */
  async summarySeriesOf(run, layer) {
    const frames = await fetchSummaries(run, layer.tag);
    return frames.map(({ step, wallTime, bytes }) => ({
      stepInfo: { step, wallTime },
      value: new LayerSummary(bytes, layer.filterIndices.length, layer.summaryNames),
    }));
  }

  /** `layerStep` if every blob is already decoded, else null (never fetches). */
  peekLayerStep(run, layer, stepInfo, filterPositions) {
    const keyOf = (index) => blobKey(run, layer.tag, stepInfo.step, stepInfo.wallTime, index);
    const stats = this.cache.get(keyOf(0));
    if (!stats) return null;
    const strips = new Map();
    for (const position of filterPositions) {
      const strip = this.cache.get(keyOf(position + 1));
      if (!strip) return null;
      strips.set(position, strip);
    }
    return { stats, strips };
  }

  /** Kernels of one step (docs/format.md, KERNELS tag): {ranges: Float32Array [F,2], bitmap}. */
  async kernelStep(run, kernels, stepInfo) {
    const decode = (index, bytes) => (index === 0 ? new KernelRanges(bytes, kernels.numFilters) : decodeBitmap(bytes));
    const values = await this.blobs(run, kernels.tag, stepInfo, [0, 1], decode);
    return { ranges: values.get(0), bitmap: values.get(1) };
  }

  /** Logged steps of a tag; cached until `refreshSteps` is called. */
  stepsOf(run, tag) {
    const key = JSON.stringify([run, tag]);
    if (!this.steps.has(key)) {
      const request = fetchSteps(run, tag);
      request.catch(() => this.steps.delete(key));
      this.steps.set(key, request);
    }
    return this.steps.get(key);
  }

  /** Forget step lists and series so the next read sees newly logged steps. */
  forgetSteps() {
    this.steps.clear();
    this.series = new LruCache(SERIES_KEPT);
  }

  /** Memoized `layerSeries` (until `forgetSteps`). */
  seriesOf(run, layer, index) {
    const key = JSON.stringify([run, layer.tag, index]);
    if (!this.series.has(key)) {
      const request = this.layerSeries(run, layer, index);
      request.catch(() => this.series.delete(key));
      this.series.set(key, request, 1);
    }
    return this.series.get(key);
  }

  /** Decoded blobs of one layer step: {stats, strips: Map filterPosition -> strip}. */
  async layerStep(run, layer, stepInfo, filterPositions) {
    const decode = (index, bytes) =>
      index === 0 ? this.decodeStats(layer, bytes) : decodeQuantized(bytes);
    const indices = [0, ...filterPositions.map((position) => position + 1)];
    const values = await this.blobs(run, layer.tag, stepInfo, indices, decode);
    const strips = new Map(filterPositions.map((position) => [position, values.get(position + 1)]));
    return { stats: values.get(0), strips };
  }

  /** Probe images as ImageBitmaps (the probe is logged once; use its last step). */
  async probeImages(run, probe) {
    const steps = await this.stepsOf(run, probe.tag);
    if (steps.length === 0) return [];
    const indices = [...Array(probe.numImages).keys()];
    const values = await this.blobs(run, probe.tag, steps.at(-1), indices, (_, bytes) => decodeBitmap(bytes));
    return indices.map((index) => values.get(index));
  }

  /** Blob `index` of a layer at every step: [{stepInfo, value}], decoded and cached per step. */
  async layerSeries(run, layer, index) {
    const frames = await fetchSeries(run, layer.tag, index);
    return Promise.all(
      frames.map(async ({ step, wallTime, bytes }) => {
        const stepInfo = { step, wallTime };
        const key = blobKey(run, layer.tag, step, wallTime, index);
        const known = this.cache.get(key) ?? this.pending.get(key);
        const decode = async () => (index === 0 ? this.decodeStats(layer, bytes) : decodeQuantized(bytes));
        const value = await (known ?? this.remember(key, decode()));
        return { stepInfo, value };
      }),
    );
  }

  decodeStats(layer, bytes) {
    return new LayerStats(bytes, layer.filterIndices.length, layer.numImages, layer.statNames);
  }

  /** Fetch (one request) and decode whichever of `indices` are neither cached nor in flight. */
  async blobs(run, tag, stepInfo, indices, decode) {
    const { step, wallTime } = stepInfo;
    const keyOf = (index) => blobKey(run, tag, step, wallTime, index);
    const missing = indices.filter((index) => !this.cache.has(keyOf(index)) && !this.pending.has(keyOf(index)));
    if (missing.length > 0) {
      const request = fetchBlobs(run, tag, step, wallTime, missing);
      for (const index of missing) {
        const decoded = request.then((buffers) => decode(index, buffers.get(index)));
        this.remember(keyOf(index), decoded).catch(() => {});
      }
    }
    const entries = await Promise.all(
      indices.map(async (index) => [index, this.cache.get(keyOf(index)) ?? (await this.pending.get(keyOf(index)))]),
    );
    return new Map(entries);
  }

  /** Track an in-flight decode, then cache its result. */
  remember(key, promise) {
    const tracked = promise.then(
      (value) => {
        this.pending.delete(key);
        this.cache.set(key, value, costOf(value));
        return value;
      },
      (error) => {
        this.pending.delete(key);
        throw error;
      },
    );
    this.pending.set(key, tracked);
    return tracked;
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

function costOf(value) {
  if (value instanceof LayerStats || value instanceof KernelRanges) return value.values.byteLength;
  if (value instanceof ImageBitmap) return value.width * value.height * 4;
  return value.q.byteLength;
}
