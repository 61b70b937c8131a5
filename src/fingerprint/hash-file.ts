import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { FsReads } from "./fs-reads.js";

/** A file's content hash and the metadata it was taken at. */
export interface FileHash {
  size: number;
  mtimeMs: number;
  /** SHA-256 hex of the content. */
  hash: string;
}

/**
 * Remembers file hashes between runs (typically backed by the state store). Keys are the absolute
 * paths given to {@link hashFile}. It only stores; deciding whether an entry is still valid is
 * {@link hashFile}'s job.
 */
export interface FileHashCache {
  get(path: string): FileHash | undefined;
  put(path: string, h: FileHash): void;
}

/** Files up to this size are read in one call; larger ones are streamed in constant memory. */
const READ_WHOLE_LIMIT = 1 << 20;

async function contentHash(absPath: string, size: number): Promise<string> {
  if (size <= READ_WHOLE_LIMIT) {
    return createHash("sha256")
      .update(await readFile(absPath))
      .digest("hex");
  }
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(absPath)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Hashes a file's content (SHA-256), trusting `cache` when it holds the same size and mtime: then
 * the file is not read at all. Otherwise the content is hashed and put into the cache. The
 * metadata is taken before reading, so a write racing the read leaves a stale mtime in the cache
 * and the next call rehashes. Like make and git, this trusts mtimes: a same-size rewrite that
 * keeps the mtime (possible on filesystems with coarse timestamps) goes unseen.
 *
 * Planning passes its `reads` so the stat the hash rests on is recorded (see {@link FsReads}).
 *
 * @returns undefined when the path does not exist or is not a regular file.
 * @throws the underlying fs error for anything but a missing file (e.g. EACCES).
 */
export async function hashFile(
  absPath: string,
  cache?: FileHashCache,
  reads?: FsReads,
): Promise<FileHash | undefined> {
  // A synchronous stat costs microseconds; the promise version costs a thread-pool round trip,
  // which dominates a no-change rerun where every file is a cache hit.
  const st = reads ? reads.stat(absPath) : statSync(absPath, { throwIfNoEntry: false });
  if (st === undefined || !st.isFile()) return undefined;
  const cached = cache?.get(absPath);
  if (cached !== undefined && cached.size === st.size && cached.mtimeMs === st.mtimeMs) {
    return cached;
  }
  let hash: string;
  try {
    hash = await contentHash(absPath, st.size);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const fresh: FileHash = { size: st.size, mtimeMs: st.mtimeMs, hash };
  cache?.put(absPath, fresh);
  return fresh;
}
