import type { GraphTask } from "../graph/graph.js";
import {
  decideMapped,
  hasDependents,
  itemKeysOf,
  type MappedDecision,
} from "../plan/decide-mapped.js";
import { pickItems } from "../plan/expand-items.js";
import { itemRunReasons, planItems } from "../plan/plan-items.js";
import type { OutputRecord } from "../state/state-store.js";
import { attemptLogDir } from "../tasks/attempt-logs.js";
import { beginAttemptNow, finishAttempt } from "./attempt-records.js";
import type { TaskOutcome } from "./executor.js";
import { type MappedRunEnv, runMappedItems } from "./run-mapped.js";
import type { RunScope } from "./run-scope.js";

/**
 * A task with `map_over`: decides its items, runs those that need it (run-mapped.ts) and records
 * the task as a whole, done only when every item is. With `run-task --item`, only those items
 * run (a wrong key rejects with a usage error before anything runs) and the task stays unrecorded
 * while other items still need to run. Reports its own events.
 */
export async function runMappedTask(scope: RunScope, task: GraphTask): Promise<TaskOutcome> {
  const { o } = scope;
  const name = task.name;
  const started = Date.now();
  const prev = scope.states.get(name);
  const subset = o.items?.task === name;
  const decided = await decideMapped(
    o.plan,
    o.store,
    o.namespace,
    task,
    scope.upstream,
    prev ?? {},
    {
      force: o.force ?? false,
      ...(subset ? { pick: (all) => pickItems(name, all, o.items!.keys) } : {}),
    },
  );
  if ("error" in decided) {
    // A dry run of a fresh project: the producer would run first, and its list decides the items.
    if (!o.dryRun || decided.notYet !== true) return failMapped(scope, name, decided.error);
    const reason = `items: known after \`${decided.producer}\` runs`;
    scope.observer({ type: "task-would-run", task: name, reasons: [reason] });
    scope.upstream.set(name, { outputs: [], resultHash: `pending:${name}` });
    return "done";
  }
  // Sorting a million keys is paid only when a downstream task fingerprints them.
  const itemKeys = hasDependents(scope.graph, name) ? itemKeysOf(decided.items) : undefined;
  if (!o.force && decided.allFresh && subset) {
    // run-task --item/--bundle: the selected items are fresh; nothing to run in this pod. A pod
    // retried after the task's record was lost (its first try crashed) still writes it.
    if (!o.dryRun && o.items!.recordWhole !== false)
      await recordWholeIfDone(scope, task, decided, started, true);
    scope.observer({ type: "task-fresh", task: name });
    return "fresh";
  }
  if (decided.fresh && prev?.lastSuccess) {
    scope.upstream.set(name, {
      outputs: prev.lastSuccess.outputs,
      ...(itemKeys && { items: itemKeys }),
    });
    scope.observer({ type: "task-fresh", task: name });
    return "fresh";
  }
  const env = await mappedEnvOf(scope, task);
  if (o.dryRun) {
    const r = await runMappedItems(env, task, decided.plan);
    if (r.outcome === "fresh") scope.observer({ type: "task-fresh", task: name });
    scope.upstream.set(name, {
      outputs: [],
      resultHash: `pending:${name}`,
      ...(itemKeys && { items: itemKeys }),
    });
    return r.outcome === "fresh" ? "fresh" : "done";
  }
  return runAndRecord(scope, task, decided, started, env, itemKeys);
}

/** Runs the items under one task-level attempt and records how the task as a whole ended. */
async function runAndRecord(
  scope: RunScope,
  task: GraphTask,
  decided: MappedDecision,
  started: number,
  env: MappedRunEnv,
  itemKeys: string[] | undefined,
): Promise<TaskOutcome> {
  const { o } = scope;
  const name = task.name;
  if (o.items?.task === name) return runPicked(scope, task, decided, started, env);
  const { base, plan: iplan } = decided;
  const attemptId = await beginAttemptNow(o.store, {
    runId: o.runId,
    namespace: o.namespace,
    task: name,
    fingerprint: iplan.fingerprint,
    parts: base,
  });
  const attempt = { attempt: 1, attemptId };
  scope.observer({ type: "task-start", task: name, reasons: itemRunReasons(iplan), ...attempt });
  const result = await runMappedItems(env, task, iplan);
  const durationMs = Date.now() - started;
  if (result.outcome === "done" || result.outcome === "fresh") {
    const outputs = dedupeOutputs(result.outputs);
    const ok = await finishAttempt(o.store, attemptId, { completion: { outputs, durationMs } });
    if (!ok)
      return failMapped(
        scope,
        name,
        "superseded by a newer attempt of the same task; not recorded",
        attempt,
      );
    scope.upstream.set(name, { outputs, ...(itemKeys && { items: itemKeys }) });
    scope.observer({ type: "task-done", task: name, durationMs, ...attempt });
    return "done";
  }
  const status = result.outcome === "cancelled" ? "cancelled" : "failed";
  await finishAttempt(o.store, attemptId, {
    failure: { status, error: result.error ?? status, durationMs },
  });
  if (status === "cancelled") {
    scope.observer({ type: "task-cancelled", task: name, ...attempt });
    return "cancelled";
  }
  return failMapped(scope, name, result.error ?? "failed", attempt);
}

