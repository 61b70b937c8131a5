import { randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import { stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

const TEMP_SUFFIX = ".dagwright-tmp";

/**
 * A temporary name in the same directory as `target` (so the final rename is atomic), hidden and
 * unique per process and call: `.report.csv.1234.a1b2c3d4.dagwright-tmp`.
 */
export function tempPathFor(target: string): string {
  // Keep the name under NAME_MAX (255) even for long file names.
  const base = basename(target).slice(0, 180);
  const unique = `${process.pid}.${randomBytes(4).toString("hex")}`;
  return join(dirname(target), `.${base}.${unique}${TEMP_SUFFIX}`);
}

/** True for a name made by {@link tempPathFor}; listings skip these half-written files. */
export function isTempName(name: string): boolean {
  return name.startsWith(".") && name.endsWith(TEMP_SUFFIX);
}

/** Removes a temporary file if it exists. */
export async function removeTemp(path: string): Promise<void> {
  await unlink(path).catch(() => {});
}

/** A regular file's stat, or undefined when the path is absent or not a regular file. */
export async function fileStat(path: string): Promise<Stats | undefined> {
  try {
    const st = await stat(path);
    return st.isFile() ? st : undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw error;
  }
}
