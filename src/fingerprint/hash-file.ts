import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { FsReads } from "./fs-reads.js";

/** A file's content hash and the metadata it was taken at. */
export interface FileHash {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  /** When the content was read (epoch ms); see {@link RACY_MS}. */
  hashedAtMs: number;
  /** SHA-256 hex of the content. */
  hash: string;
}

/**
 * A hash taken within this long after the file's last change is not trusted later (git's
 * "racily clean" rule): a second write in the same timestamp tick (2 s on FAT, 1 s on HFS+ and
 * some network filesystems) could leave every piece of metadata as it was.
 */
export const RACY_MS = 2000;

/**
 * True when `cached` still describes the file `st` describes: same size, mtime, ctime and inode,
 * and hashed clearly after the last change. ctime and the inode catch what mtime cannot: a
 * same-size rewrite whose mtime was restored (`cp -p`, `rsync -a`, `tar x`, `touch -r`).
 */
export function stillValid(
  cached: FileHash,
  st: { size: number; mtimeMs: number; ctimeMs: number; ino: number },
): boolean {
  return (
    cached.size === st.size &&
    cached.mtimeMs === st.mtimeMs &&
    cached.ctimeMs === st.ctimeMs &&
    cached.ino === st.ino &&
    cached.hashedAtMs - Math.max(st.mtimeMs, st.ctimeMs) >= RACY_MS
  );
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
 * Hashes a file's content (SHA-256), trusting `cache` when its entry is {@link stillValid}: then
 * the file is not read at all. Otherwise the content is hashed and put into the cache. The
 * metadata is taken before reading, so a write racing the read leaves stale metadata in the cache
 * and the next call rehashes.
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
  if (cached !== undefined && stillValid(cached, st)) return cached;
  const hashedAtMs = Date.now();
  let hash: string;
  try {
    hash = await contentHash(absPath, st.size);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const fresh: FileHash = {
    size: st.size,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
    ino: st.ino,
    hashedAtMs,
    hash,
  };
  cache?.put(absPath, fresh);
  return fresh;
}
