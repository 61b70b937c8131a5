import type { Stats } from "node:fs";
import path from "node:path";
import { FsReads, signatureOf } from "./fs-reads.js";

/** What a path is, as far as code discovery and globbing care. */
export type EntryKind = "file" | "dir";

type RawKind = EntryKind | "link" | "other";

interface Listing {
  /** {@link signatureOf} the directory when it was listed. */
  signature: string;
  entries: Map<string, RawKind>;
}

/**
 * Directory listings kept for the life of the process and revalidated by the directory's
 * signature (mtime, ctime, inode), which changes whenever an entry is added, removed or renamed.
 * One stat then answers every "does `x.py` exist here?" probe, which matters for Python, where
 * most imports are third-party and each one probes several directories. The stat is recorded in
 * the pass's {@link FsReads} either way, so a shortcut keyed on the reads sees what the listing
 * rests on.
 */
const listings = new Map<string, Listing>();
const MAX_LISTINGS = 20_000;

function readListing(reads: FsReads, absDir: string): Map<string, RawKind> | undefined {
  const st = reads.stat(absDir);
  if (st === undefined || !st.isDirectory()) {
    listings.delete(absDir);
    return undefined;
  }
  const signature = signatureOf(st);
  const cached = listings.get(absDir);
  if (cached !== undefined && cached.signature === signature) return cached.entries;
  const dirents = reads.list(absDir);
  if (dirents === undefined) return undefined;
  const entries = new Map<string, RawKind>();
  for (const d of dirents) {
    entries.set(
      d.name,
      d.isFile() ? "file" : d.isDirectory() ? "dir" : d.isSymbolicLink() ? "link" : "other",
    );
  }
  if (listings.size >= MAX_LISTINGS) listings.clear();
  listings.set(absDir, { signature, entries });
  return entries;
}

/**
 * A consistent, memoized look at the files under one project root for the span of one pass
 * (e.g. fingerprinting every task of a plan): each directory and file is stat'ed at most once
 * per snapshot, and what was found is remembered. Paths outside the root do not exist for it
 * (checked lexically on normalized paths, so `..` can never escape).
 *
 * Share one snapshot across the calls of a single pass to avoid re-stat'ing shared helpers; make a
 * new one for the next pass, since a snapshot never notices later changes. Every read goes through
 * {@link reads}, which records it for the shortcuts keyed on what planning read.
 */
export class FsSnapshot {
  /** Absolute, normalized project root. */
  readonly root: string;
  /** The record of every read this snapshot made (shared with the rest of the pass). */
  readonly reads: FsReads;
  private readonly prefix: string;
  private readonly dirs = new Map<string, Map<string, RawKind> | undefined>();
  private readonly links = new Map<string, EntryKind | undefined>();
  private readonly stats = new Map<string, Stats | undefined>();

  constructor(root: string, reads: FsReads = new FsReads()) {
    this.root = path.resolve(root);
    this.reads = reads;
    this.prefix = this.root.endsWith(path.sep) ? this.root : this.root + path.sep;
  }

  /** True when the normalized absolute path `abs` is the root or lies under it. */
  inside(abs: string): boolean {
    return abs === this.root || abs.startsWith(this.prefix);
  }

  /** Project-relative POSIX form of an absolute path inside the root. */
  relative(abs: string): string {
    const rel = abs === this.root ? "" : abs.slice(this.prefix.length);
    return path.sep === "/" ? rel : rel.split(path.sep).join("/");
  }

  /** Entries of a directory inside the root (symlinks unresolved), or undefined if it is none. */
  list(absDir: string): ReadonlyMap<string, RawKind> | undefined {
    if (this.dirs.has(absDir)) return this.dirs.get(absDir);
    // Asking the parent first turns a probe of a missing directory into a map lookup.
    const exists = absDir === this.root || (this.inside(absDir) && this.kind(absDir) === "dir");
    const entries = exists ? readListing(this.reads, absDir) : undefined;
    this.dirs.set(absDir, entries);
    return entries;
  }

  /** Whether `abs` is a file, a directory (following symlinks), or absent/outside the root. */
  kind(abs: string): EntryKind | undefined {
    if (abs === this.root) return "dir";
    if (!this.inside(abs)) return undefined;
    // Plain slicing: `abs` is normalized, and path.dirname/basename cost more than the lookup.
    const cut = abs.lastIndexOf(path.sep);
    const raw = this.list(cut === 0 ? path.sep : abs.slice(0, cut))?.get(abs.slice(cut + 1));
    if (raw === "file" || raw === "dir") return raw;
    if (raw !== "link") return undefined;
    if (this.links.has(abs)) return this.links.get(abs);
    const st = this.stat(abs);
    const k: EntryKind | undefined = st?.isFile() ? "file" : st?.isDirectory() ? "dir" : undefined;
    this.links.set(abs, k);
    return k;
  }

  /** True when `abs` is a regular file (or a symlink to one) inside the root. */
  isFile(abs: string): boolean {
    return this.kind(abs) === "file";
  }

  /** True when `abs` is a directory (or a symlink to one) inside the root. */
  isDir(abs: string): boolean {
    return this.kind(abs) === "dir";
  }

  /** `fs.statSync` (following symlinks) of a path inside the root, memoized; undefined if absent. */
  stat(abs: string): Stats | undefined {
    if (!this.inside(abs)) return undefined;
    if (this.stats.has(abs)) return this.stats.get(abs);
    const st = this.reads.stat(abs);
    this.stats.set(abs, st);
    return st;
  }
}

/**
 * `snapshot` when given (checking it covers `root`), else a fresh one.
 *
 * @throws Error when the snapshot was made for a different root: a programming error.
 */
export function snapshotFor(root: string, snapshot: FsSnapshot | undefined): FsSnapshot {
  if (snapshot === undefined) return new FsSnapshot(root);
  if (snapshot.root !== path.resolve(root)) {
    throw new Error(`FsSnapshot of ${snapshot.root} used for project ${path.resolve(root)}`);
  }
  return snapshot;
}
