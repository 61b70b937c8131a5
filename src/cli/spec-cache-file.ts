import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { type FsReads, type RecordedRead, readsStillHold } from "../fingerprint/fs-reads.js";
import type { Located } from "../spec/find-spec-file.js";
import { buildSignature } from "./package-files.js";
import { writeShortcutFile } from "./shortcut-file.js";
import { decodeLoaded, encodeLoaded, type Loaded } from "./spec-cache.js";

const CACHE_VERSION = 4;

interface CacheFile {
  key: string;
  /** Every file-system read the full load made, with what it saw. */
  reads: RecordedRead[];
  loaded: unknown;
}

/** Where the spec cache of a project lives. */
export function specCachePath(root: string): string {
  return path.join(root, ".dagwright", "spec-cache.json");
}

/**
 * The key of a spec cache entry: the dagwright build ({@link buildSignature}), the working directory, the spec file found
 * and `-f` as given, and the spec file's bytes (read through `reads`, so they are recorded too).
 * Everything else loading read is checked by the entry's own record of reads.
 */
export function specCacheKey(
  reads: FsReads,
  cwd: string,
  explicit: string | undefined,
  located: Located,
): string {
  return createHash("sha256")
    .update(JSON.stringify([CACHE_VERSION, buildSignature(), cwd, explicit ?? null, located.file]))
    .update(reads.readBytes(located.file))
    .digest("hex");
}

/**
 * The cached spec for `key`, when every read the full load made still looks the same; those reads
 * then join `reads` (the command's record, which the no-change memo is keyed on).
 */
export function readSpecCache(file: string, key: string, reads: FsReads): Loaded | undefined {
  try {
    const cached = JSON.parse(readFileSync(file, "utf8")) as CacheFile;
    if (cached.key !== key || !Array.isArray(cached.reads)) return undefined;
    if (!readsStillHold(cached.reads)) return undefined;
    const loaded = decodeLoaded(cached.loaded);
    reads.adopt(cached.reads);
    return loaded;
  } catch {
    return undefined;
  }
}

/** Keeps a clean full load with the reads it made (`loadReads`: loading's own record). */
export function writeSpecCache(
  file: string,
  key: string,
  loaded: Loaded,
  loadReads: readonly RecordedRead[],
): void {
  let content: string;
  try {
    content = JSON.stringify({ key, reads: loadReads, loaded: encodeLoaded(loaded) });
  } catch {
    return;
  }
  writeShortcutFile(file, content, loadReads);
}
