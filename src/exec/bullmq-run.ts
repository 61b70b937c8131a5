import path from "node:path";
import type { ArtifactStore } from "../artifacts/artifact-store.js";
import type { GraphTask } from "../graph/graph.js";
import { upstreamStatesOf } from "../plan/decide-mapped.js";
import { artifactPathOf } from "../spec/duckdb-database.js";
import { blockedReason } from "./blocked-reason.js";
import {
  branchOfNamespace,
  configAsSets,
  queueOfTask,
  type TaskJobData,
  type TaskJobProgress,
  taskJobId,
} from "./bullmq-job.js";
import { RemoteTaskLogs } from "./bullmq-logs.js";
import { runMappedOnQueues, type TaskJobs } from "./bullmq-mapped.js";
import type { BullmqQueues, JobEnd } from "./bullmq-queues.js";
import type { RunResult, TaskOutcome } from "./executor.js";
import type { RunCounts, RunEventInit, RunStatus } from "./run-events.js";
import type { RunScope } from "./run-scope.js";
import { decideTaskRun } from "./task-attempt.js";

/**
 * One run of the BullMQ executor, the coordinator's loop: decides which tasks are ready (the same
 * order and skip propagation as the local executor; fresh tasks are settled here without a job),
 * queues a job per task that must run, relays the workers' events, and takes each task's outcome
 * from the state store, where only the worker's attempt can have recorded it: a job that says
 * "done" without a success recorded since it was queued fails the task.
 */
export class BullmqRun {
  private readonly outcome = new Map<string, TaskOutcome>();
  private readonly counts: RunCounts;
  private readonly remainingDeps = new Map<string, number>();
  private cancelled = false;
  private active = 0;
  private finished: () => void = () => {};
  private readonly base: Omit<TaskJobData, "task">;
  private readonly logs: RemoteTaskLogs;

  /**
   * @param artifacts the artifact location outputs travel through, when there is one: a task's
   *   outputs are fetched from it into this project once its worker recorded them.
   */
  constructor(
    private readonly scope: RunScope,
    private readonly queues: BullmqQueues,
    private readonly artifacts?: ArtifactStore,
  ) {
    const { o, graph, selected } = scope;
    const n = o.selected.length;
    this.counts = { total: n, done: 0, fresh: 0, failed: 0, skipped: 0, cancelled: 0 };
    for (const t of o.selected)
      this.remainingDeps.set(t, graph.tasks[t]!.deps.filter((d) => selected.has(d)).length);
    this.logs = new RemoteTaskLogs(o.logDir, scope.keepLogs);
    const root = o.plan.spec.root;
    this.base = {
      root,
      specFile: path.relative(root, o.plan.spec.file),
      graph: graph.name,
      namespace: o.namespace,
      branch: branchOfNamespace(o.namespace),
      set: configAsSets(o.plan.config),
      force: o.force ?? false,
      streamLogs: o.streamLogs ?? false,
      runId: o.runId,
    };
  }

  /** Runs every selected task to an outcome (or until cancelled) and reports `run-end`. */
  async run(): Promise<RunResult> {
    const { o } = this.scope;
    const started = Date.now();
    const onAbort = () => {
      this.cancelled = true;
      void this.queues.cancel();
    };
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener("abort", onAbort);
    try {
      await new Promise<void>((resolve) => {
        this.finished = resolve;
        for (const t of o.selected) if (this.remainingDeps.get(t) === 0) this.start(t);
        this.checkDone();
      });
    } finally {
      o.signal?.removeEventListener("abort", onAbort);
      this.logs.close();
    }
    const { counts } = this;
    const status: RunStatus = this.cancelled
      ? "cancelled"
      : counts.failed > 0 || counts.skipped > 0
        ? "failed"
        : "succeeded";
    this.scope.observer({
      type: "run-end",
      status,
      counts,
      durationMs: Date.now() - started,
      ...(o.dryRun ? { dryRun: true as const } : {}),
    });
    return { status, counts };
  }

  private start(name: string): void {
    this.active++;
    this.handleTask(name)
      .catch((err: unknown) => {
        const error = (err as Error).message;
        this.scope.observer({ type: "task-failed", task: name, error, logPath: "", logTail: [] });
        return "failed" as const;
      })
      .then((outcome) => {
        this.settle(name, outcome);
        this.active--;
        this.checkDone();
      });
  }

  private checkDone(): void {
    if (this.active === 0) this.finished();
  }

  private settle(task: string, result: TaskOutcome): void {
    this.outcome.set(task, result);
    this.counts[result === "done" ? "done" : result]++;
    for (const next of this.scope.graph.dependents[task] ?? []) {
      if (!this.scope.selected.has(next)) continue;
      const left = this.remainingDeps.get(next)! - 1;
      this.remainingDeps.set(next, left);
      if (left === 0) this.start(next);
    }
  }

