// Invariant 1 of the design: a task is done only when this attempt wrote every declared output.
// An earlier copy left in place would be hashed and recorded as this attempt's output when the
// task exits 0 without writing it, so earlier copies are moved out of the way first (one rename
// each, into the project's `.dagwright/aside/`), deleted once the attempt is recorded, and put back
// when it is not, so a failed rerun never destroys the last good result.
//
// The aside directory is flat: one entry per moved output, named `<owner>=<its path>` (URI-encoded,
// so `=` and `/` inside names are escaped), because creating and removing a directory per attempt
// costs ten times the rename itself on ext4. A name too long for the file system becomes
// `<owner>=#<hash>`, its path kept in `<owner>=#<hash>#path`.
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { expandPatterns } from "../fingerprint/expand-patterns.js";
import type { PlanContext } from "../plan/plan-task.js";
import type { TaskSpec } from "../spec/types.js";
import { escapeMessage, outputEscapes } from "./output-realpath.js";

/** Whose outputs: a task, or one item of a mapped task (items of a bundle each have their own). */
export interface OutputsOwner {
  /** The state namespace: runners of other namespaces (branches, graphs) never adopt its copies. */
  namespace?: string;
  task: string;
  item?: string;
}

/** The earlier copies of one attempt's declared outputs, out of the way until it settles. */
export interface AsideOutputs {
  /** The attempt was recorded as a success: the earlier copies are deleted. */
  discard(): void;
  /**
   * The attempt was not recorded as a success (failed, cancelled, timed out, wrote too little,
   * superseded): what it wrote at its declared outputs is removed and the earlier copies are put
   * back where they were.
   */
  restore(): Promise<void>;
}

/**
 * Moves the files (or directories) that match `patterns` now aside, before an attempt of
 * `owner` launches. Patterns are relative to `plan.outputsDir`, `${VAR}` already filled for an
 * item; `duckdb://` outputs and `inPlace` patterns are left where they are. Copies left aside by
 * a runner that died mid-attempt of the same owner (kill -9) are put back first, so they are the
 * ones this attempt moves aside. A path `claimed` says another task declares is never moved
 * aside nor deleted (see `OutputClaims`): overlapping declarations must not destroy another
 * task's output. Undefined when there is nothing to manage: such a task pays nothing.
 *
 * @throws Error naming the owner and the path when an earlier copy cannot be moved (the attempt
 *   must not start then: its old output would be taken for a new one), or when a declared output
 *   leads outside the outputs directory through a symbolic link (see {@link outputEscapes}).
 */
export async function moveOutputsAside(
  plan: PlanContext,
  owner: OutputsOwner,
  patterns: readonly string[],
  inPlace: readonly string[] = [],
  claimed: (rel: string) => boolean = () => false,
): Promise<AsideOutputs | undefined> {
  const base = plan.outputsDir;
  for (const p of patterns) {
    if (p.startsWith("duckdb://")) continue;
    const real = outputEscapes(plan, p);
    if (real !== undefined)
      throw new Error(`${ownerLabel(owner)}: ${escapeMessage(p, real, base)}`);
  }
  const managed = patterns.filter((p) => !p.startsWith("duckdb://") && !inPlace.includes(p));
  if (managed.length === 0) return undefined;
  const dir = path.join(plan.spec.root, ".dagwright", "aside");
  const prefix = `${ownerName(owner)}=`;
  putBack(dir, prefix, base, leftoversOf(dir, prefix));
  const moved: string[] = [];
  for (const rel of await expandPatterns(base, managed)) {
    if (claimed(rel)) continue;
    try {
      moved.push(moveAside(dir, prefix, base, rel));
    } catch (err) {
      putBack(dir, prefix, base, moved);
      throw new Error(
        `${ownerLabel(owner)}: could not move the earlier copy of ${rel} aside before the attempt (${(err as Error).message}); ` +
          `check that dagwright may rename files under ${base} and ${dir}`,
      );
    }
  }
  return {
    discard: () => {
      for (const name of moved) {
        try {
          unlinkSync(path.join(dir, name));
        } catch {
          rmSync(path.join(dir, name), { recursive: true, force: true });
        }
        if (name.includes("=#")) rmSync(path.join(dir, `${name}#path`), { force: true });
      }
    },
    restore: async () => {
      for (const rel of await expandPatterns(base, managed))
        if (!claimed(rel) && outputEscapes(plan, rel) === undefined)
          rmSync(path.join(base, rel), { recursive: true, force: true });
      putBack(dir, prefix, base, moved);
    },
  };
}

