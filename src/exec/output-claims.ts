import path from "node:path";
import { declaresOutput } from "../fingerprint/declared-paths.js";
import type { Graph } from "../graph/graph.js";
import type { TaskSpec } from "../spec/types.js";

const GLOB = /[*?[{]|\$\{/;

/**
 * Which task of a graph declares which output path, so that moving one task's earlier outputs
 * aside (src/exec/attempt-outputs.ts) never touches a file another task declares: `a` with
 * `out/*.csv` must not move, delete or restore `out/b.csv` that `b` declares. Literal paths are
 * looked up in a map (a graph of 1,000 tasks stays cheap); only tasks with glob or `${VAR}`
 * outputs are matched pattern by pattern.
 */
export class OutputClaims {
  /** Literal output path → the tasks declaring it. */
  private readonly exact = new Map<string, Set<string>>();
  /** Directory → the tasks declaring a literal output under it. */
  private readonly containing = new Map<string, Set<string>>();
  private readonly patterned: TaskSpec[] = [];

  constructor(
    graph: Graph,
    private readonly outputsDir: string,
  ) {
    for (const { spec } of Object.values(graph.tasks)) {
      let hasPattern = false;
      for (const o of spec.outputs) {
        if (o.startsWith("duckdb://")) continue;
        if (GLOB.test(o)) {
          hasPattern = true;
          continue;
        }
        const rel = path.posix.normalize(o.replaceAll("\\", "/"));
        add(this.exact, rel, spec.name);
        for (const dir of ancestors(rel)) add(this.containing, dir, spec.name);
      }
      if (hasPattern) this.patterned.push(spec);
    }
  }

  /**
   * True when a task other than `task` declares `rel` (relative to the outputs directory, POSIX)
   * as its output, declares a path under it (`rel` is a directory holding another task's output),
   * or declares a directory above it.
   */
  byOther(task: string, rel: string): boolean {
    const norm = path.posix.normalize(rel);
    const other = (owners: Set<string> | undefined) =>
      owners !== undefined && (owners.size > 1 || !owners.has(task));
    if (other(this.exact.get(norm)) || other(this.containing.get(norm))) return true;
    for (const dir of ancestors(norm)) if (other(this.exact.get(dir))) return true;
    const abs = path.join(this.outputsDir, norm);
    return this.patterned.some((t) => t.name !== task && declaresOutput(t, this.outputsDir, abs));
  }
}

function add(map: Map<string, Set<string>>, key: string, task: string): void {
  let owners = map.get(key);
  if (owners === undefined) {
    owners = new Set();
    map.set(key, owners);
  }
  owners.add(task);
}

/** `a/b/c` → `a/b`, `a`. */
function ancestors(rel: string): string[] {
  const out: string[] = [];
  for (
    let p = path.posix.dirname(rel);
    p !== "." && p !== "/" && p !== "";
    p = path.posix.dirname(p)
  )
    out.push(p);
  return out;
}
