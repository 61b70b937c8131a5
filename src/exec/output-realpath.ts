import { realpathSync } from "node:fs";
import path from "node:path";
import type { PlanContext } from "../plan/plan-task.js";

const GLOB_SEGMENT = /[*?[{]|\$\{/;

/** Real paths of directories, per planning pass: a fan-out asks about the same few thousands of times. */
const realDirs = new WeakMap<PlanContext, Map<string, string>>();

/**
 * The real path of `abs`: symbolic links resolved in its deepest existing ancestor, the rest (not
 * created yet) appended as written.
 */
function realPathOf(plan: PlanContext, abs: string): string {
  let memo = realDirs.get(plan);
  if (memo === undefined) {
    memo = new Map();
    realDirs.set(plan, memo);
  }
  const tail: string[] = [];
  for (let p = abs; ; p = path.dirname(p)) {
    const known = memo.get(p);
    if (known !== undefined) return path.join(known, ...tail.reverse());
    try {
      const real = realpathSync(p);
      if (p !== abs || tail.length > 0) memo.set(p, real);
      return path.join(real, ...tail.reverse());
    } catch {
      if (path.dirname(p) === p) return path.join(p, ...tail.reverse());
      tail.push(path.basename(p));
    }
  }
}

/** The directory part of a pattern before its first glob or `${VAR}` segment. */
function literalPrefix(pattern: string): string {
  const segments = pattern.replaceAll("\\", "/").split("/");
  const cut = segments.findIndex((s) => GLOB_SEGMENT.test(s));
  return (cut === -1 ? segments : segments.slice(0, cut)).join("/");
}

/**
 * Where output `rel` (a path or pattern relative to the outputs directory) really leads when a
 * symbolic link on the way takes it outside the outputs directory; undefined when it stays inside.
 * The spec's own check is lexical (`..`, absolute paths): a link such as `out -> /elsewhere` only
 * shows here, on disk.
 */
export function outputEscapes(plan: PlanContext, rel: string): string | undefined {
  const base = realPathOf(plan, plan.outputsDir);
  const real = realPathOf(plan, path.join(plan.outputsDir, literalPrefix(rel)));
  return real === base || real.startsWith(`${base}${path.sep}`) ? undefined : real;
}

/** What is wrong with an output that leads outside the outputs directory `base`, and the fix. */
export function escapeMessage(rel: string, real: string, base: string): string {
  return `output ${rel} leads to ${real}, outside ${base}, through a symbolic link; dagwright moves, deletes and records outputs only inside it (replace the link by a directory)`;
}
