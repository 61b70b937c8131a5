import { hashValue } from "../fingerprint/hash-value.js";
import type { GraphTask } from "../graph/graph.js";
import {
  decideTask,
  decideTaskNow,
  type TaskDecision,
  type UpstreamState,
} from "../plan/plan-task.js";
import { projectDatabasePath } from "../spec/duckdb-database.js";
import type { AttemptBegin, OutputRecord } from "../state/state-store.js";
import { newAttemptLogPath, pruneAttemptLogs } from "../tasks/attempt-logs.js";
import { saveCheckpoint } from "../tasks/duckdb/duckdb-checkpoint.js";
import type { LaunchRequest, LaunchResult } from "../tasks/launch-task.js";
import { moveOutputsAside } from "./attempt-outputs.js";
import type { AttemptOutcome, StartedAttempts } from "./attempt-records.js";
import { collectOutputs, unmatchedWarning } from "./collect-outputs.js";
import type { TaskOutcome } from "./executor.js";
import { escapeMessage } from "./output-realpath.js";
import type { RunScope } from "./run-scope.js";

/**
 * How an executor starts one attempt: it may add what it owns (timeout, cancel signal, process
 * hooks) to `req`, must call `begin` right before the task starts, and resolves undefined when the
 * task never started (the run was cancelled while it waited for a slot or a worker).
 */
export type AttemptLauncher = (
  task: GraphTask,
  req: LaunchRequest,
  begin: () => void,
) => Promise<LaunchResult | undefined>;

/** How one attempt ended. Retrying, and reporting a failure, are the executor's to do. */
export type AttemptEnd =
  | { kind: "done"; result: LaunchResult }
  | { kind: "not-started" }
  | {
      kind: "failed";
      status: "failed" | "cancelled";
      error: string;
      result: LaunchResult;
      logPath: string;
    };

type Completion = Extract<AttemptOutcome, { completion: unknown }>["completion"];
type Record_ = StartedAttempts;

/**
 * The decide step: whether `task` (not mapped) runs. A fresh task is reported (`task-fresh`) and
 * feeds its last success to its dependents; in a dry run, a task that would run is reported
 * (`task-would-run`) and counts as done. Otherwise resolves to the decision the attempts use.
 */
export async function decideTaskRun(
  scope: RunScope,
  task: GraphTask,
): Promise<TaskDecision | TaskOutcome> {
  const { o, upstream } = scope;
  const name = task.name;
  const previous = scope.states.get(name) ?? {};
  const options = { force: o.force ?? false };
  const decision =
    decideTaskNow(o.plan, task, upstream, previous, options) ??
    (await decideTask(o.plan, task, upstream, previous, options));
  if (decision.action === "fresh") {
    const last = scope.states.get(name)?.lastSuccess;
    upstream.set(
      name,
      last
        ? { outputs: last.outputs, ...(last.resultHash ? { resultHash: last.resultHash } : {}) }
        : undefined,
    );
    scope.observer({ type: "task-fresh", task: name });
    return "fresh";
  }
  if (o.dryRun) {
    scope.observer({ type: "task-would-run", task: name, reasons: decision.reasons });
    // Downstream of a task that would run is reported as running too (its input would change).
    upstream.set(name, { outputs: [], resultHash: `pending:${name}` });
    return "done";
  }
  return decision;
}

/**
 * One attempt of a task that must run (the contract every target runs): moves its earlier
 * outputs aside, launches it through `launch`, verifies that it wrote every declared output (and
 * publishes them with `beforeRecord`), records the outcome in one transaction fenced by the
 * attempt (and the lock token, when the run holds one), and finally drops the earlier outputs or
 * puts them back. A success feeds its dependents' fingerprints. Rejects only when the state store
 * or the file system does; the earlier outputs are back in place by then.
 */
export async function runTaskAttempt(
  scope: RunScope,
  task: GraphTask,
  decision: TaskDecision,
  attempt: number,
  launch: AttemptLauncher,
): Promise<AttemptEnd> {
  const { o } = scope;
  const name = task.name;
  const logPath = newAttemptLogPath(o.logDir, name);
  let record: Record_ | undefined;
  let unfollow: (() => void) | undefined;
  const begin = () => {
    pruneAttemptLogs(logPath, scope.keepLogs);
    unfollow = scope.follower?.follow(logPath, (line) =>
      scope.observer({ type: "log", task: name, line }),
    );
    record = scope.recorder.start([attemptRecordOf(scope, task, decision, logPath)], o.lockToken);
    scope.observer({
      type: "task-start",
      task: name,
      reasons: decision.reasons,
      attempt,
      logPath,
    });
  };
  const aside =
    task.spec.outputs.length === 0
      ? undefined
      : await moveOutputsAside(
          o.plan,
          { namespace: o.namespace, task: name },
          task.spec.outputs,
          task.spec.inPlaceOutputs,
          (rel) => scope.claims().byOther(name, rel),
        );
  // Whatever throws before the attempt settles puts the earlier outputs back first.
  const guarded = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      await aside?.restore();
      throw err;
    }
  };
  const result = await guarded(async () => {
    const ti = scope.inputs.of(task);
    const { inputs, env } = ti instanceof Promise ? await ti : ti;
    const req: LaunchRequest = {
      task: task.spec,
      root: o.plan.spec.root,
      inputs,
      env,
      scratchDir: o.scratchDir,
      logPath,
      ...(o.pools ? { pools: o.pools } : {}),
    };
    return launch(task, req, begin);
  }).finally(() => unfollow?.());
  if (result === undefined || record === undefined) {
    await aside?.restore();
    return { kind: "not-started" };
  }
  const started = record;
  let error = result.error ?? result.status;
  let superseded = false;
  if (result.status === "succeeded") {
    const verified = await guarded(() => verifyOutputs(scope, task));
    if (typeof verified === "string") error = verified;
    else {
      const recorded = await guarded(() => recordSuccess(scope, task, result, verified, started));
      // Recorded, or superseded: then the current attempt (another runner's) owns the files
      // now. Either way the earlier copies go and the files stay.
      aside?.discard();
      if (recorded) {
        if (task.spec.duckdbCheckpoint)
          await saveCheckpoint(projectDatabasePath(o.plan.spec.root, o.plan.spec.settings), name);
        return { kind: "done", result };
      }
      superseded = true;
      error = "superseded by a newer attempt of the same task; not recorded";
    }
  }
  if (!superseded) await aside?.restore();
  return recordFailure(started, result, error, logPath);
}

