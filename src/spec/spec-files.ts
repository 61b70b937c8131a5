import { readFileSync, type Stats, statSync } from "node:fs";

/**
 * How spec loading reads the file system: the spec file, pyproject.toml and the probes that
 * resolve task files. Commands that keep a shortcut (the spec cache, the no-change memo) pass a
 * recording implementation (`FsReads` in src/fingerprint/fs-reads.ts), so that every read that
 * shaped the loaded spec is known; anything else may use {@link directSpecFiles}.
 */
export interface SpecFiles {
  /** `statSync` following symlinks; undefined when absent or unreadable. */
  stat(abs: string): Stats | undefined;
  /** Whether `abs` exists (file or directory). */
  exists(abs: string): boolean;
  /** The file's UTF-8 text. Throws like `readFileSync`. */
  readText(abs: string): string;
}

/** `statSync` following symlinks; undefined when absent or unreadable (like `existsSync`). */
export function statOrUndefined(abs: string): Stats | undefined {
  try {
    return statSync(abs, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** Plain reads, recorded nowhere. */
export const directSpecFiles: SpecFiles = {
  stat: statOrUndefined,
  exists: (abs) => statOrUndefined(abs) !== undefined,
  readText: (abs) => readFileSync(abs, "utf8"),
};
