// Least-recently-used cache bounded by a total cost (bytes).

export class LruCache {
  constructor(maxCost) {
    this.maxCost = maxCost;
    this.totalCost = 0;
    this.entries = new Map(); // key -> {value, cost}; Map order = recency
  }

  get(key) {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  has(key) {
    return this.entries.has(key);
  }

  set(key, value, cost) {
    this.delete(key);
    this.entries.set(key, { value, cost });
    this.totalCost += cost;
    for (const [oldKey] of this.entries) {
      if (this.totalCost <= this.maxCost || oldKey === key) break;
      this.delete(oldKey);
    }
  }

  delete(key) {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.totalCost -= entry.cost;
    entry.value?.close?.(); // ImageBitmap
  }
}
