import { fileURLToPath } from "node:url";
import type { TaskSpec } from "../spec/types.js";
import { compiledIfCurrent, needsCompile, projectRootFor } from "./compile-ts.js";
import { nodeModuleOf } from "./launch-task.js";
import type { PreloadModule } from "./node-worker-pool.js";
import type { WorkerPools } from "./worker-pools.js";

/** At most this many modules are imported ahead: the rest load at their first call. */
const MAX_MODULES = 4;

/**
 * Starts `workers` TS/JS workers, each importing the modules of `tasks` (up to four) ahead of the
 * first call, with the env of the first task of each module (`envOf`) set while it is imported.
 * A task whose module cannot be resolved is left out: its launch reports the problem.
 */
export function prewarmNodeWorkers(
  root: string,
  tasks: readonly TaskSpec[],
  workers: number,
  envOf: (task: TaskSpec) => Record<string, string>,
  pools: WorkerPools,
): void {
  const modules = new Map<string, PreloadModule>();
  for (const task of tasks) {
    if (modules.size >= MAX_MODULES) break;
    let url: string;
    try {
      url = nodeModuleOf({ task, root }).url;
    } catch {
      continue;
    }
    if (modules.has(url)) continue;
    const m: PreloadModule = { url, env: envOf(task) };
    const file = fileURLToPath(url);
    if (needsCompile(file)) {
      // The cache the worker would use: it resolves it the same way, from the root it runs in.
      const out = compiledIfCurrent(file, projectRootFor(file, root));
      if (out !== undefined) m.compiled = out;
    }
    modules.set(url, m);
  }
  pools.node(root).prewarm(workers, [...modules.values()]);
}
