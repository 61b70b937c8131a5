import { type Dirent, readdirSync, statSync } from "node:fs";
import path from "node:path";

/** What a path is, as far as code discovery and globbing care. */
export type EntryKind = "file" | "dir";

type RawKind = EntryKind | "link" | "other";

interface Listing {
  mtimeMs: number;
  entries: Map<string, RawKind>;
}

/**
 * Directory listings kept for the life of the process and revalidated by the directory's mtime,
 * which changes whenever an entry is added, removed or renamed. One stat then answers every
 * "does `x.py` exist here?" probe, which matters for Python, where most imports are third-party
 * and each one probes several directories.
 */
const listings = new Map<string, Listing>();
const MAX_LISTINGS = 20_000;

function readListing(absDir: string): Map<string, RawKind> | undefined {
  const st = statSync(absDir, { throwIfNoEntry: false });
  if (st === undefined || !st.isDirectory()) {
    listings.delete(absDir);
    return undefined;
  }
  const cached = listings.get(absDir);
  if (cached !== undefined && cached.mtimeMs === st.mtimeMs) return cached.entries;
  let dirents: Dirent[];
  try {
    dirents = readdirSync(absDir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  const entries = new Map<string, RawKind>();
  for (const d of dirents) {
    entries.set(
      d.name,
      d.isFile() ? "file" : d.isDirectory() ? "dir" : d.isSymbolicLink() ? "link" : "other",
    );
  }
  if (listings.size >= MAX_LISTINGS) listings.clear();
  listings.set(absDir, { mtimeMs: st.mtimeMs, entries });
  return entries;
}

/**
 * A consistent, memoized look at the files under one project root for the span of a single scan:
 * each directory is stat'ed at most once per view. Paths outside the root do not exist for it
 * (checked lexically, so `..` can never escape). Create a new view per scan; never keep one
 * across scans, or it will miss changes.
 */
export class FsView {
  readonly root: string;
  private readonly dirs = new Map<string, Map<string, RawKind> | undefined>();
  private readonly links = new Map<string, EntryKind | undefined>();

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /** True when `abs` is the root or lies under it. */
  inside(abs: string): boolean {
    const rel = path.relative(this.root, abs);
    return rel === "" || !(rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel));
  }

  /** Project-relative POSIX form of an absolute path inside the root. */
  relative(abs: string): string {
    return path.relative(this.root, abs).split(path.sep).join("/");
  }

  /** Entries of a directory inside the root (symlinks resolved), or undefined if it is none. */
  list(absDir: string): ReadonlyMap<string, RawKind> | undefined {
    if (!this.inside(absDir)) return undefined;
    if (this.dirs.has(absDir)) return this.dirs.get(absDir);
    const entries = readListing(absDir);
    this.dirs.set(absDir, entries);
    return entries;
  }

  /** Whether `abs` is a file, a directory (following symlinks), or absent/outside the root. */
  kind(abs: string): EntryKind | undefined {
    if (!this.inside(abs)) return undefined;
    if (abs === this.root) return "dir";
    const raw = this.list(path.dirname(abs))?.get(path.basename(abs));
    if (raw === "file" || raw === "dir") return raw;
    if (raw !== "link") return undefined;
    if (this.links.has(abs)) return this.links.get(abs);
    const st = statSync(abs, { throwIfNoEntry: false });
    const k: EntryKind | undefined = st?.isFile() ? "file" : st?.isDirectory() ? "dir" : undefined;
    this.links.set(abs, k);
    return k;
  }

  isFile(abs: string): boolean {
    return this.kind(abs) === "file";
  }

  isDir(abs: string): boolean {
    return this.kind(abs) === "dir";
  }
}