/**
 * {@link moveOutputsAside} for each item of a bundle, in order. An item moves aside only the
 * outputs whose pattern names a `${VAR}` (its own): a fixed path in a mapped task is written by
 * every item, so no single item may move it. If one item's copies cannot be moved, those already
 * moved are put back before the error is thrown.
 *
 * @throws Error as {@link moveOutputsAside} does.
 */
export async function moveItemOutputsAside(
  plan: PlanContext,
  task: TaskSpec,
  items: readonly { key: string; outputs: readonly string[] }[],
  claimed: (rel: string) => boolean = () => false,
  namespace?: string,
): Promise<(AsideOutputs | undefined)[]> {
  const asides: (AsideOutputs | undefined)[] = [];
  if (!task.outputs.some((p) => p.includes("${"))) return asides;
  try {
    for (const item of items) {
      const owned: string[] = [];
      for (const [i, p] of task.outputs.entries())
        if (p.includes("${") && !task.inPlaceOutputs.includes(p)) owned.push(item.outputs[i]!);
      asides.push(
        await moveOutputsAside(
          plan,
          { ...(namespace === undefined ? {} : { namespace }), task: task.name, item: item.key },
          owned,
          [],
          claimed,
        ),
      );
    }
  } catch (err) {
    for (const a of asides) await a?.restore();
    throw err;
  }
  return asides;
}

function ownerLabel(owner: OutputsOwner): string {
  return owner.item === undefined
    ? `task "${owner.task}"`
    : `task "${owner.task}", item "${owner.item}"`;
}

/** `[<namespace>~]<task>[@<item>]`, encoded: never holds `=`, `/` or `#`. */
function ownerName(owner: OutputsOwner): string {
  const task =
    owner.item === undefined
      ? encodeName(owner.task)
      : `${encodeName(owner.task)}@${encodeName(owner.item)}`;
  return owner.namespace === undefined ? task : `${encodeName(owner.namespace)}~${task}`;
}

/** A file name part for any string: safe characters as they are, a hash when too long. */
function encodeName(s: string): string {
  const enc = encodeURIComponent(s).replaceAll(".", "%2E").replaceAll("*", "%2A");
  return enc.length <= 100 ? enc : `${enc.slice(0, 40)}~${hash(s)}`;
}

function hash(s: string): string {
  return createHash("sha256").update(s).digest("hex").slice(0, 32);
}

/** Names under `dir` an earlier runner left for this owner (none, nearly always: one readdir). */
function leftoversOf(dir: string, prefix: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(prefix) && !n.endsWith("#path"));
}

/** Moves `base/rel` to `dir`; returns its name there. */
function moveAside(dir: string, prefix: string, base: string, rel: string): string {
  let name = `${prefix}${encodeURIComponent(rel)}`;
  if (Buffer.byteLength(name) > 240) {
    name = `${prefix}#${hash(rel)}`;
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `${name}#path`), rel);
  }
  moveEntry(path.join(base, rel), path.join(dir, name));
  return name;
}

/** The path relative to `base` an aside entry came from, if it reads back as one. */
function pathOf(dir: string, prefix: string, name: string): string | undefined {
  try {
    const rest = name.slice(prefix.length);
    const rel = rest.startsWith("#")
      ? readFileSync(path.join(dir, `${name}#path`), "utf8")
      : decodeURIComponent(rest);
    const norm = path.posix.normalize(rel);
    // Only what moveAside wrote: a relative path that stays inside.
    if (norm !== rel || norm === ".." || norm.startsWith("../") || path.posix.isAbsolute(norm))
      return undefined;
    return rel;
  } catch {
    return undefined;
  }
}

/** rename, or copy and delete across file systems (a scratch dir on another mount). */
function moveEntry(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && existsSync(from)) {
      mkdirSync(path.dirname(to), { recursive: true });
      renameSync(from, to);
    } else if (code === "EXDEV") {
      cpSync(from, to, { recursive: true, preserveTimestamps: true });
      rmSync(from, { recursive: true, force: true });
    } else throw err;
  }
}

/** Aside entries `names` back to their paths under `base`, replacing what is there. */
function putBack(dir: string, prefix: string, base: string, names: readonly string[]): void {
  for (const name of names) {
    const rel = pathOf(dir, prefix, name);
    if (rel !== undefined) {
      const target = path.join(base, rel);
      rmSync(target, { recursive: true, force: true });
      moveEntry(path.join(dir, name), target);
    } else rmSync(path.join(dir, name), { recursive: true, force: true });
    if (name.includes("=#")) rmSync(path.join(dir, `${name}#path`), { force: true });
  }
}
