import type { FsSnapshot } from "./fs-snapshot.js";

interface Entry<T> {
  size: number;
  mtimeMs: number;
  value: T;
}

/**
 * Values computed from a file's text, kept for the life of the process and recomputed when the
 * file's size or mtime changed (the same trust as the file-hash cache). The stat and the read go
 * through the pass's snapshot, so the shortcuts keyed on recorded reads see what a value rests on.
 */
export class FileMemo<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(private readonly max = 20_000) {}

  /**
   * The value of `compute(text of abs)` under `key` (default `abs`); undefined when `abs` is not a
   * readable regular file.
   */
  get(
    fs: FsSnapshot,
    abs: string,
    compute: (source: string) => T,
    key: string = abs,
  ): T | undefined {
    const st = fs.stat(abs);
    if (st === undefined || !st.isFile()) return undefined;
    const hit = this.entries.get(key);
    if (hit !== undefined && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.value;
    let source: string;
    try {
      source = fs.reads.readText(abs);
    } catch {
      return undefined;
    }
    const value = compute(source);
    if (this.entries.size >= this.max) this.entries.clear();
    this.entries.set(key, { size: st.size, mtimeMs: st.mtimeMs, value });
    return value;
  }
}
