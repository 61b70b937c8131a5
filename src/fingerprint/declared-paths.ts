import path from "node:path";
import type { TaskSpec } from "../spec/types.js";
import { type GlobSegment, parseGlob } from "./glob-pattern.js";

/** Where a task's declared paths are relative to. */
export interface DeclaredBases {
  /** Absolute project root: `inputs` are relative to it. */
  root: string;
  /** Absolute directory `outputs` are relative to (the root, or the scratch dir for kptn). */
  outputsDir: string;
}

const VAR = /\$\{[^}]*\}/g;

/** Compiled patterns per process; `undefined` marks a pattern that matches nothing. */
const compiled = new Map<string, GlobSegment[] | undefined>();

function segmentsOf(pattern: string): GlobSegment[] | undefined {
  if (compiled.has(pattern)) return compiled.get(pattern);
  // A `${VAR}` stands for any item's value, so it matches anything within one segment.
  const segs = parseGlob(pattern.replaceAll("\\", "/").replace(VAR, "*"));
  if (compiled.size >= 10_000) compiled.clear();
  compiled.set(pattern, segs !== undefined && segs.length > 0 ? segs : undefined);
  return compiled.get(pattern);
}

/** True when `segs[i..]` matches `parts[j..]` exactly or a leading part of it (a declared directory). */
function matchesOrContains(
  segs: readonly GlobSegment[],
  i: number,
  parts: readonly string[],
  j: number,
): boolean {
  const seg = segs[i];
  if (seg === undefined) return true;
  if (seg.type === "globstar") {
    return (
      matchesOrContains(segs, i + 1, parts, j) ||
      (j < parts.length && matchesOrContains(segs, i, parts, j + 1))
    );
  }
  const part = parts[j];
  if (part === undefined) return false;
  const ok = seg.type === "literal" ? seg.name === part : seg.regex.test(part);
  return ok && matchesOrContains(segs, i + 1, parts, j + 1);
}

function declaredUnder(base: string, patterns: readonly string[], abs: string): boolean {
  const rel = path.relative(base, abs);
  if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) return false;
  const parts = rel.split(path.sep);
  for (const pattern of patterns) {
    if (pattern.startsWith("duckdb://")) continue;
    const segs = segmentsOf(pattern);
    if (segs !== undefined && matchesOrContains(segs, 0, parts, 0)) return true;
  }
  return false;
}

/**
 * True when the absolute path `abs` is data the task declares: it is, or lies under, a path that
 * one of the task's `outputs` (relative to `bases.outputsDir`) or `inputs` (relative to
 * `bases.root`) names, where globs and `${VAR}` placeholders match any value. Matching is
 * deliberately generous (dot-files match wildcards too), since its one use is to stop code
 * discovery from taking data for a program. Pure: reads nothing from disk.
 */
export function isDeclaredPath(task: TaskSpec, bases: DeclaredBases, abs: string): boolean {
  return (
    declaredUnder(bases.outputsDir, task.outputs, abs) ||
    declaredUnder(bases.root, task.inputs, abs)
  );
}

/**
 * True when `abs` is, or lies under, a path one of the task's `outputs` names (relative to
 * `outputsDir`; globs and `${VAR}` match any value). Pure: reads nothing from disk.
 */
export function declaresOutput(task: TaskSpec, outputsDir: string, abs: string): boolean {
  return declaredUnder(outputsDir, task.outputs, abs);
}
