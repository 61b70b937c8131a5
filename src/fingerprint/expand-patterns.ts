import path from "node:path";
import { type FsSnapshot, snapshotFor } from "./fs-snapshot.js";
import { escapeGlob, type GlobSegment, parseGlob } from "./glob-pattern.js";

const VAR = /\$\{([^}]*)\}/g;

function substitute(pattern: string, vars: Record<string, string>): string {
  if (!pattern.includes("${")) return pattern;
  let out = "";
  let last = 0;
  for (const m of pattern.matchAll(VAR)) {
    out += pattern.slice(last, m.index);
    const value = Object.hasOwn(vars, m[1]!) ? vars[m[1]!] : undefined;
    out += value === undefined ? "*" : escapeGlob(value);
    last = m.index + m[0].length;
  }
  return out + pattern.slice(last);
}

/** Compiled globs per process: a fan-out repeats the same few patterns thousands of times. */
const compiledGlobs = new Map<string, GlobSegment[] | undefined>();

function compiled(pattern: string): GlobSegment[] | undefined {
  if (compiledGlobs.has(pattern)) return compiledGlobs.get(pattern);
  const segs = parseGlob(pattern);
  if (compiledGlobs.size >= 10_000) compiledGlobs.clear();
  compiledGlobs.set(pattern, segs);
  return segs;
}

function visible(name: string, seg: { dot: boolean }): boolean {
  return seg.dot || !name.startsWith(".");
}

function walk(
  fs: FsSnapshot,
  dir: string,
  segs: readonly GlobSegment[],
  i: number,
  found: Set<string>,
): void {
  const seg = segs[i];
  if (seg === undefined) return;
  const last = i === segs.length - 1;
  if (seg.type === "literal") {
    const abs = path.join(dir, seg.name);
    const kind = fs.kind(abs);
    if (last) {
      if (kind === "file") found.add(fs.relative(abs));
    } else if (kind === "dir") {
      walk(fs, abs, segs, i + 1, found);
    }
    return;
  }
  const entries = fs.list(dir);
  if (entries === undefined) return;
  if (seg.type === "globstar") {
    // `**` matches zero directories: try the rest of the pattern right here...
    if (last) {
      for (const [name] of entries) {
        const abs = path.join(dir, name);
        if (!name.startsWith(".") && fs.kind(abs) === "file") found.add(fs.relative(abs));
      }
    } else {
      walk(fs, dir, segs, i + 1, found);
    }
    // ...and one or more. Real directories only: a symlinked directory could loop forever.
    for (const [name, raw] of entries) {
      if (raw === "dir" && !name.startsWith(".")) walk(fs, path.join(dir, name), segs, i, found);
    }
    return;
  }
  for (const [name] of entries) {
    if (!visible(name, seg) || !seg.regex.test(name)) continue;
    const abs = path.join(dir, name);
    const kind = fs.kind(abs);
    if (last) {
      if (kind === "file") found.add(fs.relative(abs));
    } else if (kind === "dir") {
      walk(fs, abs, segs, i + 1, found);
    }
  }
}

/**
 * Expands project-relative file patterns to the project-relative POSIX paths that exist now,
 * sorted and de-duplicated. `${VAR}` takes `vars[VAR]` literally (glob characters in the value do
 * not glob), or matches anything within a segment when the variable is absent. `*` and `?` match
 * within one path segment, `**` any number of directories; wildcards skip dot-files unless the
 * pattern segment itself starts with `.`. A pattern with no wildcard is returned as written
 * (normalized) when it exists, whether file or directory; wildcard matches are files only.
 * Patterns that resolve outside `root` (`..`, absolute paths elsewhere) match nothing.
 *
 * Pass `snapshot` to share one filesystem view across many calls of the same pass (see
 * {@link FsSnapshot}); its root must be `root`.
 *
 * @throws Error if `snapshot` belongs to another root.
 */
export async function expandPatterns(
  root: string,
  patterns: string[],
  vars: Record<string, string> = {},
  snapshot?: FsSnapshot,
): Promise<string[]> {
  const fs = snapshotFor(root, snapshot);
  const found = new Set<string>();
  for (const pattern of patterns) {
    let p = substitute(pattern, vars);
    if (p.startsWith("/")) {
      const rootPosix = fs.root.split(path.sep).join("/");
      if (!p.startsWith(`${rootPosix}/`)) continue;
      p = p.slice(rootPosix.length + 1);
    }
    const segs = compiled(p);
    if (segs === undefined || segs.length === 0) continue;
    if (segs.every((s) => s.type === "literal")) {
      const abs = path.join(fs.root, ...segs.map((s) => (s as { name: string }).name));
      // A plain path is looked up directly: listing its directory could cost far more.
      if (fs.stat(abs) !== undefined) found.add(fs.relative(abs));
      continue;
    }
    walk(fs, fs.root, segs, 0, found);
  }
  return [...found].sort();
}
