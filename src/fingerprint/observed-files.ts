import { type Stats, statSync } from "node:fs";

/**
 * The file-system facts one pass of planning rested on: every path it stat'ed (files it hashed or
 * scanned, directories it listed, spec files it looked for) with the metadata it saw. A run that
 * found every task fresh keeps this list (the no-change memo, src/cli/no-change.ts); the next run
 * with the same command re-stats the paths, and only when every one still looks the same may it
 * skip planning. A path is recorded as first seen; one seen twice with different metadata during
 * the pass makes the whole log unusable ({@link ObservedFiles.unusable}).
 */
export interface ObservedFiles {
  /** Absolute path → {@link signatureOf} its stat at first sight. */
  readonly files: Map<string, string>;
  /**
   * True when a path changed while the pass was looking at it, or the pass printed something a
   * replay of its events would not ({@link observationUnusable}).
   */
  unusable: boolean;
}

let current: ObservedFiles | undefined;

/** Starts recording into a new log (replacing any log being recorded) and returns it. */
export function startObserving(): ObservedFiles {
  current = { files: new Map(), unusable: false };
  return current;
}

/** Stops recording; the returned log is complete. */
export function stopObserving(): ObservedFiles | undefined {
  const log = current;
  current = undefined;
  return log;
}

/**
 * What a path looked like: kind, size, mtime, ctime and inode ("-" when absent). Any write,
 * rename over, or entry added to or removed from a directory changes it.
 */
export function signatureOf(st: Stats | undefined): string {
  if (st === undefined) return "-";
  const kind = st.isFile() ? "f" : st.isDirectory() ? "d" : "o";
  return `${kind}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}`;
}

/** Records that planning looked at `abs` and saw `st` (undefined: absent). No-op when not recording. */
export function observe(abs: string, st: Stats | undefined): void {
  if (current === undefined) return;
  const sig = signatureOf(st);
  const seen = current.files.get(abs);
  if (seen === undefined) current.files.set(abs, sig);
  else if (seen !== sig) current.unusable = true;
}

/** Marks the log being recorded unusable (e.g. the pass printed spec warnings). */
export function observationUnusable(): void {
  if (current !== undefined) current.unusable = true;
}

/** `existsSync` that records what it saw. */
export function observedExists(abs: string): boolean {
  let st: Stats | undefined;
  try {
    st = statSync(abs, { throwIfNoEntry: false });
  } catch {
    st = undefined; // like existsSync: unreadable counts as absent
  }
  observe(abs, st);
  return st !== undefined;
}
