import type { GraphTask } from "../graph/graph.js";
import { DagwrightError } from "../spec/errors.js";
import { type LaunchRequest, type LaunchResult, launchTask } from "../tasks/launch-task.js";
import { isLaneTask, NodeLane } from "../tasks/node-lane.js";
import { prewarmNodeWorkers } from "../tasks/prewarm-node-workers.js";
import { poolsOf } from "../tasks/worker-pools.js";
import { blockedReason } from "./blocked-reason.js";
import type { RunResult, TaskOutcome } from "./executor.js";
import { runMappedTask } from "./mapped-task.js";
import type { RunCounts, RunStatus } from "./run-events.js";
import type { RunScope } from "./run-scope.js";
import { Slots } from "./slots.js";
import { type AttemptLauncher, decideTaskRun } from "./task-attempt.js";
import { runWithRetries } from "./task-retries.js";

/** Starts one attempt's process or call; see {@link LocalRun}'s `launch` option. */
export type LaunchFn = (req: LaunchRequest) => Promise<LaunchResult>;

/**
 * One run of the local executor: the scheduler loop. Ready tasks start as cpu/memory slots allow
 * (lane tasks go through the TS/JS lane, which holds a slot per message instead); each settles
 * with an outcome that releases its dependents or, when not done or fresh, skips them.
 */
export class LocalRun {
  private readonly outcome = new Map<string, TaskOutcome>();
  private readonly counts: RunCounts;
  private readonly remainingDeps = new Map<string, number>();
  private ready: string[];
  private cancelled = false;
  /** An environment failure (the state store's disk is full…): the run stops and rethrows it. */
  private fatal: DagwrightError | undefined;
  private active = 0;
  private finished: () => void = () => {};
  private readonly slots: Slots;
  private readonly lane: NodeLane | undefined;
  private readonly launchFn: LaunchFn;

  /**
   * @param launch starts one attempt; the default launches the task for real. When given, every
   *   task goes through it (no TS/JS lane), which is how tests put a fake behind the executor.
   */
  constructor(
    private readonly scope: RunScope,
    launch?: LaunchFn,
  ) {
    const { o, graph, selected } = scope;
    this.counts = {
      total: o.selected.length,
      done: 0,
      fresh: 0,
      failed: 0,
      skipped: 0,
      cancelled: 0,
    };
    for (const t of o.selected)
      this.remainingDeps.set(t, graph.tasks[t]!.deps.filter((d) => selected.has(d)).length);
    this.ready = o.selected.filter((t) => this.remainingDeps.get(t) === 0);
    this.slots = new Slots(o.jobs);
    this.launchFn = launch ?? launchTask;
    if (launch === undefined && !o.dryRun)
      this.lane = new NodeLane({
        canTake: () => this.slots.fits(1, 0),
        take: () => this.slots.take(1, 0),
        give: () => {
          this.slots.give(1, 0);
          this.kick();
        },
      });
  }

  /** Runs every selected task to an outcome (or until cancelled) and reports `run-end`. */
  async run(): Promise<RunResult> {
    const { o } = this.scope;
    const started = Date.now();
    if (this.lane) this.prewarm();
    const onAbort = () => {
      this.cancelled = true;
      this.lane?.cancel();
    };
    // A signal that fired before the run (Ctrl-C while it waited) never fires again.
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener("abort", onAbort);
    try {
      await new Promise<void>((resolve) => {
        this.finished = resolve;
        this.kick();
      });
    } finally {
      o.signal?.removeEventListener("abort", onAbort);
      this.lane?.close();
    }
    // Anything never reached (only possible when cancelled) is reported skipped.
    for (const t of o.selected)
      if (!this.outcome.has(t)) {
        this.scope.observer({ type: "task-skipped", task: t, reason: "run cancelled" });
        this.settle(t, "skipped");
      }
    const { counts } = this;
    const status: RunStatus = this.fatal
      ? "failed"
      : this.cancelled
        ? "cancelled"
        : counts.failed > 0 || counts.skipped > 0
          ? "failed"
          : "succeeded";
    const end = { status, counts, durationMs: Date.now() - started };
    this.scope.observer({
      type: "run-end",
      ...end,
      ...(o.dryRun ? { dryRun: true as const } : {}),
    });
    if (this.fatal !== undefined) throw this.fatal;
    return { status, counts };
  }

