import type { StateStore, TaskRunRecord } from "../state/state-store.js";
import {
  decideTask,
  type PlanContext,
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
  const upstream = new Map<string, UpstreamState | undefined>();
  for (const t of needed) {
    const s = states.get(t)?.lastSuccess;
    upstream.set(
      t,
      s ? { outputs: s.outputs, ...(s.resultHash ? { resultHash: s.resultHash } : {}) } : undefined,
    );
  }
  const willRun = new Set<string>();
  const out: TaskAssessment[] = [];
  for (const name of tasks) {
    const task = graph.tasks[name]!;
    const prev = states.get(name) ?? {};
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
