import type { FsReads } from "./fs-reads.js";
import { type FileHash, type FileHashCache, hashFile } from "./hash-file.js";

/** How many files are read at once when cache misses force reading. */
const CONCURRENCY = 16;

/**
 * {@link hashFile} for many paths with at most 16 reads in flight. Every distinct requested path
 * is a key of the result, `undefined` when the file does not exist.
 *
 * @throws the first fs error other than a missing file.
 */
export async function hashFiles(
  absPaths: Iterable<string>,
  cache?: FileHashCache,
  reads?: FsReads,
): Promise<Map<string, FileHash | undefined>> {
  const paths = [...new Set(absPaths)];
  const result = new Map<string, FileHash | undefined>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const p = paths[next++]!;
      result.set(p, await hashFile(p, cache, reads));
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, paths.length) }, worker));
  // Insertion order follows completion; rebuild it in request order so callers iterate stably.
  return new Map(paths.map((p) => [p, result.get(p)]));
}
