// Fetch and parse the plugin's HTTP routes (docs/http_api.md), including the
// binary framing of /first, /blobs, /series and /summaries. URLs are relative to <base href>.

const MAX_BLOBS_PER_REQUEST = 1024;

export class ApiError extends Error {
  constructor(status, message, url) {
    super(`${message} (HTTP ${status}, ${url})`);
    this.status = status;
  }
}

function query(route, params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) search.set(key, String(value));
  }
  return `${route}?${search}`;
}

async function fetchOk(url, init) {
  return checkOk(await fetch(url, init), url);
}

async function checkOk(response, url) {
  if (!response.ok) {
    let message = response.statusText;
    try {
      message = (await response.json()).error || message;
    } catch {
      // body was not JSON; keep the status text
    }
    throw new ApiError(response.status, message, url);
  }
  return response;
}

/**
 * The catalog: {runs, unreadable: [{run, tag, reason, newerVersion}]} (tags whose metadata
 * cannot be read).
 */
export async function fetchRuns() {
  const response = await fetchOk("runs", { cache: "no-store" });
  const { runs, unreadable = [] } = await response.json();
  return { runs, unreadable };
}

/**
 * /first, already requested (`inFlight`: the `fetch` index.js started): the catalog as
 * `fetchRuns` gives it, and what the first picture needs: {runs, unreadable, run, tag
 * (null when no run has a layer), steps (as `fetchSteps` gives them, or null), stepInfo
 * ({step, wallTime} or null), blobs: Map index -> ArrayBuffer of that step}.
 */
export async function fetchFirst(inFlight) {
  const buffer = await (await checkOk(await inFlight, "first")).arrayBuffer();
  const length = new DataView(buffer).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, length)));
  const frames = splitFrames(buffer, 4, () => ({}), 4 + length);
  if (frames.length !== header.indices.length) throw new Error(`expected ${header.indices.length} blobs, got ${frames.length}`);
  const { runs, unreadable = [] } = header.runs;
  return {
    runs, unreadable, run: header.run, tag: header.tag,
    steps: header.steps ? header.steps.steps : null,
    stepInfo: header.step,
    blobs: new Map(header.indices.map((index, k) => [index, frames[k].bytes])),
  };
}

export async function fetchSteps(run, tag) {
  const response = await fetchOk(query("steps", { run, tag }), { cache: "no-store" });
  return (await response.json()).steps;
}

/** Compress sorted unique indices into the LIST syntax: "0,3,5-9". */
export function formatIndexList(indices) {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const parts = [];
  for (let start = 0; start < sorted.length; ) {
    let end = start;
    while (end + 1 < sorted.length && sorted[end + 1] === sorted[end] + 1) end++;
    parts.push(end === start ? `${sorted[start]}` : `${sorted[start]}-${sorted[end]}`);
    start = end + 1;
  }
  return parts.join(",");
}

/** Split a framed body (from `start`): each record is a header of `headerSize` bytes ending in a u32 length, then the bytes. */
function splitFrames(buffer, headerSize, readHeader, start = 0) {
  const view = new DataView(buffer);
  const frames = [];
  let offset = start;
  while (offset < buffer.byteLength) {
    if (offset + headerSize > buffer.byteLength) throw new Error("truncated frame header");
    const length = view.getUint32(offset + headerSize - 4, true);
    const start = offset + headerSize;
    if (start + length > buffer.byteLength) throw new Error("truncated frame body");
    frames.push({ ...readHeader(view, offset), bytes: buffer.slice(start, start + length) });
    offset = start + length;
  }
  return frames;
}

function chunks(items, size) {
  const result = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}

/** Blobs of one step. Returns Map index -> ArrayBuffer. */
export async function fetchBlobs(run, tag, step, wallTime, indices) {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const results = await Promise.all(
    chunks(sorted, MAX_BLOBS_PER_REQUEST).map(async (chunk) => {
      const url = query("blobs", {
        run, tag, step, indices: formatIndexList(chunk), wall_time: wallTime,
      });
      const buffer = await (await fetchOk(url)).arrayBuffer();
      const frames = splitFrames(buffer, 4, () => ({}));
      if (frames.length !== chunk.length) throw new Error(`expected ${chunk.length} blobs, got ${frames.length}`);
      return chunk.map((index, k) => [index, frames[k].bytes]);
    }),
  );
  return new Map(results.flat());
}

/** Blob `index` at every logged step: [{step, wallTime, bytes}] ascending. */
export function fetchSeries(run, tag, index) {
  return fetchStepFrames(query("series", { run, tag, index }));
}

/** A version-1 layer's summary (from the event files) at every logged step: [{step, wallTime, bytes}]. */
export function fetchSummaries(run, tag) {
  return fetchStepFrames(query("summaries", { run, tag }));
}

async function fetchStepFrames(url) {
  const response = await fetchOk(url, { cache: "no-store" });
  return splitFrames(await response.arrayBuffer(), 20, (view, offset) => ({
    step: Number(view.getBigInt64(offset, true)),
    wallTime: view.getFloat64(offset + 8, true),
  }));
}