/**
 * `run-task --item/--bundle`: runs the picked items (each recorded on its own), then records the
 * task as a whole if every item of the list is now done. Pods of one fan-out run side by side, so
 * the task-level attempt is begun only then, and completed at once: an attempt begun when a pod
 * started would be superseded by a later pod's, and the pod that finishes last could never
 * record. Pods that record together write the same record. Not with `recordWhole: false`.
 */
async function runPicked(
  scope: RunScope,
  task: GraphTask,
  decided: MappedDecision,
  started: number,
  env: MappedRunEnv,
): Promise<TaskOutcome> {
  const { o } = scope;
  const name = task.name;
  const only = new Set(o.items!.keys);
  const { plan: iplan } = decided;
  scope.observer({ type: "task-start", task: name, reasons: itemRunReasons(iplan), attempt: 1 });
  const result = await runMappedItems(env, task, iplan, only);
  if (result.outcome === "done" || result.outcome === "fresh") {
    if (o.items!.recordWhole !== false)
      await recordWholeIfDone(scope, task, decided, started, false);
    scope.observer({ type: "task-done", task: name, durationMs: Date.now() - started, attempt: 1 });
    return "done";
  }
  if (result.outcome === "cancelled") {
    scope.observer({ type: "task-cancelled", task: name, attempt: 1 });
    return "cancelled";
  }
  return failMapped(scope, name, result.error ?? "failed");
}

/**
 * Records a mapped task as a whole, with the whole list's fingerprint and every item's outputs
 * (as a full run records it), when every item is done. `unlessRecorded`: not again when the last
 * success already has that fingerprint (a pod whose items were all fresh).
 */
async function recordWholeIfDone(
  scope: RunScope,
  task: GraphTask,
  decided: MappedDecision,
  started: number,
  unlessRecorded: boolean,
): Promise<void> {
  const { o } = scope;
  const name = task.name;
  const now = (await o.store.taskStates(o.namespace, [name])).get(name) ?? {};
  const whole = await planItems(
    o.plan,
    o.store,
    o.namespace,
    task,
    decided.base,
    decided.items,
    false,
    now,
  );
  if (whole.toRun.length > 0) return;
  if (
    unlessRecorded &&
    now.lastSuccess?.fingerprint === whole.fingerprint &&
    now.lastAttempt?.status === "succeeded"
  )
    return;
  const attemptId = await beginAttemptNow(o.store, {
    runId: o.runId,
    namespace: o.namespace,
    task: name,
    fingerprint: whole.fingerprint,
    parts: decided.base,
  });
  const outputs = dedupeOutputs([...whole.lastOutputs.values()].flat());
  // Refused only when a pod that finished at the same moment began a record after this one: it
  // writes the same fingerprint and outputs, or newer ones.
  await finishAttempt(o.store, attemptId, {
    completion: { outputs, durationMs: Date.now() - started },
  });
}

/** What the items of a mapped task share from the run. */
async function mappedEnvOf(scope: RunScope, task: GraphTask): Promise<MappedRunEnv> {
  const { o } = scope;
  const { inputs, env } = await scope.inputs.read(task);
  return {
    plan: o.plan,
    store: o.store,
    recorder: scope.recorder,
    namespace: o.namespace,
    runId: o.runId,
    logDir: o.logDir,
    keepLogs: scope.keepLogs,
    ...(scope.follower ? { follower: scope.follower } : {}),
    jobs: o.jobs,
    force: o.force ?? false,
    dryRun: o.dryRun ?? false,
    observer: scope.observer,
    inputs,
    env,
    scratchDir: o.scratchDir,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.beforeRecord ? { beforeRecord: o.beforeRecord } : {}),
    ...(o.lockToken !== undefined ? { lockToken: o.lockToken } : {}),
    ...(o.processes ? { processes: o.processes } : {}),
    ...(o.pools ? { pools: o.pools } : {}),
  };
}

function failMapped(
  scope: RunScope,
  name: string,
  error: string,
  attempt?: { attempt: number; attemptId: number },
): "failed" {
  scope.observer({
    type: "task-failed",
    task: name,
    error,
    ...attempt,
    logPath: attemptLogDir(scope.o.logDir, name),
    logTail: [],
  });
  return "failed";
}

function dedupeOutputs(outputs: readonly OutputRecord[]): OutputRecord[] {
  const byPath = new Map(outputs.map((o) => [o.path, o]));
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
