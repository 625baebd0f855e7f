// A small per-directory memo for the upward searches (.haltonrc, git root). A busy client opens a
// connection per call from the same working directory; without it every connection would re-walk
// the tree to /. The TTL is short so that a .haltonrc written a moment ago is honoured within
// seconds, and the size is capped because working directories are unbounded input.
export const DIR_CACHE_TTL_MS = 5_000;
const DIR_CACHE_MAX = 1_024;

export class DirCache<T> {
  private readonly entries = new Map<string, { value: T; at: number }>();

  constructor(
    private readonly ttlMs = DIR_CACHE_TTL_MS,
    private readonly max = DIR_CACHE_MAX,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The cached answer for `dir`, or `compute(dir)` (cached, null answers included). */
  get(dir: string, compute: (dir: string) => T): T {
    const t = this.now();
    const hit = this.entries.get(dir);
    if (hit && t - hit.at < this.ttlMs) return hit.value;
    const value = compute(dir);
    this.entries.delete(dir);
    if (this.entries.size >= this.max) {
      // Map keeps insertion order: the first key is the oldest entry.
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(dir, { value, at: t });
    return value;
  }

  get size(): number {
    return this.entries.size;
  }
}
