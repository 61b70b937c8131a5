import path from "node:path";
import type { GraphTask } from "../graph/graph.js";
import { projectDatabasePath } from "../spec/duckdb-database.js";
import { isRefArg } from "../spec/types.js";
import type { RunGraphOptions } from "./run-options.js";

/** What a task is launched with: its function inputs and the env over its own. */
export interface TaskInputs {
  inputs: {
    deps: Record<string, unknown>;
    args: Record<string, unknown>;
    config: Record<string, unknown>;
  };
  env: Record<string, string>;
}

/**
 * The launch inputs of the tasks of one run: dependency results (for function tasks), args with
 * their `{ ref }`s resolved from the state store, and the env every task gets over its own.
 */
export class LaunchInputs {
  private readonly pythonPath: string;
  private readonly database: string;

  constructor(private readonly o: RunGraphOptions) {
    const root = o.plan.spec.root;
    this.pythonPath = o.plan.spec.settings.pyTasksDirs.map((d) => path.join(root, d)).join(":");
    this.database = projectDatabasePath(root, o.plan.spec.settings);
  }

  /** The env every task gets, over its own. */
  envOf(task: { name: string; env: Record<string, string> }): Record<string, string> {
    return {
      ...this.kptnEnv(task.env),
      ...this.o.env,
      ...task.env,
      OUTPUT_PIPELINE_DIR: this.o.scratchDir,
      INPUT_PIPELINE_DIR: this.o.scratchDir,
      DAGWRIGHT_PROJECT_ROOT: this.o.plan.spec.root,
      DAGWRIGHT_TASK: task.name,
      DAGWRIGHT_GRAPH: this.o.plan.graph.name,
      DAGWRIGHT_SPEC_FILE: this.o.plan.spec.file,
      DAGWRIGHT_SPEC_FORMAT: this.o.plan.spec.format,
      DAGWRIGHT_PYTHONPATH: this.pythonPath,
      DAGWRIGHT_DUCKDB_PATH: this.database,
    };
  }

  /**
   * A task's inputs: synchronously when it needs nothing from the store (most tasks; no await
   * on their way to starting), else a promise.
   */
  of(task: GraphTask): TaskInputs | Promise<TaskInputs> {
    return this.needsStore(task) ? this.read(task) : this.plain(task);
  }

  /**
   * What kptn gives every R task, for kptn.yaml projects: `EXTERNAL_FILE_PATH` (the scratch
   * dir's `externals`) and `DATA_YEAR` (the env's `DATA_YEAR`, `data_year` or `year`, else 2022).
   */
  private kptnEnv(own: Record<string, string>): Record<string, string> {
    if (this.o.plan.spec.format !== "kptn") return {};
    // The child's env is this process's under the project's (see baseEnv in tasks/launch-task.ts).
    const env = { ...process.env, ...this.o.env, ...own };
    return {
      EXTERNAL_FILE_PATH: path.join(this.o.scratchDir, "externals"),
      DATA_YEAR: env.DATA_YEAR ?? env.data_year ?? env.year ?? "2022",
    };
  }

  /** {@link of} as a promise. */
  async read(task: GraphTask): Promise<TaskInputs> {
    const { graph } = this.o.plan;
    const deps: Record<string, unknown> = {};
    for (const d of task.deps) {
      if (graph.tasks[d]?.spec.cacheResult && !task.spec.mapOver)
        deps[d] = await this.o.store.result(this.o.namespace, d);
    }
    // Args without a `{ ref }` are passed as they are (launchers copy or serialize them).
    let args: Record<string, unknown> = task.args;
    for (const k in task.args) {
      if (!isRefArg(task.args[k])) continue;
      args = {};
      for (const j in task.args) {
        const v = task.args[j];
        args[j] = isRefArg(v) ? await this.o.store.result(this.o.namespace, v.ref) : v;
      }
      break;
    }
    return { inputs: { deps, args, config: this.o.plan.config }, env: this.envOf(task.spec) };
  }

  /** Whether a task's inputs need the store: a cached dependency result, an arg's ref. */
  private needsStore(task: GraphTask): boolean {
    const { graph } = this.o.plan;
    if (!task.spec.mapOver)
      for (const d of task.deps) if (graph.tasks[d]?.spec.cacheResult) return true;
    for (const k in task.args) if (isRefArg(task.args[k])) return true;
    return false;
  }

  private plain(task: GraphTask): TaskInputs {
    return {
      inputs: { deps: {}, args: task.args, config: this.o.plan.config },
      env: this.envOf(task.spec),
    };
  }
}
