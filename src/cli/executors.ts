import { BullmqExecutor } from "../exec/bullmq-executor.js";
import type { Executor } from "../exec/executor.js";
import { LocalExecutor } from "../exec/local-executor.js";
import { UsageError } from "../spec/errors.js";

/** What `dagwright run --executor NAME` accepts, in the order `--help` lists them. */
export const EXECUTOR_NAMES = ["local", "bullmq"] as const;

/** One of {@link EXECUTOR_NAMES}. */
export type ExecutorName = (typeof EXECUTOR_NAMES)[number];

/** What an executor needs from the command line beyond its name. */
export interface ExecutorFlags {
  /** `--redis URL` (bullmq). */
  redis?: string;
  /** Lines for a human (stderr). */
  notice: (line: string) => void;
}

/** An executor and the check to make before the run takes the namespace lock. */
export interface SelectedExecutor {
  executor: Executor;
  check: () => Promise<void>;
}

/**
 * The executor `--executor NAME` selects. Library callers construct theirs and pass it to
 * `Project.run`; this is only the CLI's name for each.
 *
 * @throws UsageError when bullmq is selected without `--redis` (or `--redis` without it).
 */
export function executorNamed(name: ExecutorName, flags: ExecutorFlags): SelectedExecutor {
  switch (name) {
    case "local":
      if (flags.redis !== undefined)
        throw new UsageError("--redis is only for --executor bullmq", "add --executor bullmq");
      return { executor: new LocalExecutor(), check: async () => {} };
    case "bullmq": {
      if (flags.redis === undefined)
        throw new UsageError(
          "--executor bullmq needs --redis URL: the Redis its workers listen on",
          "e.g. --executor bullmq --redis redis://127.0.0.1:6379",
        );
      const executor = new BullmqExecutor({
        redis: flags.redis,
        notice: flags.notice,
        noWorkerWarningMs: noWorkerWarningMs(),
      });
      return { executor, check: () => executor.check() };
    }
  }
}

/** `DAGWRIGHT_NO_WORKER_WARNING_SECONDS` (default 30): how long a queue may lack a worker. */
function noWorkerWarningMs(): number {
  const raw = process.env.DAGWRIGHT_NO_WORKER_WARNING_SECONDS;
  const seconds = raw === undefined ? 30 : Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new UsageError(
      `DAGWRIGHT_NO_WORKER_WARNING_SECONDS expects a number of seconds > 0, received ${JSON.stringify(raw)}`,
    );
  return seconds * 1000;
}
