// Cached, de-duplicated access to decoded activation data.
// Keys carry the step's wallTime, so a rewritten step never hits a stale entry.
// Every blob is decoded by `blobDecoder(kind, entry)` (decode.js), every
// event-file summary by `summaryDecoder(kind, entry)`: `kind` is what the tag
// of /runs is ("layer", "attribution", "kernels", "probe").

import { fetchBlobs, fetchSeries, fetchSteps, fetchSummaries } from "./api.js";
import { blobDecoder, BrokenBlob, decodedBytes, summaryDecoder } from "./decode.js";
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
    // Blob key -> bytes /first brought (`adoptFirst`), decoded when first asked for instead of fetched.
    this.adopted = new Map();
  }

  /** What /first brought (api.js `fetchFirst`): the tag's steps, and the blobs of one step, kept undecoded. */
  adoptFirst({ run, tag, steps, stepInfo, blobs }) {
    if (run === null || tag === null || !steps) return;
    this.steps.set(JSON.stringify([run, tag]), Promise.resolve(steps));
    if (!stepInfo) return;
    for (const [index, bytes] of blobs) this.adopted.set(blobKey(run, tag, stepInfo.step, stepInfo.wallTime, index), bytes);
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
  summarySeriesOf(run, layer) {
    return this.summaries(run, "layer", layer);
  }

  /**
   * An attribution tag's per-image records at every step ([{stepInfo, value: LayerSummary}],
   * `get(image, name)`), from the event files in one request; cached until its steps change.
   */
  async recordSeriesOf(run, attribution) {
    const steps = await this.stepsOf(run, attribution.tag);
    const key = JSON.stringify(["records", ...JSON.parse(statsSeriesKey(run, attribution, steps))]);
    if (!this.statsSeries.has(key)) {
      const request = this.summaries(run, "attribution", attribution);
      request.catch(() => this.statsSeries.delete(key));
      this.statsSeries.set(key, request, 1);
    }
    return this.statsSeries.get(key);
  }

  /** The maps of one attribution step: a strip {width, height, q}, image i in columns [i*mapWidth, (i+1)*mapWidth). */
  async attributionStrip(run, attribution, stepInfo) {
    const values = await this.blobs(run, "attribution", attribution, stepInfo, [1]);
    return values.get(1);
  }

  /** The maps of an attribution at every step ([{stepInfo, value: strip}]), memoized until `forgetSteps`. */
  attributionSeriesOf(run, attribution) {
    return this.memoSeries(run, "attribution", attribution, 1);
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
    const values = await this.blobs(run, "kernels", kernels, stepInfo, [0, 1]);
    return { ranges: values.get(0), bitmap: values.get(1) };
  }

  /** Whether the steps of a tag were asked for (cached or in flight) since they were last forgotten. */
  hasSteps(run, tag) {
    return this.steps.has(JSON.stringify([run, tag]));
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
    this.adopted.clear();
    this.series = new LruCache(SERIES_KEPT);
  }

  /** Memoized `layerSeries` (until `forgetSteps`). */
  seriesOf(run, layer, index) {
    return this.memoSeries(run, "layer", layer, index);
  }

  /** `blobSeries`, memoized per tag and blob index until `forgetSteps`. */
  memoSeries(run, kind, entry, index) {
    const key = JSON.stringify([run, entry.tag, index]);
    if (!this.series.has(key)) {
      const request = this.blobSeries(run, kind, entry, index);
      request.catch(() => this.series.delete(key));
      this.series.set(key, request, 1);
    }
    return this.series.get(key);
  }

  /**
   * Decoded blobs of one layer step: {stats, strips: Map filterPosition -> strip}. A strip
   * that cannot be read is a `BrokenBlob` saying why (the others still show); without
   * the statistics nothing can be shown, so their failure rejects.
   */
  async layerStep(run, layer, stepInfo, filterPositions) {
    const indices = [0, ...filterPositions.map((position) => position + 1)];
    const values = await this.blobs(run, "layer", layer, stepInfo, indices, { settle: true });
    const stats = values.get(0);
    if (stats instanceof BrokenBlob) throw new Error(stats.message);
    const strips = new Map(filterPositions.map((position) => [position, values.get(position + 1)]));
    return { stats, strips };
  }

  /** Probe images as ImageBitmaps (the probe is logged once; use its last step). */
  async probeImages(run, probe) {
    const steps = await this.stepsOf(run, probe.tag);
    if (steps.length === 0) return [];
    const indices = [...Array(probe.numImages).keys()];
    const values = await this.blobs(run, "probe", probe, steps.at(-1), indices);
    return indices.map((index) => values.get(index));
  }

  /** Blob `index` of a layer at every step: [{stepInfo, value}], decoded and cached per step. */
  layerSeries(run, layer, index) {
    return this.blobSeries(run, "layer", layer, index);
  }

  /** Blob `index` of a tag (of `kind`, see decode.js `blobDecoder`) at every step, one request, decoded and cached per step. */
  async blobSeries(run, kind, entry, index) {
    const decode = blobDecoder(kind, entry);
    const frames = await fetchSeries(run, entry.tag, index);
    return Promise.all(
      frames.map(async ({ step, wallTime, bytes }) => {
        const stepInfo = { step, wallTime };
        const key = blobKey(run, entry.tag, step, wallTime, index);
        const known = this.cache.get(key) ?? this.pending.get(key);
        const value = await (known ?? this.remember(key, (async () => decode(index, bytes))()));
        return { stepInfo, value };
      }),
    );
  }

  /** A tag's event-file summaries at every step ([{stepInfo, value: LayerSummary}]), one /summaries request. */
  async summaries(run, kind, entry) {
    const decode = summaryDecoder(kind, entry);
    const frames = await fetchSummaries(run, entry.tag);
    return frames.map(({ step, wallTime, bytes }) => ({ stepInfo: { step, wallTime }, value: decode(bytes) }));
  }

  /**
   * Fetch (one request) and decode (`blobDecoder(kind, entry)`) whichever of `indices` of
   * tag `entry` are neither cached nor in flight (those /first brought are decoded, not fetched).
   * If that request is refused (a damaged blob fails the whole request), the blobs are
   * fetched one by one, so only the bad ones fail. With `settle`, a blob that fails is a
   * `BrokenBlob` in the result instead of rejecting it.
   */
  async blobs(run, kind, entry, stepInfo, indices, { settle = false } = {}) {
    const { tag } = entry;
    const { step, wallTime } = stepInfo;
    const keyOf = (index) => blobKey(run, tag, step, wallTime, index);
    const decode = blobDecoder(kind, entry);
    const missing = [];
    for (const index of indices) {
      const key = keyOf(index);
      if (this.cache.has(key) || this.pending.has(key)) continue;
      const adopted = this.adopted.get(key);
      if (adopted === undefined) {
        missing.push(index);
        continue;
      }
      this.adopted.delete(key);
      this.remember(key, (async () => decode(index, adopted))()).catch(() => {});
    }
    if (missing.length > 0) {
      const one = (index) => fetchBlobs(run, tag, step, wallTime, [index]).then((buffers) => buffers.get(index));
      const request = fetchBlobs(run, tag, step, wallTime, missing);
      // One by one only if the first blob alone can be had: a missing step or file fails them all.
      const fallback = missing.length > 1 ? request.then(() => null, (error) => (error.status === 404 ? one(missing[0]) : Promise.reject(error))) : null;
      for (const [k, index] of missing.entries()) {
        const bytes = request.then(
          (buffers) => buffers.get(index),
          (error) => (fallback ? fallback.then((first) => (k === 0 ? first : one(index))) : Promise.reject(error)),
        );
        this.remember(keyOf(index), bytes.then((data) => decode(index, data))).catch(() => {});
      }
    }
    const entries = await Promise.all(
      indices.map(async (index) => {
        const value = this.cache.get(keyOf(index)) ?? this.pending.get(keyOf(index));
        if (!settle) return [index, await value];
        try {
          return [index, await value];
        } catch (error) {
          return [index, new BrokenBlob(error.message)];
        }
      }),
    );
    return new Map(entries);
  }

  /** Track an in-flight decode, then cache its result. */
  remember(key, promise) {
    const tracked = promise.then(
      (value) => {
        this.pending.delete(key);
        this.cache.set(key, value, decodedBytes(value));
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
