// Synchronous decoding of the quantized strips: 8-bit gray, non-interlaced
// PNGs (the only kind tb_actviz writes for maps). Inflated in script, with no
// image decoder, canvas read-back or task hop per strip: a filmstrip's 200
// strips decode 5-6x faster than through `createImageBitmap` (frontend/README.md);
// decode.js falls back to the browser's decoder for any other PNG and for any
// stream this one refuses.
// Checked: the zlib header, the Adler-32 of the inflated rows, the exact row
// count and length; every out-of-range read or back-reference throws.

// RFC 1951, 3.2.5-3.2.7: length and distance codes, code-length code order.
const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DISTANCE_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DISTANCE_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
const MAX_BITS = 15;
const FAST_BITS = 9; // codes up to this long decode with one table look-up

class InflateError extends Error {}

/**
 * A canonical Huffman code from its code lengths: a FAST_BITS look-up table
 * (entry = symbol << 4 | length, 0 = longer code) and, for the longer codes,
 * the counts per length and the symbols in canonical order. Built again in
 * place for each block (`build`): no garbage per strip.
 */
class Huffman {
  constructor(maxSymbols) {
    this.counts = new Uint16Array(MAX_BITS + 1);
    this.symbols = new Uint16Array(maxSymbols);
    this.table = new Uint32Array(1 << FAST_BITS);
  }

  /** The code of `lengths` (one code length per symbol); returns this. */
  build(lengths) {
    const { counts, symbols, table } = this;
    counts.fill(0);
    table.fill(0);
    for (let symbol = 0; symbol < lengths.length; symbol++) counts[lengths[symbol]]++;
    counts[0] = 0;
    let left = 1;
    for (let length = 1; length <= MAX_BITS; length++) {
      left = (left << 1) - counts[length];
      if (left < 0) throw new InflateError("over-subscribed Huffman code");
    }
    const offsets = OFFSETS;
    const next = NEXT; // the next canonical code of each length
    offsets[1] = 0;
    for (let length = 1, code = 0; length <= MAX_BITS; length++) {
      offsets[length + 1] = offsets[length] + counts[length];
      code = (code + counts[length - 1]) << 1;
      next[length] = code;
    }
    for (let symbol = 0; symbol < lengths.length; symbol++) {
      const length = lengths[symbol];
      if (length === 0) continue;
      symbols[offsets[length]++] = symbol;
      let code = next[length]++;
      if (length > FAST_BITS) continue;
      let reversed = 0; // deflate sends a code's bits from its most significant
      for (let k = 0; k < length; k++, code >>= 1) reversed = (reversed << 1) | (code & 1);
      for (let slot = reversed; slot < 1 << FAST_BITS; slot += 1 << length) table[slot] = (symbol << 4) | length;
    }
    return this;
  }
}

const OFFSETS = new Uint16Array(MAX_BITS + 2);
const NEXT = new Uint16Array(MAX_BITS + 1);
// The codes of dynamic blocks, built in place block after block (decoding is synchronous).
const LENGTH_CODE = new Huffman(19);
const LITERAL_CODE = new Huffman(286);
const DISTANCE_CODE = new Huffman(30);
const CODE_LENGTHS = new Uint8Array(19);
const LENGTHS = new Uint8Array(286 + 30);

let fixedCodes = null;

function fixedHuffman() {
  if (!fixedCodes) {
    const literals = new Uint8Array(288).fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
    fixedCodes = [new Huffman(288).build(literals), new Huffman(30).build(new Uint8Array(30).fill(5))];
  }
  return fixedCodes;
}

/** Reads a deflate stream least significant bit first (the block headers; the symbols are decoded inline). */
class BitReader {
  constructor(input, start, end) {
    this.input = input;
    this.position = start;
    this.end = end;
    this.bits = 0; // at most 23 bits are buffered
    this.count = 0;
  }

  need(n) {
    while (this.count < n) {
      this.bits |= (this.position < this.end ? this.input[this.position] : 0) << this.count;
      this.position++;
      this.count += 8;
    }
  }

  take(n) {
    this.need(n);
    const value = this.bits & ((1 << n) - 1);
    this.bits >>>= n;
    this.count -= n;
    return value;
  }

  /** The next symbol of `code`, consumed. */
  decode(code) {
    this.need(MAX_BITS);
    const entry = lookUp(code, this.bits);
    this.bits >>>= entry & 15;
    this.count -= entry & 15;
    return entry >>> 4;
  }

  /** Whole bytes from the next byte boundary: drops the partial byte, gives back those read ahead. */
  align() {
    this.position -= this.count >> 3;
    this.bits = 0;
    this.count = 0;
  }

  /** Where the stream stopped (the byte after its last bit). */
  stop() {
    return this.position - (this.count >> 3);
  }
}

