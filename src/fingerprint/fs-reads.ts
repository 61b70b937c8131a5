import { type Dirent, readdirSync, readFileSync, type Stats } from "node:fs";
import { type SpecFiles, statOrUndefined } from "../spec/spec-files.js";

export { statOrUndefined };

/**
 * What a path looked like: kind, size, mtime, ctime and inode ("-" when absent). Any write,
 * rename over, or entry added to or removed from a directory changes it.
 */
export function signatureOf(st: Stats | undefined): string {
  if (st === undefined) return "-";
  const kind = st.isFile() ? "f" : st.isDirectory() ? "d" : "o";
  return `${kind}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}`;
}

/** One recorded read: an absolute path and {@link signatureOf} what was seen at first sight. */
export type RecordedRead = [path: string, signature: string];

/**
 * The one way spec loading, normalization and planning read the file system and the environment:
 * every stat, existence probe, listing, content read and environment variable goes through an
 * `FsReads` and is recorded, with what it saw. The spec cache and the no-change memo are keyed on
 * exactly these records (src/cli/spec-cache-file.ts, src/cli/no-change.ts): a change to anything
 * planning read invalidates them, and nothing else does. There is no global side channel: a read
 * that bypasses this object is invisible to both shortcuts, so it must not decide anything.
 *
 * A path is recorded as first seen; one seen twice with different metadata during the pass (it
 * changed while planning looked at it, e.g. a task rewrote it) makes the record {@link unusable}.
 * Content reads record the metadata taken before reading, so a write racing the read leaves a
 * record that no longer matches, and the shortcut is not taken.
 */
export class FsReads implements SpecFiles {
  private readonly files = new Map<string, string>();
  private readonly vars = new Map<string, string | undefined>();
  /** True when a path changed during the pass, or the pass printed what a replay would not. */
  unusable = false;

  /** Notes that `abs` was seen as `st` (undefined: absent). */
  record(abs: string, st: Stats | undefined): void {
    const sig = signatureOf(st);
    const seen = this.files.get(abs);
    if (seen === undefined) this.files.set(abs, sig);
    else if (seen !== sig) this.unusable = true;
  }

  /** Adds reads made by an earlier pass that were just checked to still hold (a cache hit). */
  adopt(reads: readonly RecordedRead[]): void {
    for (const [p, sig] of reads) {
      const seen = this.files.get(p);
      if (seen === undefined) this.files.set(p, sig);
      else if (seen !== sig) this.unusable = true;
    }
  }

  /** Marks the record unusable for shortcuts (e.g. loading printed warnings a replay would not). */
  markUnusable(): void {
    this.unusable = true;
  }

  /** `statSync` (following symlinks), recorded; undefined when absent. */
  stat(abs: string): Stats | undefined {
    const st = statOrUndefined(abs);
    this.record(abs, st);
    return st;
  }

  /** Whether `abs` exists (file or directory), recorded. */
  exists(abs: string): boolean {
    return this.stat(abs) !== undefined;
  }

  /** The file's bytes, its metadata recorded before reading. Throws like `readFileSync`. */
  readBytes(abs: string): Buffer {
    this.stat(abs);
    return readFileSync(abs);
  }

  /** The file's text (UTF-8), its metadata recorded before reading. Throws like `readFileSync`. */
  readText(abs: string): string {
    this.stat(abs);
    return readFileSync(abs, "utf8");
  }

  /** Entries of a directory (its metadata recorded: adding or removing an entry changes it). */
  list(absDir: string): Dirent[] | undefined {
    const st = this.stat(absDir);
    if (st === undefined || !st.isDirectory()) return undefined;
    try {
      return readdirSync(absDir, { withFileTypes: true });
    } catch {
      return undefined;
    }
  }

  /** An environment variable of `env`, recorded with its value. */
  env(name: string, env: NodeJS.ProcessEnv): string | undefined {
    const value = env[name];
    if (!this.vars.has(name)) this.vars.set(name, value);
    return value;
  }

  /** Every path read, as first seen, in the order first read. */
  reads(): RecordedRead[] {
    return [...this.files];
  }

  /** Every environment variable read, sorted by name, with its value (null: unset). */
  envReads(): [string, string | null][] {
    return [...this.vars]
      .map(([k, v]): [string, string | null] => [k, v ?? null])
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
}

/** True when every recorded read still looks as it did (size, mtime, ctime, inode, kind). */
export function readsStillHold(reads: readonly RecordedRead[]): boolean {
  for (const [p, sig] of reads) if (signatureOf(statOrUndefined(p)) !== sig) return false;
  return true;
}

/**
 * True when some recorded path changed within `writtenMs`'s clock tick or later (git's "racily
 * clean" rule): a file modified in the same tick as the record of it could change again without
 * its metadata moving, so a shortcut written then must not be trusted.
 */
export function racilyRecorded(reads: readonly RecordedRead[], writtenMs: number): boolean {
  return reads.some(([, sig]) => Number(sig.split(":")[3]) >= writtenMs);
}
