import type { GraphTask } from "../graph/graph.js";
import type { TaskOutcome } from "./executor.js";
import type { RunScope } from "./run-scope.js";

/**
 * Why `task` cannot run in this run: a selected dependency that is neither done nor fresh, or an
 * unselected one that never succeeded. Undefined when every dependency is satisfied. Every
 * executor skips with this reason, so skip propagation reads the same whichever ran the run.
 */
export function blockedReason(
  scope: RunScope,
  outcome: ReadonlyMap<string, TaskOutcome>,
  task: GraphTask,
): string | undefined {
  const { selected, upstream } = scope;
  const blocked = task.deps.find((d) =>
    selected.has(d)
      ? outcome.get(d) !== "done" && outcome.get(d) !== "fresh"
      : upstream.get(d) === undefined,
  );
  if (blocked === undefined) return undefined;
  if (!selected.has(blocked))
    return `upstream ${blocked} has never succeeded and is not selected; run it first`;
  const how = outcome.get(blocked);
  return `upstream ${blocked} ${how === "failed" ? "failed" : how === "cancelled" ? "was cancelled" : "was skipped"}`;
}