/** symbol << 4 | length of the code at the bottom of `bits` (at least MAX_BITS of them), not consumed. */
function lookUp(code, bits) {
  const entry = code.table[bits & ((1 << FAST_BITS) - 1)];
  if (entry !== 0) return entry;
  // A code longer than FAST_BITS: canonical decoding, one bit at a time.
  let value = 0;
  let first = 0;
  let index = 0;
  for (let length = 1; length <= MAX_BITS; length++) {
    value |= (bits >>> (length - 1)) & 1;
    const n = code.counts[length];
    if (value - first < n) return (code.symbols[index + value - first] << 4) | length;
    index += n;
    first = (first + n) << 1;
    value <<= 1;
  }
  throw new InflateError("invalid Huffman code");
}

/** The literal/length and distance codes of a dynamic block (RFC 1951, 3.2.7). */
function dynamicHuffman(reader) {
  const literalCount = reader.take(5) + 257;
  const distanceCount = reader.take(5) + 1;
  const lengthCodeCount = reader.take(4) + 4;
  if (literalCount > 286 || distanceCount > 30) throw new InflateError("too many codes");
  CODE_LENGTHS.fill(0);
  for (let k = 0; k < lengthCodeCount; k++) CODE_LENGTHS[CODE_LENGTH_ORDER[k]] = reader.take(3);
  const lengthCode = LENGTH_CODE.build(CODE_LENGTHS);
  const lengths = LENGTHS.subarray(0, literalCount + distanceCount);
  for (let k = 0; k < lengths.length; ) {
    const symbol = reader.decode(lengthCode);
    if (symbol < 16) {
      lengths[k++] = symbol;
      continue;
    }
    let repeat;
    let value = 0;
    if (symbol === 16) {
      if (k === 0) throw new InflateError("repeat with no previous length");
      value = lengths[k - 1];
      repeat = 3 + reader.take(2);
    } else if (symbol === 17) {
      repeat = 3 + reader.take(3);
    } else {
      repeat = 11 + reader.take(7);
    }
    if (k + repeat > lengths.length) throw new InflateError("too many code lengths");
    while (repeat--) lengths[k++] = value;
  }
  if (lengths[256] === 0) throw new InflateError("no end-of-block code");
  return [LITERAL_CODE.build(lengths.subarray(0, literalCount)), DISTANCE_CODE.build(lengths.subarray(literalCount))];
}

/**
 * Inflates the raw deflate stream `input[start..end)` into `out`, whose length
 * is the exact size expected; returns where the stream stopped. The symbol
 * loop keeps its bit buffer in locals: it runs before the page's code is
 * optimized, where every call costs.
 */
function inflateInto(input, start, end, out) {
  const reader = new BitReader(input, start, end);
  let written = 0;
  let last = 0;
  while (!last) {
    last = reader.take(1);
    const type = reader.take(2);
    if (type === 0) {
      // Stored: from the next byte boundary, LEN, ~LEN, then LEN bytes.
      reader.align();
      const at = reader.position;
      if (at + 4 > end) throw new InflateError("truncated stored block");
      const length = input[at] | (input[at + 1] << 8);
      if ((length ^ (input[at + 2] | (input[at + 3] << 8))) !== 0xffff) throw new InflateError("stored block length check failed");
      if (at + 4 + length > end) throw new InflateError("truncated stored block");
      if (written + length > out.length) throw new InflateError("more data than expected");
      out.set(input.subarray(at + 4, at + 4 + length), written);
      reader.position = at + 4 + length;
      written += length;
      continue;
    }
    if (type === 3) throw new InflateError("invalid block type");
    const [literals, distances] = type === 1 ? fixedHuffman() : dynamicHuffman(reader);
    const literalTable = literals.table;
    const mask = (1 << FAST_BITS) - 1;
    let { bits, count, position } = reader;
    for (;;) {
      while (count < MAX_BITS) {
        bits |= (position < end ? input[position] : 0) << count;
        position++;
        count += 8;
      }
      let entry = literalTable[bits & mask];
      if (entry === 0) entry = lookUp(literals, bits);
      bits >>>= entry & 15;
      count -= entry & 15;
      let symbol = entry >>> 4;
      if (symbol < 256) {
        if (written >= out.length) throw new InflateError("more data than expected");
        out[written++] = symbol;
        continue;
      }
      if (symbol === 256) break;
      symbol -= 257;
      if (symbol >= 29) throw new InflateError("invalid length code");
      // The length's extra bits (at most 5), then the distance code (at most 15 bits): refill to 20.
      while (count < 20) {
        bits |= (position < end ? input[position] : 0) << count;
        position++;
        count += 8;
      }
      const lengthBits = LENGTH_EXTRA[symbol];
      const length = LENGTH_BASE[symbol] + (bits & ((1 << lengthBits) - 1));
      bits >>>= lengthBits;
      count -= lengthBits;
      entry = lookUp(distances, bits);
      bits >>>= entry & 15;
      count -= entry & 15;
      const distanceSymbol = entry >>> 4;
      if (distanceSymbol >= 30) throw new InflateError("invalid distance code");
      const distanceBits = DISTANCE_EXTRA[distanceSymbol];
      while (count < distanceBits) {
        bits |= (position < end ? input[position] : 0) << count;
        position++;
        count += 8;
      }
      const distance = DISTANCE_BASE[distanceSymbol] + (bits & ((1 << distanceBits) - 1));
      bits >>>= distanceBits;
      count -= distanceBits;
      if (distance > written) throw new InflateError("distance before the start");
      if (written + length > out.length) throw new InflateError("more data than expected");
      for (let k = 0; k < length; k++, written++) out[written] = out[written - distance];
    }
    Object.assign(reader, { bits, count, position });
  }
  const stop = reader.stop();
  if (stop > end) throw new InflateError("truncated stream");
  if (written !== out.length) throw new InflateError(`inflated ${written} bytes, expected ${out.length}`);
  return stop;
}