  private async handleTask(name: string): Promise<TaskOutcome> {
    const { scope } = this;
    const task = scope.graph.tasks[name]!;
    const why =
      blockedReason(scope, this.outcome, task) ?? (this.cancelled ? "run cancelled" : undefined);
    if (why !== undefined) {
      scope.observer({ type: "task-skipped", task: name, reason: why });
      return "skipped";
    }
    const mapped = task.spec.mapOver !== undefined;
    let key: string;
    if (!mapped) {
      const decision = await decideTaskRun(scope, task);
      if (typeof decision === "string") return decision;
      key = decision.fingerprint;
    } else {
      // A mapped task's unit of work is named by its inputs; its items are decided below.
      key = JSON.stringify(task.deps.map((d) => scope.upstream.get(d) ?? null));
    }
    if (scope.o.force) key += ":force";
    const { store, namespace } = scope.o;
    const before = (await store.taskStates(namespace, [name])).get(name)?.lastSuccess?.attemptId;
    if (mapped) return runMappedOnQueues(scope, task, this.jobs, key, before);
    const end = await this.jobs.submit(task, key, undefined, (p) => this.relay(p));
    return this.outcomeOf(task, end, before);
  }

  /** What the mapped-task loop (bullmq-mapped.ts) uses of this run. */
  private readonly jobs: TaskJobs = {
    submit: async (task, key, keys, relay, force) => {
      try {
        return await this.queues.submit(
          queueOfTask(task.spec),
          taskJobId(this.scope.o.namespace, task.name, key),
          {
            ...this.base,
            ...(force !== undefined ? { force } : {}),
            task: task.name,
            ...(keys ? { keys } : {}),
          },
          relay,
        );
      } finally {
        // Its lines are all in: a fan-out of many bundles must not hold a file open per item.
        this.logs.endJob(task.name, keys);
      }
    },
    outcome: (task, end, before) => this.outcomeOf(task, end, before),
    relay: (p, bundle) => this.relay(p, bundle),
  };

  /**
   * A worker's event, as if this process had run the task (its own run's bounds left out). Log
   * lines of a worker without this disk are written here; they are shown only with `run -v`.
   */
  private relay({ event, worker, remoteLog }: TaskJobProgress, bundle?: readonly string[]): void {
    if (event.type === "run-start" || event.type === "run-end") return;
    if (remoteLog) this.logs.take(event, worker, bundle);
    if (event.type === "log" && !this.scope.o.streamLogs) return;
    const { time: _time, ...init } = event;
    if (init.type === "task-start") init.worker = worker;
    // A failure names the log the user can open here, not the worker's.
    if (init.type === "task-failed" && remoteLog)
      init.logPath = this.logs.pathOf(init.task) ?? init.logPath;
    this.scope.observer(init as RunEventInit);
  }

  /**
   * The task's outcome: what the worker says, checked against the state store (a success must
   * be recorded there since the job was queued); a success also feeds the dependents.
   */
  private async outcomeOf(
    task: GraphTask,
    end: JobEnd,
    successBefore: number | undefined,
  ): Promise<TaskOutcome> {
    const { observer, o, graph } = this.scope;
    const name = task.name;
    if (end.kind === "removed") {
      observer({ type: "task-skipped", task: name, reason: "run cancelled" });
      return "skipped";
    }
    if (end.kind === "failed") {
      const error = `the worker could not run it: ${end.reason}`;
      observer({ type: "task-failed", task: name, error, logPath: "", logTail: [] });
      return "failed";
    }
    const claimed = end.result.outcome;
    if (claimed !== "done" && claimed !== "fresh") return claimed;
    const states = await o.store.taskStates(o.namespace, [name]);
    const success = states.get(name)?.lastSuccess;
    if (success === undefined || (claimed === "done" && success.attemptId === successBefore)) {
      const error = `worker ${end.result.worker} reported it ${claimed}, but the state store has no success of it; not counted`;
      observer({ type: "task-failed", task: name, error, logPath: "", logTail: [] });
      return "failed";
    }
    const upstream = await upstreamStatesOf(o.store, o.namespace, graph, [name], states);
    this.scope.upstream.set(name, upstream.get(name));
    if (claimed === "done") await this.fetchOutputs(name, success.outputs);
    return claimed;
  }

  /**
   * Brings a task's recorded outputs from the artifact location into this project, as a local run
   * would have left them. A file missing there is a warning: the task did succeed on its worker.
   */
  private async fetchOutputs(task: string, outputs: readonly { path: string }[]): Promise<void> {
    if (this.artifacts === undefined || outputs.length === 0) return;
    const { spec } = this.scope.o.plan;
    const paths = [
      ...new Set(outputs.map((x) => artifactPathOf(spec.root, spec.settings, x.path))),
    ];
    let missing: string[];
    try {
      ({ missing } = await this.artifacts.pull(spec.root, paths.sort()));
    } catch (err) {
      missing = [`${paths.join(", ")} (${(err as Error).message})`];
    }
    if (missing.length > 0)
      this.scope.observer({
        type: "task-warning",
        task,
        message: `recorded outputs not fetched from ${this.artifacts.location}: ${missing.join(", ")}`,
      });
  }
}
