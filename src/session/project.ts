import { diffParts, type FingerprintParts, type PartChange } from "../fingerprint/fingerprint.js";
import { assessGraph, type TaskAssessment } from "../plan/assess-graph.js";
import type { RenderResult, RenderTarget } from "../render/renderer.js";
import type { Diagnostic } from "../spec/diagnostic.js";
import type { Spec } from "../spec/types.js";
import type { StateStore } from "../state/state-store.js";
import { isWorkerGone } from "../state/worker-name.js";
import { type ProjectRenderOptions, renderSpec } from "./render-spec.js";
import { type ProjectRunOptions, type ProjectRunResult, runScope } from "./run-lifecycle.js";
import { openScope, type ProjectCore, type RunScope, type ScopeSelection } from "./run-scope.js";

/** The attempt of a task that is running now, and who runs it. */
export interface RunningAttempt {
  attemptId: number;
  /** `HOST:PID` of the process running it; absent for records written before it was kept. */
  worker?: string;
  /** Epoch milliseconds. */
  startedAt: number;
  /**
   * Set when the worker is a process of this machine that no longer exists: the run was
   * interrupted and the attempt will never end (the next run reruns the task).
   */
  gone?: true;
}

/** The items of a fan-out running now, and who runs them. */
export interface RunningItems {
  count: number;
  /** `HOST:PID` of the processes running them, sorted; records written before it was kept have none. */
  workers: string[];
}

/**
 * One task in a {@link StatusReport}: its assessment, its running attempt if it runs now, and, for
 * a fan-out, the items running now (the task as a whole is recorded once every item is done).
 */
export type TaskStatusRow = TaskAssessment & {
  running?: RunningAttempt;
  runningItems?: RunningItems;
};

/** What {@link Project.status} reports: each selected task's state, in topological order. */
export interface StatusReport {
  graph: string;
  namespace: string;
  tasks: TaskStatusRow[];
}

/** What {@link Project.explain} reports: the decision and the fingerprint parts that changed. */
export interface ExplainReport {
  assessment: TaskAssessment;
  /** Parts that differ from the last success (empty when it never succeeded). */
  changes: PartChange[];
}

/**
 * One project, opened by {@link openProject}: its spec, state store, environment, file-hash cache
 * and paths, and the warm workers its function tasks run in. Every call takes the graph and
 * selection it is about; none touches `process.cwd()` or `process.env`. Every task runs in the
 * project root with the project's env: scripts and commands start there, Python workers enter it
 * per call, and TS/JS functions run in worker threads when this process's working directory is
 * the root, else in worker processes started there (a thread cannot have a directory of its own).
 */
export class Project {
  /** The directory of the spec file: every path of the spec is relative to it. */
  readonly root: string;
  readonly spec: Spec;
  readonly store: StateStore;
  /** The environment the project reads, rendered values decoded. */
  readonly env: Readonly<NodeJS.ProcessEnv>;
  private closed = false;

  /** Use {@link openProject}. */
  constructor(
    private readonly core: ProjectCore,
    private readonly flushFileCache: () => void,
    /** Warnings found loading the spec (errors throw). Empty when the caller loaded it. */
    readonly diagnostics: readonly Diagnostic[],
  ) {
    this.root = core.spec.root;
    this.spec = core.spec;
    this.store = core.store;
    this.env = core.env;
  }

  /**
   * Resolves a graph and selection: tasks, config, branch and namespace, directories, planning.
   * With `mode: "copy"` a branch without state copies its parent's (what a run does first); with
   * `"show"` (default) it reads the parent's without writing.
   */
  scope(selection: ScopeSelection = {}, mode: "copy" | "show" = "show"): Promise<RunScope> {
    return openScope(this.core, selection, mode);
  }

  /**
   * Runs a selection (or a scope opened with `mode: "copy"`), rerunning only what changed, through
   * the one run lifecycle every entry point shares. Task failures are in the result's `status`,
   * not thrown.
   *
   * @throws DagwrightError `E_USAGE` for a bad selection, `E_ENV` for a lock or store problem.
   */
  async run(
    selection: ScopeSelection | RunScope,
    options: ProjectRunOptions,
  ): Promise<ProjectRunResult> {
    const scope = "plan" in selection ? selection : await this.scope(selection, "copy");
    const ended = this.core.pools.beginRun();
    try {
      return await runScope(scope, options, this.core.notice);
    } finally {
      ended();
      // A project kept open (a worker, a server) shares the file hashes it found after each run;
      // they are a cache, so failing to write them must not replace the run's own outcome.
      try {
        this.flushFileCache();
      } catch {
        // written again by close(), which reports a store that cannot be written
      }
    }
  }