function adler32(bytes) {
  let a = 1;
  let b = 0;
  for (let k = 0; k < bytes.length; ) {
    const stop = Math.min(bytes.length, k + 3800); // sums stay below 2**31 between reductions
    for (; k < stop; k++) {
      a += bytes[k];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** Inflates a zlib stream (RFC 1950) of exactly `size` bytes (into `out` if given), its Adler-32 checked. */
export function inflateZlib(input, size, out = new Uint8Array(size)) {
  if (input.length < 6) throw new InflateError("truncated zlib stream");
  const [method, flags] = input;
  if ((method & 15) !== 8 || method >> 4 > 7 || ((method << 8) | flags) % 31 !== 0 || flags & 32) throw new InflateError("not a zlib stream");
  if (out.length !== size) throw new RangeError("out must hold size bytes");
  const stop = inflateInto(input, 2, input.length - 4, out);
  const expected = ((input[stop] << 24) | (input[stop + 1] << 16) | (input[stop + 2] << 8) | input[stop + 3]) >>> 0;
  if (stop + 4 > input.length || adler32(out) !== expected) throw new InflateError("Adler-32 mismatch");
  return out;
}

/** Undoes the row filters (PNG 9.2) of `height` scanlines of `width` one-byte pixels. */
function unfilter(raw, width, height) {
  const q = new Uint8Array(width * height);
  const stride = width + 1;
  for (let y = 0; y < height; y++) {
    const filter = raw[y * stride];
    const source = y * stride + 1;
    const row = y * width;
    const up = row - width; // the row above (none on the first: zeros)
    switch (filter) {
      case 0:
        q.set(raw.subarray(source, source + width), row);
        break;
      case 1:
        for (let x = 0; x < width; x++) q[row + x] = raw[source + x] + (x ? q[row + x - 1] : 0);
        break;
      case 2:
        if (y === 0) q.set(raw.subarray(source, source + width), row);
        else for (let x = 0; x < width; x++) q[row + x] = raw[source + x] + q[up + x];
        break;
      case 3:
        for (let x = 0; x < width; x++) q[row + x] = raw[source + x] + (((x ? q[row + x - 1] : 0) + (y ? q[up + x] : 0)) >> 1);
        break;
      case 4:
        for (let x = 0; x < width; x++) {
          const a = x ? q[row + x - 1] : 0;
          const b = y ? q[up + x] : 0;
          const c = x && y ? q[up + x - 1] : 0;
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          q[row + x] = raw[source + x] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
        }
        break;
      default:
        throw new InflateError(`unknown row filter ${filter}`);
    }
  }
  return q;
}

// The inflated rows of the last strip, reused (decoding is synchronous).
let scratch = new Uint8Array(0);

/**
 * An 8-bit gray, non-interlaced PNG (ArrayBuffer) -> {width, height, q}, or
 * null when the PNG is of another kind (the caller decodes it otherwise).
 * Throws on a PNG of this kind that cannot be read.
 */
export function decodeGrayPng(buffer) {
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  if (bytes.length < 33 || view.getUint32(0) !== 0x89504e47 || view.getUint32(4) !== 0x0d0a1a0a || view.getUint32(12) !== 0x49484452) return null;
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  // bit depth 8, colour type 0 (gray), compression 0, filter method 0, no interlace
  if (bytes[24] !== 8 || bytes[25] !== 0 || bytes[26] !== 0 || bytes[27] !== 0 || bytes[28] !== 0 || width === 0 || height === 0) return null;
  const parts = [];
  let total = 0;
  for (let at = 8; ; ) {
    if (at + 12 > bytes.length) throw new InflateError("truncated PNG");
    const length = view.getUint32(at);
    const type = view.getUint32(at + 4);
    if (at + 12 + length > bytes.length) throw new InflateError("truncated PNG chunk");
    if (type === 0x49444154) { // IDAT
      parts.push(bytes.subarray(at + 8, at + 8 + length));
      total += length;
    } else if (type === 0x49454e44) { // IEND
      break;
    }
    at += 12 + length;
  }
  let stream = parts[0] ?? new Uint8Array(0);
  if (parts.length > 1) {
    stream = new Uint8Array(total);
    let offset = 0;
    for (const part of parts) {
      stream.set(part, offset);
      offset += part.length;
    }
  }
  const size = height * (width + 1);
  if (scratch.length < size) scratch = new Uint8Array(size);
  const raw = inflateZlib(stream, size, scratch.subarray(0, size));
  return { width, height, q: unfilter(raw, width, height) };
}
