import { DagwrightError } from "../spec/errors.js";
import type { AttemptWrite, AttemptWriteResult } from "./state-store.js";
import { shardResult } from "./store-rows.js";
import { defaultWorker } from "./worker-name.js";

/*
 * What both drivers do with a `writeAttempts` call before and after their own SQL: checking the
 * entries, serializing results outside any transaction, and naming the writer of each begin.
 */

/** The pointers of the task/item an attempt belongs to, as both drivers read them. */
export interface TaskStateRow {
  namespace: string;
  task: string;
  item: string;
  current_attempt: number;
  last_success: number | null;
}

/** A stored result cut into shards (see `shardResult`). */
export type Shards = ReturnType<typeof shardResult>;

/** One entry of a `writeAttempts` call, ready for a driver's transaction. */
export type PreparedWrite = (
  | { kind: "begin"; write: Extract<AttemptWrite, { kind: "begin" }> }
  | { kind: "outcome"; write: Extract<AttemptWrite, { kind: "outcome" }> }
  | { kind: "record"; write: Extract<AttemptWrite, { kind: "record" }> }
) & {
  /** The call's lock token: set means the begin is deferred, so fenced. */
  lockToken?: string;
  /** The completion's result, serialized before the transaction (no lock held meanwhile). */
  shards?: Shards;
  /** `HOST:PID` recorded with a begin. */
  worker: string;
};

/**
 * The entries of one `writeAttempts` call, checked and with their results serialized. Throws
 * `E_INTERNAL` when a `record` comes without a lock token (a deferred begin needs one).
 */
export function prepareWrites(
  writes: readonly AttemptWrite[],
  lockToken: string | undefined,
): PreparedWrite[] {
  return writes.map((write) => {
    if (write.kind === "record" && lockToken === undefined)
      throw new DagwrightError(
        "E_INTERNAL",
        `writeAttempts: the record of task "${write.attempt.task}" defers its begin but the call has no lockToken`,
        { hint: "pass the token acquireLock returned, or write a begin and then its outcome" },
      );
    const outcome = write.kind === "begin" ? undefined : write.outcome;
    const result =
      outcome !== undefined && "completion" in outcome ? outcome.completion.result : undefined;
    const worker = write.kind === "outcome" ? "" : (write.attempt.worker ?? defaultWorker());
    return {
      kind: write.kind,
      write,
      worker,
      ...(lockToken === undefined ? {} : { lockToken }),
      ...(result === undefined ? {} : { shards: shardResult(result) }),
    } as PreparedWrite;
  });
}

/**
 * The error of a failed write, as the caller should see it: a foreign-key failure of a begin
 * means its run id was not returned by `beginRun`.
 */
export function unknownRunError(
  error: unknown,
  isForeignKey: boolean,
  writes: readonly AttemptWrite[],
  where: string,
): unknown {
  if (!isForeignKey) return error;
  const begin = writes.find(
    (w): w is Exclude<AttemptWrite, { kind: "outcome" }> => w.kind !== "outcome",
  );
  if (begin === undefined) return error;
  return new DagwrightError(
    "E_INTERNAL",
    `beginning an attempt of task "${begin.attempt.task}": unknown run "${begin.attempt.runId}" in ${where}`,
    { cause: error, hint: "call beginRun first and pass the id it returns" },
  );
}

/** The result of a write the checks let through as its task/item's current attempt. */
export function currentResult(attemptId: number): AttemptWriteResult {
  return { verdict: "current", attemptId };
}
