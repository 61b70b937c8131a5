import type { GraphTask } from "../graph/graph.js";
import type { StateStore, TaskRunRecord } from "../state/state-store.js";
import { decideMapped, upstreamStatesOf } from "./decide-mapped.js";
import { summarizeItems } from "./plan-items.js";
import {
  decideTask,
  type PlanContext,
  type PreviousRuns,
  type TaskDecision,
  type UpstreamState,
} from "./plan-task.js";

/** The state of one task as `dagwright status` reports it. */
export interface TaskAssessment {
  task: string;
  state: "fresh" | "stale" | "failed" | "never-ran" | "running";
  reasons: string[];
  decision: TaskDecision;
  lastAttempt?: TaskRunRecord;
  lastSuccess?: TaskRunRecord;
  /** Mapped tasks: `19/20 items done, 1 failed (T1,1: ValueError: boom)`. */
  items?: string;
}

/**
 * What a run would do, without running: each task of `tasks` (topological order) is decided
 * against its last success; a task downstream of one that would run is stale too ("upstream x
 * will rerun"), since its input may change.
 */
export async function assessGraph(
  ctx: PlanContext,
  store: StateStore,
  namespace: string,
  tasks: readonly string[],
): Promise<TaskAssessment[]> {
  const graph = ctx.graph;
  const needed = new Set(tasks);
  for (const t of tasks) for (const d of graph.tasks[t]!.deps) needed.add(d);
  const states = await store.taskStates(namespace, [...needed]);
  // Only what a dependency contributes is read: a mapped task's own item list is planned below
  // and not loaded a second time here.
  const deps = new Set<string>();
  for (const t of tasks) for (const d of graph.tasks[t]!.deps) deps.add(d);
  const upstream = await upstreamStatesOf(store, namespace, graph, deps, states);
  const willRun = new Set<string>();
  const out: TaskAssessment[] = [];
  for (const name of tasks) {
    const task = graph.tasks[name]!;
    const prev = states.get(name) ?? {};
    if (task.spec.mapOver !== undefined) {
      const row = await assessMapped(ctx, store, namespace, task, upstream, prev);
      if (row.state !== "fresh") willRun.add(name);
      out.push(row);
      continue;
    }
    const decision = await decideTask(ctx, task, upstream, prev);
    const reasons = [...decision.reasons];
    for (const d of task.deps)
      if (willRun.has(d) && !reasons.some((r) => r.includes(d)))
        reasons.push(`upstream ${d} will rerun`);
    let state: TaskAssessment["state"];
    if (prev.lastAttempt?.status === "running") state = "running";
    else if (!prev.lastAttempt) state = "never-ran";
    else if (prev.lastAttempt.status === "failed" || prev.lastAttempt.status === "cancelled")
      state = "failed";
    else state = reasons.length > 0 ? "stale" : "fresh";
    if (state !== "fresh") willRun.add(name);
    out.push({
      task: name,
      state,
      reasons,
      decision,
      ...(prev.lastAttempt ? { lastAttempt: prev.lastAttempt } : {}),
      ...(prev.lastSuccess ? { lastSuccess: prev.lastSuccess } : {}),
    });
  }
  return out;
}

/**
 * A mapped task, by the rule `run` applies ({@link decideMapped}): fresh only when it is fresh
 * there; otherwise the item summary says why.
 */
async function assessMapped(
  ctx: PlanContext,
  store: StateStore,
  namespace: string,
  task: GraphTask,
  upstream: Map<string, UpstreamState | undefined>,
  prev: PreviousRuns,
): Promise<TaskAssessment> {
  const decided = await decideMapped(ctx, store, namespace, task, upstream, prev);
  const base = { task: task.name, parts: decided.base, fingerprint: "" };
  const extra = {
    ...(prev.lastAttempt ? { lastAttempt: prev.lastAttempt } : {}),
    ...(prev.lastSuccess ? { lastSuccess: prev.lastSuccess } : {}),
  };
  if ("error" in decided) {
    const state = !prev.lastAttempt ? "never-ran" : "stale";
    return {
      task: task.name,
      state,
      reasons: [decided.error],
      decision: { ...base, action: "run", reasons: [decided.error] },
      ...extra,
    };
  }
  const { plan, fresh, allFresh } = decided;
  let summary = summarizeItems(plan);
  // Every item is done, yet the task is not: say what a run will still record.
  if (!fresh && allFresh && prev.lastSuccess !== undefined)
    summary +=
      prev.lastAttempt?.status === "succeeded"
        ? " (the item list changed since the last success)"
        : ` (last attempt ${prev.lastAttempt?.status ?? "unknown"})`;
  const anyFailed = plan.failed > 0;
  const state: TaskAssessment["state"] = fresh
    ? "fresh"
    : !prev.lastAttempt
      ? "never-ran"
      : anyFailed
        ? "failed"
        : "stale";
  const reasons = fresh ? [] : [summary];
  return {
    task: task.name,
    state,
    reasons,
    items: summary,
    decision: { ...base, fingerprint: plan.fingerprint, action: fresh ? "fresh" : "run", reasons },
    ...extra,
  };
}
