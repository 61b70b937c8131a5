import path from "node:path";
import { type Diagnostic, formatPath, type SourceLocation } from "./diagnostic.js";
import type { Spec } from "./types.js";

type At = (string | number)[];

/** One declared output: its task, its normalized pattern, and where it is written. */
interface Declared {
  task: string;
  path: string;
  at: At;
}

const PATTERN = /[*?[{]|\$\{/;

function where(loc: SourceLocation | undefined): string {
  return loc ? ` (${loc.file}:${loc.line}:${loc.column})` : "";
}

/** `a/b/c` → `a/b`, `a`. */
function ancestors(rel: string): string[] {
  const out: string[] = [];
  for (let p = path.posix.dirname(rel); p !== "." && p !== "/"; p = path.posix.dirname(p))
    out.push(p);
  return out;
}

/**
 * Every output declared by two tasks of the spec, whichever graphs they are in: the same path
 * (`x.csv` and `./x.csv`, or the same pattern), or a path inside another task's output directory.
 * Two writers of one file run side by side and one result is lost while both are recorded fresh,
 * so each is an error at the later declaration, naming the earlier one. Patterns that merely may
 * overlap (`out/*.csv` and `out/a.csv`) are left to the runner, which never moves aside or
 * deletes another task's declared output (src/exec/output-claims.ts).
 */
export function checkOutputOwners(
  spec: Spec,
  locate: (at: At) => SourceLocation | undefined,
): Diagnostic[] {
  const byPath = new Map<string, Declared>();
  const literals: Declared[] = [];
  const out: Diagnostic[] = [];
  for (const task of Object.values(spec.tasks)) {
    for (const [i, raw] of task.outputs.entries()) {
      if (raw.startsWith("duckdb://")) continue;
      const d = {
        task: task.name,
        path: path.posix.normalize(raw.replaceAll("\\", "/")).replace(/\/$/, ""),
        at: ["tasks", task.name, "outputs", i],
      };
      const first = byPath.get(d.path);
      if (first === undefined) byPath.set(d.path, d);
      else if (first.task !== task.name) out.push(clash(d, first, "also declared", locate));
      if (!PATTERN.test(d.path)) literals.push(d);
    }
  }
  for (const d of literals) {
    for (const dir of ancestors(d.path)) {
      const owner = byPath.get(dir);
      if (owner !== undefined && owner.task !== d.task && !PATTERN.test(dir))
        out.push(clash(d, owner, "inside the output", locate));
    }
  }
  return out;
}

function clash(
  d: Declared,
  other: Declared,
  how: "also declared" | "inside the output",
  locate: (at: At) => SourceLocation | undefined,
): Diagnostic {
  const location = locate(d.at);
  const message =
    how === "also declared"
      ? `output ${d.path} of task "${d.task}" is also declared by task "${other.task}"${where(locate(other.at))}`
      : `output ${d.path} of task "${d.task}" is inside the output ${other.path} of task "${other.task}"${where(locate(other.at))}`;
  return {
    severity: "error",
    kind: "shared-output",
    path: formatPath(d.at),
    message,
    hint: `give each task outputs of its own; a task that reads ${other.path} lists it under inputs and depends on "${other.task}"`,
    ...(location ? { location } : {}),
  };
}
