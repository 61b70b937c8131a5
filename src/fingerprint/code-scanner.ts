import type { FsSnapshot } from "./fs-snapshot.js";

/** What a scanner may consult while resolving references; all paths absolute. */
export interface ScanContext {
  fs: FsSnapshot;
  pyTasksDirs: readonly string[];
  rTasksDirs: readonly string[];
  /**
   * Remembers a resolution for the life of the snapshot. Keys must capture every input of
   * `compute` (typically the importing directory and the reference), since many task files in
   * one directory import the same modules.
   */
  memo(key: string, compute: () => string[]): readonly string[];
}

/**
 * One language's way of finding the local files a source file pulls in. `parse` is pure and its
 * result is cached per file content; `resolve` runs on every scan because whether a referenced
 * file exists can change without the referencing file changing. `resolve` returns absolute paths
 * of existing files inside the root only; references it cannot place are dropped.
 */
export interface CodeScanner<Ref> {
  parse(source: string): Ref[];
  resolve(refs: readonly Ref[], fromFile: string, ctx: ScanContext): string[];
}
