import { randomUUID } from "node:crypto";
import os from "node:os";
import type { Executor } from "../exec/executor.js";
import { LocalExecutor } from "../exec/local-executor.js";
import { describeOrphan, stopOrphans } from "../exec/orphans.js";
import { ProcessLedger } from "../exec/process-ledger.js";
import {
  allObservers,
  type RunCounts,
  type RunObserver,
  type RunStatus,
  stampEvents,
} from "../exec/run-events.js";
import { DagwrightError } from "../spec/errors.js";
import { openArtifactsFromEnv, pullForTasks, sharedRunOptions } from "./artifact-sync.js";
import { keepRunLogsOf, openRunEventLog } from "./run-events-log.js";
import type { RunScope } from "./run-scope.js";

/** How {@link Project.run} runs a scope. */
export interface ProjectRunOptions {
  /** Receives every run event, in order (progress view, `--json`, a server's stream). */
  observer: RunObserver;
  /** Runs the ready tasks (default: a {@link LocalExecutor} of this process). */
  executor?: Executor;
  /** Aborting it cancels the run: running tasks are stopped, none is recorded as a success. */
  signal?: AbortSignal;
  /** Rerun every selected task. */
  force?: boolean;
  /** Decide and report, run nothing (no lock, no artifacts). */
  dryRun?: boolean;
  /** Tasks at once (default: the number of cores). */
  jobs?: number;
  /** Only these items of this mapped task (`run-task --item`). */
  items?: { task: string; keys: string[]; recordWhole?: boolean };
  /** Emit `log` events with each line tasks write. */
  streamLogs?: boolean;
  /** One attempt per task: the caller (an orchestrator's retryStrategy) retries. */
  singleAttempt?: boolean;
  /**
   * Hold the namespace's lock for the run (default: unless `dryRun` or the environment's
   * `DAGWRIGHT_RUN_ID` says a rendered workflow, which runs each unit once, is the caller).
   */
  lock?: boolean;
  /**
   * Stop the processes a crashed runner left, then record the processes this run starts so the
   * next one can (default: unless `dryRun`).
   */
  sweepOrphans?: boolean;
  /** Recorded as the run's command and the lock holder (default `dagwright run GRAPH`). */
  command?: string;
  /** Checks the machine before anything is locked or started; throws to stop the run. */
  preflight?: (scope: RunScope) => void | Promise<void>;
  /** Called once nothing but this run can write the namespace, right before the run begins. */
  beforeBegin?: (scope: RunScope) => void;
}

/** How a run ended. */
export interface ProjectRunResult {
  /** Absent when the run was cancelled before it began (Ctrl-C while waiting for the lock). */
  runId?: string;
  status: RunStatus;
  counts: RunCounts;
  /** Whether outputs went to (and inputs came from) a shared artifact location. */
  usedArtifacts: boolean;
}

/**
 * The one run lifecycle every entry point shares (`run`, `run-task`, library callers): preflight,
 * namespace lock and orphan sweep, begin run, pull artifacts, run the graph, end run, and release
 * what it took, even when it throws. `notice` receives lines for a human (lock waits, orphans).
 *
 * @throws DagwrightError `E_ENV` when the lock cannot be had or the preflight fails; whatever the
 *   store or artifact location throws.
 */