  /**
   * Each selected task: fresh, stale (and why), failed, running (with the attempt and the worker
   * running it) or never ran. Runs nothing.
   */
  async status(selection: ScopeSelection = {}): Promise<StatusReport> {
    const scope = await this.scope(selection);
    const [assessed, running] = await Promise.all([
      assessGraph(scope.plan, scope.store, scope.namespace, scope.selected),
      scope.store.runningAttempts(scope.namespace),
    ]);
    const byTask = new Map(running.filter((r) => r.item === "").map((r) => [r.task, r]));
    const items = runningItemsByTask(running);
    const tasks = assessed.map((a): TaskStatusRow => {
      const row: TaskStatusRow = { ...a };
      const r = a.state === "running" ? byTask.get(a.task) : undefined;
      if (r !== undefined) {
        const attempt: RunningAttempt = { attemptId: r.attemptId, startedAt: r.startedAt };
        if (r.worker !== undefined) attempt.worker = r.worker;
        if (r.worker !== undefined && isWorkerGone(r.worker)) attempt.gone = true;
        row.running = attempt;
      }
      const its = items.get(a.task);
      if (its !== undefined) row.runningItems = its;
      return row;
    });
    return { graph: scope.graph.name, namespace: scope.namespace, tasks };
  }

  /** The decision about one task and the fingerprint parts behind it. Runs nothing. */
  async explain(task: string, selection: ScopeSelection = {}): Promise<ExplainReport> {
    const scope = await this.scope({ ...selection, only: [task] });
    const [assessment] = await assessGraph(scope.plan, scope.store, scope.namespace, [task]);
    const before = assessment!.lastSuccess?.parts as FingerprintParts | undefined;
    return {
      assessment: assessment!,
      changes: before ? diffParts(before, assessment!.decision.parts) : [],
    };
  }

  /**
   * Renders a graph (`graph`, or the spec's only one) for an orchestrator, as `dagwright render`
   * does: config resolved with `options.env` and `options.set`, then the target's renderer.
   * Writes nothing and reads no state: returns the files (name → content) and formatted warnings.
   *
   * @throws UsageError for an unknown target, graph, environment or `set` entry; SpecError with
   *   every problem of the spec for that target (a feature it cannot express, a missing image).
   */
  render<T extends RenderTarget>(
    target: T,
    graph: string | undefined,
    options: ProjectRenderOptions<T> = {} as ProjectRenderOptions<T>,
  ): Promise<RenderResult> {
    return renderSpec(this.core, target, graph, options);
  }

  /**
   * Writes back the file hashes gathered, closes the store and stops the project's workers. `leaveForExit`: the process ends right after (the CLI), so
   * the store's connection may be left to that end. Closing twice does nothing.
   */
  async close(options: { leaveForExit?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.flushFileCache();
    } finally {
      // Workers wind down on their own threads and processes while this one closes the store.
      const stopping = this.core.pools.shutdown();
      let closed = false;
      try {
        await this.store.close({ leaveForExit: options.leaveForExit ?? false });
        closed = true;
      } finally {
        // A failed close is the error to report, not what stopping the workers says after it.
        await (closed ? stopping : stopping.catch(() => {}));
      }
    }
  }
}

/** Per fan-out task, how many of its items run now and on which workers (gone ones left out). */
function runningItemsByTask(
  running: readonly { task: string; item: string; worker?: string }[],
): Map<string, RunningItems> {
  const acc = new Map<string, { count: number; workers: Set<string> }>();
  for (const r of running) {
    if (r.item === "" || (r.worker !== undefined && isWorkerGone(r.worker))) continue;
    let a = acc.get(r.task);
    if (a === undefined) {
      a = { count: 0, workers: new Set() };
      acc.set(r.task, a);
    }
    a.count++;
    if (r.worker !== undefined) a.workers.add(r.worker);
  }
  return new Map([...acc].map(([t, a]) => [t, { count: a.count, workers: [...a.workers].sort() }]));
}
