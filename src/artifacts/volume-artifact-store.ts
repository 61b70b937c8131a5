import { constants, type Dirent, type Stats } from "node:fs";
import { copyFile, mkdir, readdir, realpath, rename, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { hashFile } from "../fingerprint/hash-file.js";
import { DagwrightError } from "../spec/errors.js";
import {
  missingLocalFile,
  toArtifactPath,
  toArtifactPaths,
  toArtifactPrefix,
} from "./artifact-path.js";
import type { ArtifactStore, PullResult } from "./artifact-store.js";
import { fileStat, isTempName, removeTemp, tempPathFor } from "./atomic-file.js";
import { mapLimit } from "./map-limit.js";

/** Options of {@link VolumeArtifactStore}. */
export interface VolumeArtifactStoreOptions {
  /** Files copied at once (default 8). */
  concurrency?: number;
}

/**
 * An artifact location on a mounted volume (a Kubernetes PVC, an NFS share): the file `p` lives
 * at `<volume>/p`. Copies go to a temporary name in the destination directory and are renamed
 * into place, so readers on other pods never see half a file. Copies use `copyFile` (the kernel
 * copies; nothing is buffered in memory).
 *
 * When the volume is the project root itself (the default in rendered workflows, where the PVC
 * is mounted at the project root), pull and push are no-ops: the files are already shared.
 *
 * Paths are checked lexically (Invariant 5); a symlink inside the volume is followed like any
 * other file.
 */
export class VolumeArtifactStore implements ArtifactStore {
  readonly location: string;
  readonly #volume: string;
  readonly #concurrency: number;

  private constructor(volume: string, options: VolumeArtifactStoreOptions) {
    this.#volume = volume;
    this.location = `volume ${volume}`;
    this.#concurrency = options.concurrency ?? 8;
  }

  /**
   * Opens a volume store rooted at the absolute directory `volume`.
   *
   * @throws DagwrightError `E_ENV` when the directory does not exist (the volume is not mounted)
   *   or is not a directory.
   */
  static async open(
    volume: string,
    options: VolumeArtifactStoreOptions = {},
  ): Promise<VolumeArtifactStore> {
    const dir = resolve(volume);
    let st: Stats;
    try {
      st = await stat(dir);
    } catch (error) {
      throw new DagwrightError(
        "E_ENV",
        `cannot reach volume ${dir} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
        { cause: error, hint: `mount the shared volume at ${dir}, or fix the artifact location` },
      );
    }
    if (!st.isDirectory()) {
      throw new DagwrightError("E_ENV", `cannot reach volume ${dir} (not a directory)`, {
        hint: "the artifact location must be a directory (file:///abs/path or /abs/path)",
      });
    }
    return new VolumeArtifactStore(dir, options);
  }

  async pull(root: string, paths: readonly string[]): Promise<PullResult> {
    const rels = toArtifactPaths(paths);
    const result: PullResult = { fetched: [], upToDate: [], missing: [] };
    const same = await this.#isVolume(root);
    const outcomes = await mapLimit(rels, this.#concurrency, async (rel) => {
      const from = join(this.#volume, rel);
      const src = await fileStat(from);
      if (src === undefined) return "missing" as const;
      if (same) return "upToDate" as const;
      const to = join(root, rel);
      if (await sameContent(from, src, to)) return "upToDate" as const;
      await copyAtomically(from, to);
      return "fetched" as const;
    });
    rels.forEach((rel, i) => {
      result[outcomes[i] as keyof PullResult].push(rel);
    });
    return result;
  }

  async push(root: string, paths: readonly string[]): Promise<void> {
    const rels = toArtifactPaths(paths);
    const same = await this.#isVolume(root);
    await mapLimit(rels, this.#concurrency, async (rel) => {
      const from = join(root, rel);
      const src = await fileStat(from);
      if (src === undefined) throw missingLocalFile(rel, root);
      if (same) return;
      const to = join(this.#volume, rel);
      if (await sameContent(from, src, to)) return;
      await copyAtomically(from, to);
    });
  }

  async exists(paths: readonly string[]): Promise<Set<string>> {
    const rels = toArtifactPaths(paths);
    const found = await mapLimit(rels, this.#concurrency, async (rel) =>
      (await fileStat(join(this.#volume, rel))) === undefined ? undefined : rel,
    );
    return new Set(found.filter((rel): rel is string => rel !== undefined));
  }

  async list(prefix: string): Promise<string[]> {
    const norm = toArtifactPrefix(prefix);
    // Only the directory the prefix points into needs walking.
    const dir = norm.includes("/") ? norm.slice(0, norm.lastIndexOf("/")) : "";
    const out: string[] = [];
    await walk(join(this.#volume, dir), dir, out);
    return out.filter((rel) => rel.startsWith(norm)).sort();
  }

  async close(): Promise<void> {}

  /** True when `root` is the volume itself (the PVC mounted at the project root). */
  async #isVolume(root: string): Promise<boolean> {
    const real = await realpath(root).catch(() => resolve(root));
    const volume = await realpath(this.#volume).catch(() => this.#volume);
    return real === volume;
  }
}

/** Same size and SHA-256; sizes are compared first so differing files are never read. */
async function sameContent(from: string, fromStat: Stats, to: string): Promise<boolean> {
  const dest = await fileStat(to);
  if (dest === undefined || dest.size !== fromStat.size) return false;
  const [a, b] = await Promise.all([hashFile(from), hashFile(to)]);
  return a !== undefined && b !== undefined && a.hash === b.hash;
}

async function copyAtomically(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  const temp = tempPathFor(to);
  try {
    await copyFile(from, temp, constants.COPYFILE_EXCL);
    await rename(temp, to);
  } catch (error) {
    await removeTemp(temp);
    throw error;
  }
}

/** Appends the project-relative paths of the regular files under `abs` (skipping temp files). */
async function walk(abs: string, rel: string, out: string[]): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(abs, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return;
    throw error;
  }
  for (const entry of entries) {
    const childRel = rel === "" ? entry.name : `${rel}/${entry.name}`;
    if (entry.isDirectory()) await walk(join(abs, entry.name), childRel, out);
    else if (entry.isFile() && !isTempName(entry.name)) out.push(toArtifactPath(childRel));
  }
}