export async function runScope(
  scope: RunScope,
  options: ProjectRunOptions,
  notice: (line: string) => void,
): Promise<ProjectRunResult> {
  const dryRun = options.dryRun ?? false;
  const command = options.command ?? `dagwright run ${scope.graph.name}`;
  await options.preflight?.(scope);
  const lock =
    (options.lock ?? (!dryRun && !scope.env.DAGWRIGHT_RUN_ID))
      ? await scope.store.acquireLock(
          scope.namespace,
          { command },
          {
            wait: true,
            onWait: (h) =>
              notice(
                `waiting: ${scope.namespace} is locked by \`${h.command}\` (pid ${h.pid} on ${h.host}, since ${new Date(h.since).toISOString()})`,
              ),
          },
        )
      : undefined;
  if (lock && !lock.acquired)
    throw new DagwrightError("E_ENV", `state is locked by pid ${lock.holder.pid}`);
  const sweep = options.sweepOrphans ?? !dryRun;
  let processes: ProcessLedger | undefined;
  try {
    if (sweep) {
      for (const orphan of await stopOrphans(scope.store, scope.namespace))
        notice(describeOrphan(orphan));
      processes = new ProcessLedger(scope.store, scope.namespace);
    }
    // Cancelled while waiting for the lock or stopping orphans: nothing began, nothing runs.
    if (options.signal?.aborted) return cancelledBeforeBegin(scope);
    options.beforeBegin?.(scope);
    return await begun(scope, options, command, {
      ...(lock?.acquired ? { lockToken: lock.token } : {}),
      ...(processes ? { processes } : {}),
    });
  } finally {
    await processes?.close();
    if (lock?.acquired) await lock.release();
  }
}

function cancelledBeforeBegin(scope: RunScope): ProjectRunResult {
  const n = scope.selected.length;
  const counts = { total: n, done: 0, fresh: 0, failed: 0, skipped: n, cancelled: 0 };
  return { status: "cancelled", counts, usedArtifacts: false };
}

/**
 * From `beginRun` to `endRun`: the part of a run the state store sees as a run. Every event also
 * goes to the run's event log, `.dagwright/runs/<runId>.jsonl` (not for a dry run).
 */
async function begun(
  scope: RunScope,
  options: ProjectRunOptions,
  command: string,
  held: { lockToken?: string; processes?: ProcessLedger },
): Promise<ProjectRunResult> {
  const { store, namespace, graph } = scope;
  const dryRun = options.dryRun ?? false;
  const jobs = options.jobs ?? os.availableParallelism();
  const tasks = scope.selected;
  // Checked before the run record begins, so a bad value leaves no run open.
  const keepLogs = dryRun ? 0 : keepRunLogsOf(scope.env.DAGWRIGHT_KEEP_RUN_LOGS);
  // A dry run writes nothing, not even a run record (its namespace may be a parent branch's).
  const runId = dryRun
    ? randomUUID()
    : await store.beginRun({ namespace, graph: graph.name, branch: scope.branch, command });
  const log = dryRun ? undefined : openRunEventLog(scope.spec.root, runId, keepLogs);
  try {
    const observer = log ? allObservers(log.observer, options.observer) : options.observer;
    stampEvents(observer)({ type: "run-start", runId, graph: graph.name, namespace, tasks, jobs });
    return await runBegun(scope, options, runId, jobs, observer, held);
  } finally {
    log?.close();
  }
}

/** Pulls the artifacts the run needs, runs the graph and ends the run record. */
async function runBegun(
  scope: RunScope,
  options: ProjectRunOptions,
  runId: string,
  jobs: number,
  observer: RunObserver,
  held: { lockToken?: string; processes?: ProcessLedger },
): Promise<ProjectRunResult> {
  const { store } = scope;
  const dryRun = options.dryRun ?? false;
  const tasks = scope.selected;
  const artifacts = dryRun ? undefined : await openArtifactsFromEnv(scope.env);
  if (artifacts) await pullForTasks(scope, artifacts, tasks);
  const backoff = scope.env.DAGWRIGHT_RETRY_BACKOFF_MS;
  const executor = options.executor ?? new LocalExecutor();
  const { status, counts } = await executor.run({
    ...sharedRunOptions(scope, runId, artifacts),
    selected: tasks,
    ...held,
    jobs,
    force: options.force ?? false,
    dryRun,
    streamLogs: options.streamLogs ?? false,
    ...(options.signal ? { signal: options.signal } : {}),
    observer,
    ...(options.singleAttempt ? { singleAttempt: true } : {}),
    ...(options.items ? { items: options.items } : {}),
    ...(backoff ? { retryBackoffMs: Number(backoff) } : {}),
  });
  if (!dryRun) await store.endRun(runId, status);
  await artifacts?.close();
  return { runId, status, counts, usedArtifacts: artifacts !== undefined };
}
