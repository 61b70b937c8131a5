import type { Executor } from "../exec/executor.js";
import { LocalExecutor } from "../exec/local-executor.js";

/** What `dagwright run --executor NAME` accepts, in the order `--help` lists them. */
export const EXECUTOR_NAMES = ["local"] as const;

/** One of {@link EXECUTOR_NAMES}. */
export type ExecutorName = (typeof EXECUTOR_NAMES)[number];

/**
 * The executor `--executor NAME` selects. Library callers construct theirs and pass it to
 * `Project.run`; this is only the CLI's name for each.
 */
export function executorNamed(name: ExecutorName): Executor {
  switch (name) {
    case "local":
      return new LocalExecutor();
  }
}
