import { signatureOf } from "./fs-reads.js";
import type { FsSnapshot } from "./fs-snapshot.js";

interface Entry<T> {
  /** {@link signatureOf} the file when `value` was computed: kind, size, mtime, ctime, inode. */
  signature: string;
  value: T;
}

/**
 * Values computed from a file's text, kept for the life of the process and recomputed when the
 * file's size, mtime, ctime or inode changed. The stat and the read go
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
    const signature = signatureOf(st);
    const hit = this.entries.get(key);
    if (hit !== undefined && hit.signature === signature) return hit.value;
    let source: string;
    try {
      source = fs.reads.readText(abs);
    } catch {
      return undefined;
    }
    const value = compute(source);
    if (this.entries.size >= this.max) this.entries.clear();
    this.entries.set(key, { signature, value });
    return value;
  }
}