/** The begin record of one attempt of a task. */
function attemptRecordOf(
  scope: RunScope,
  task: GraphTask,
  decision: TaskDecision,
  logPath: string,
): AttemptBegin {
  const r: AttemptBegin = {
    runId: scope.o.runId,
    namespace: scope.o.namespace,
    task: task.name,
    fingerprint: decision.fingerprint,
    parts: decision.parts,
    logPath,
  };
  if (decision.partsJson !== undefined) r.partsJson = decision.partsJson;
  return r;
}

/**
 * The records of a successful launch's declared outputs, published with `beforeRecord`; or why
 * the attempt failed after all (an output missing, escaping the outputs dir, not published).
 */
async function verifyOutputs(scope: RunScope, task: GraphTask): Promise<OutputRecord[] | string> {
  const { o } = scope;
  const collected =
    task.spec.outputs.length === 0
      ? { records: [] }
      : await collectOutputs(o.plan, task.spec.outputs);
  if ("escaped" in collected)
    return `exited 0, but ${escapeMessage(collected.escaped.rel, collected.escaped.real, o.plan.outputsDir)}`;
  if (!("records" in collected))
    return `exited 0 but did not write its declared output${collected.missing.length === 1 ? "" : "s"}: ${collected.missing.join(", ")}`;
  if (collected.unmatched !== undefined)
    scope.observer({
      type: "task-warning",
      task: task.name,
      message: unmatchedWarning(collected.unmatched),
    });
  if (o.beforeRecord) {
    try {
      await o.beforeRecord(collected.records.map((r) => r.path));
    } catch (err) {
      return `outputs could not be published: ${(err as Error).message}`;
    }
  }
  return collected.records;
}

/**
 * Records a verified success; false when the store refused it (a newer attempt superseded it).
 * A recorded success feeds its dependents' fingerprints.
 */
async function recordSuccess(
  scope: RunScope,
  task: GraphTask,
  result: LaunchResult,
  outputs: OutputRecord[],
  record: Record_,
): Promise<boolean> {
  let resultHash: string | undefined;
  if (task.spec.cacheResult || result.result !== undefined)
    resultHash = hashValue(result.result ?? null);
  // Built field by field: this runs once per task, and spreads of {} cost an object each.
  const completion: Completion = { outputs, durationMs: result.durationMs };
  if (task.spec.cacheResult) completion.result = result.result ?? null;
  if (resultHash) completion.resultHash = resultHash;
  if (result.exitCode !== undefined) completion.exitCode = result.exitCode;
  if (result.peakRssKb !== undefined) completion.peakRssKb = result.peakRssKb;
  if (result.cpuMs !== undefined) completion.cpuMs = result.cpuMs;
  const [ok] = await record.finish([{ completion }]);
  if (!ok) return false;
  const state: UpstreamState = { outputs };
  if (resultHash) state.resultHash = resultHash;
  scope.upstream.set(task.name, state);
  return true;
}

/**
 * Records a failed (or cancelled) attempt. A superseded attempt whose begin was written is marked
 * failed; one whose begin was deferred and refused is recorded failed, as history only (see
 * StateStore's fencing).
 */
async function recordFailure(
  record: Record_,
  result: LaunchResult,
  error: string,
  logPath: string,
): Promise<AttemptEnd> {
  const status = result.status === "cancelled" ? "cancelled" : "failed";
  await record.finish([
    {
      failure: {
        status,
        error,
        durationMs: result.durationMs,
        ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
        ...(result.signal !== undefined ? { signal: result.signal } : {}),
        ...(result.peakRssKb !== undefined ? { peakRssKb: result.peakRssKb } : {}),
        ...(result.cpuMs !== undefined ? { cpuMs: result.cpuMs } : {}),
      },
    },
  ]);
  return { kind: "failed", status, error, result, logPath };
}
