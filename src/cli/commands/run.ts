import os from "node:os";
import { type Command, Option } from "commander";
import type { RunObserver } from "../../exec/run-events.js";
import { FsReads } from "../../fingerprint/fs-reads.js";
import { UsageError } from "../../spec/errors.js";
import { SqliteStateStore } from "../../state/sqlite-store.js";
import { type CommandContext, EXIT } from "../context.js";
import { EXECUTOR_NAMES, type ExecutorName, executorNamed } from "../executors.js";
import { leaveStoresForExit } from "../exit.js";
import { collectList } from "../load.js";
import { NoChangeRecorder } from "../no-change.js";
import { preflightRun } from "../preflight.js";
import { humanObserver, jsonObserver } from "../progress.js";
import { openCommandProject, type RunFlags, selectionOf } from "../run-context.js";

interface RunOptions extends RunFlags {
  force?: boolean;
  dryRun?: boolean;
  jobs?: string;
  json?: boolean;
  verbose?: boolean;
  executor: ExecutorName;
  redis?: string;
}

/** Adds the selection and config flags shared by run, status and explain. */
export function addRunFlags(cmd: Command): Command {
  return cmd
    .option("--only <TASKS>", "only these tasks (comma-separated, repeatable)", collectList)
    .option("--from <TASKS>", "these tasks and everything downstream", collectList)
    .option("--to <TASKS>", "these tasks and everything upstream", collectList)
    .option("--tags <TAGS>", "tasks with any of these tags", collectList)
    .option("--env <NAME>", "merge environments.NAME.config over config")
    .option(
      "--set <KEY=VALUE>",
      "override a config value (repeatable; dotted keys, JSON values)",
      (v: string, prev: string[] = []) => [...prev, v],
    );
}

export function registerRun(program: Command, ctx: CommandContext): void {
  addRunFlags(
    program
      .command("run")
      .description("run a graph, rerunning only what changed (and saying why)")
      .argument("[GRAPH]", "graph name (optional when the spec has one graph)"),
  )
    .option("--force", "rerun every selected task")
    .option("--dry-run", "print what would run and why, run nothing")
    .option(
      "-j, --jobs <N>",
      `tasks at once (default: number of cores, ${os.availableParallelism()})`,
    )
    .addOption(
      new Option("--executor <NAME>", "where tasks run").choices(EXECUTOR_NAMES).default("local"),
    )
    .option("--redis <URL>", "with --executor bullmq: the Redis its workers listen on")
    .option("--json", "newline-delimited JSON events on stdout")
    .option("-v, --verbose", "stream task output (`task │ line`; with --json, `log` events)")
    .action(async (graphName: string | undefined, opts: RunOptions) => {
      const jobs = opts.jobs === undefined ? os.availableParallelism() : Number(opts.jobs);
      if (!Number.isInteger(jobs) || jobs < 1)
        throw new UsageError(
          `-j expects a whole number ≥ 1, received ${JSON.stringify(opts.jobs)}`,
          "e.g. -j 4",
        );
      // A run that finds everything fresh leaves a memo the next identical run can trust without
      // planning (src/cli/no-change.ts); not inside rendered workflows or with shared artifacts.
      const reads = new FsReads();
      const recorder =
        process.env.DAGWRIGHT_NO_CHANGE_MEMO !== "0" &&
        !process.env.DAGWRIGHT_RUN_ID &&
        !process.env.DAGWRIGHT_ARTIFACTS_URL
          ? new NoChangeRecorder(ctx.argv, process.cwd(), reads)
          : undefined;
      await runCommand(ctx, graphName, opts, jobs, reads, recorder);
    });
}

async function runCommand(
  ctx: CommandContext,
  graphName: string | undefined,
  opts: RunOptions,
  jobs: number,
  reads: FsReads,
  recorder: NoChangeRecorder | undefined,
): Promise<void> {
  const project = await openCommandProject(ctx, reads);
  try {
    // A dry run writes nothing: it shows the parent branch's state rather than copying it.
    const scope = await project.scope(selectionOf(graphName, opts), opts.dryRun ? "show" : "copy");
    const memoStore = scope.store instanceof SqliteStateStore ? scope.store : undefined;
    const shown: RunObserver = opts.json
      ? jsonObserver(ctx.o)
      : humanObserver(ctx.o, ctx.o.color && Boolean(process.stderr.isTTY));
    const observer = recorder && memoStore ? recorder.tap(shown) : shown;
    const selected = executorNamed(opts.executor, {
      ...(opts.redis === undefined ? {} : { redis: opts.redis }),
      notice: (line) => ctx.o.err(`${line}\n`),
    });
    let stateBefore: string | undefined;
    const result = await interruptible(ctx, (signal) =>
      project.run(scope, {
        observer,
        executor: selected.executor,
        signal,
        jobs,
        force: opts.force ?? false,
        dryRun: opts.dryRun ?? false,
        streamLogs: opts.verbose ?? false,
        preflight: async (s) => {
          await preflightRun(s, ctx.o, opts.dryRun ?? false);
          if (!opts.dryRun) await selected.check();
        },
        beforeBegin: (s) => {
          stateBefore = memoStore?.stateSignature(s.namespace);
        },
      }),
    );
    if (recorder && memoStore && stateBefore !== undefined && !result.usedArtifacts)
      recorder.finish({
        store: memoStore,
        root: scope.spec.root,
        branch: scope.branch,
        command: `dagwright run ${scope.graph.name}`,
        json: opts.json ?? false,
        runtime: scope.plan.runtime,
        stateBefore,
      });
    const { status } = result;
    ctx.setExit(status === "succeeded" ? EXIT.ok : status === "cancelled" ? 130 : EXIT.taskFailed);
  } finally {
    await project.close({ leaveForExit: leaveStoresForExit() });
  }
}

/**
 * Runs `body` with a signal the first Ctrl-C (or SIGTERM) aborts, so running tasks are stopped
 * and recorded as cancelled; a second one exits at once.
 */
async function interruptible<T>(
  ctx: CommandContext,
  body: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      ctx.o.err("\nstopping: waiting for running tasks to end (Ctrl-C again to stop at once)\n");
      controller.abort();
    } else {
      process.exit(130);
    }
  };
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigint);
  try {
    return await body(controller.signal);
  } finally {
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
  }
}