  /**
   * TS/JS tasks that will run need warm workers: start them (and their imports) now, while the
   * first tasks are planned, rather than at the first call. Only when some task surely runs, so
   * a no-change rerun starts no thread.
   */
  private prewarm(): void {
    const { o, graph, states, inputs } = this.scope;
    const surely = o.selected
      .map((t) => graph.tasks[t]!.spec)
      .filter((spec) => {
        if (spec.kind !== "node" || spec.file === undefined) return false;
        const s = states.get(spec.name);
        return (
          o.force ||
          !spec.cache ||
          s?.lastSuccess === undefined ||
          s.lastAttempt?.status !== "succeeded"
        );
      });
    // One worker: the pool starts more when tasks turn out to need them.
    if (surely.length > 0)
      prewarmNodeWorkers(o.plan.spec.root, surely, 1, (s) => inputs.envOf(s), poolsOf(o));
  }

  private settle(task: string, result: TaskOutcome): void {
    const { counts } = this;
    this.outcome.set(task, result);
    if (result === "done") counts.done++;
    else if (result === "fresh") counts.fresh++;
    else if (result === "failed") counts.failed++;
    else if (result === "cancelled") counts.cancelled++;
    else counts.skipped++;
    for (const next of this.scope.graph.dependents[task] ?? []) {
      if (!this.scope.selected.has(next)) continue;
      const left = this.remainingDeps.get(next)! - 1;
      this.remainingDeps.set(next, left);
      if (left === 0) this.ready.push(next);
    }
  }

  private async handleTask(name: string): Promise<void> {
    const task = this.scope.graph.tasks[name]!;
    const why =
      blockedReason(this.scope, this.outcome, task) ??
      (this.cancelled ? "run cancelled" : undefined);
    if (why !== undefined) {
      this.scope.observer({ type: "task-skipped", task: name, reason: why });
      this.settle(name, "skipped");
      return;
    }
    if (task.spec.mapOver !== undefined) {
      this.settle(name, await runMappedTask(this.scope, task));
      return;
    }
    const decision = await decideTaskRun(this.scope, task);
    if (typeof decision === "string") {
      this.settle(name, decision);
      return;
    }
    this.settle(
      name,
      await runWithRetries(this.scope, task, decision, this.launch, () => this.cancelled),
    );
  }

  /** The executor's part of a launch: timeout, cancel signal, process hooks, and the lane. */
  private readonly launch: AttemptLauncher = (task, req, begin) => {
    const { o } = this.scope;
    if (task.spec.timeoutSeconds !== undefined) req.timeoutSeconds = task.spec.timeoutSeconds;
    if (o.signal) req.signal = o.signal;
    const hooks = o.processes?.hooks(task.name);
    if (hooks) req.processes = hooks;
    if (this.lane && this.pooled(task)) return this.lane.launch(req, begin);
    begin();
    return this.launchFn(req);
  };

  /** A lane task takes no slot of its own (see tasks/node-lane.ts). */
  private pooled(t: GraphTask): boolean {
    return isLaneTask(t.spec, this.slots.cpuOf(t) === 1 && this.slots.memOf(t) === 0);
  }

  private start(name: string, cpu: number, mem: number, holdsSlot: boolean): void {
    this.active++;
    if (holdsSlot) this.slots.take(cpu, mem);
    this.handleTask(name)
      .catch((err: unknown) => {
        if (err instanceof DagwrightError && err.code === "E_ENV" && this.fatal === undefined) {
          // The machine failed, not the task (a full disk under the state store): nothing new
          // starts, running tasks end, and the run reports this error (exit 3).
          this.fatal = err;
          this.cancelled = true;
          this.lane?.cancel();
        }
        if (!this.outcome.has(name)) {
          this.scope.observer({
            type: "task-failed",
            task: name,
            error: (err as Error).message,
            logPath: "",
            logTail: [],
          });
          this.settle(name, "failed");
        }
      })
      .then(() => {
        if (holdsSlot) this.slots.give(cpu, mem);
        this.active--;
        this.kick();
      });
  }

  private pump(): void {
    const candidates = this.ready;
    this.ready = [];
    const held: string[] = [];
    for (const name of candidates) {
      const task = this.scope.graph.tasks[name]!;
      if (this.lane && this.pooled(task)) {
        this.start(name, 0, 0, false);
        continue;
      }
      const cpu = this.slots.cpuOf(task);
      const mem = this.slots.memOf(task);
      if (!this.slots.fits(cpu, mem)) {
        held.push(name);
        continue;
      }
      this.start(name, cpu, mem, true);
    }
    // Tasks that became ready meanwhile (settled synchronously) come after those still waiting.
    this.ready = held.length === 0 ? this.ready : [...held, ...this.ready];
  }

  /** After anything settles: start what can start; the run ends when nothing is under way. */
  private kick(): void {
    if (this.ready.length > 0) this.pump();
    this.lane?.schedule();
    if (this.active === 0 && this.ready.length === 0) this.finished();
  }
}
