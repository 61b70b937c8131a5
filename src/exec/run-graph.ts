import { LocalExecutor } from "./local-executor.js";
import type { RunCounts, RunStatus } from "./run-events.js";
import type { RunGraphOptions } from "./run-options.js";

export type { RunGraphOptions } from "./run-options.js";

/**
 * Runs the selected tasks in dependency order, up to `jobs` at once and within cpu/memory slots,
 * with the {@link LocalExecutor}. Each ready task is fingerprinted against the state store right
 * before it would start (so an upstream that reran with identical output keeps it fresh), run
 * with retries and timeout, its declared outputs verified, and recorded in one transaction. A
 * failed or cancelled task is never recorded as done; its downstream tasks are skipped with the
 * reason.
 */
export async function runGraph(
  o: RunGraphOptions,
): Promise<{ status: RunStatus; counts: RunCounts }> {
  return new LocalExecutor().run(o);
}
