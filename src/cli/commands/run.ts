import os from "node:os";
import { type Command, Option } from "commander";
import { describeOrphan, stopOrphans } from "../../exec/orphans.js";
import { ProcessLedger } from "../../exec/process-ledger.js";
import type { RunObserver } from "../../exec/run-events.js";
import { runGraph } from "../../exec/run-graph.js";
import { FsReads } from "../../fingerprint/fs-reads.js";
import { DagwrightError, UsageError } from "../../spec/errors.js";
import { SqliteStateStore } from "../../state/sqlite-store.js";
import { shutdownWorkers } from "../../tasks/launch-task.js";
import { openArtifactsFromEnv, pullForTasks, sharedRunOptions } from "../artifact-sync.js";
import { type CommandContext, EXIT } from "../context.js";
import { leaveStoresForExit } from "../exit.js";
import { collectList } from "../load.js";
import { NoChangeRecorder } from "../no-change.js";
import { preflightRun } from "../preflight.js";
import { humanObserver, jsonObserver } from "../progress.js";
import { openRunContext, type RunFlags } from "../run-context.js";

interface RunOptions extends RunFlags {
  force?: boolean;
  dryRun?: boolean;
  jobs?: string;
  json?: boolean;
  verbose?: boolean;
  executor: string;
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
      new Option("--executor <NAME>", "where tasks run").choices(["local"]).default("local"),
    )
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
  const rc = await openRunContext(ctx, graphName, opts, reads, "copy");
  await preflightRun(rc, ctx.o, opts.dryRun ?? false);
  const memoStore = rc.store instanceof SqliteStateStore ? rc.store : undefined;
  process.chdir(rc.spec.root); // TS/JS function tasks run in worker threads that share the cwd
  // Inside a rendered workflow (DAGWRIGHT_RUN_ID is set by the manifest) the orchestrator
  // already runs each unit once; fused groups of one workflow must not queue on each other.
  const lock =
    opts.dryRun || process.env.DAGWRIGHT_RUN_ID
      ? undefined
      : await rc.store.acquireLock(
          rc.namespace,
          { command: `dagwright run ${rc.graph.name}` },
          {
            wait: true,
            onWait: (h) =>
              ctx.o.err(
                `waiting: ${rc.namespace} is locked by \`${h.command}\` (pid ${h.pid} on ${h.host}, since ${new Date(h.since).toISOString()})\n`,
              ),
          },
        );
  if (lock && !lock.acquired)
    throw new DagwrightError("E_ENV", `state is locked by pid ${lock.holder.pid}`);
  if (!opts.dryRun)
    for (const orphan of await stopOrphans(rc.store, rc.namespace))
      ctx.o.err(`${describeOrphan(orphan)}\n`);
  const processes = opts.dryRun ? undefined : new ProcessLedger(rc.store, rc.namespace);
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
  const stateBefore = memoStore?.stateSignature(rc.namespace);
  const shown: RunObserver = opts.json
    ? jsonObserver(ctx.o)
    : humanObserver(ctx.o, ctx.o.color && Boolean(process.stderr.isTTY));
  const observer = recorder && memoStore ? recorder.tap(shown) : shown;
  const runId = await rc.store.beginRun({
    namespace: rc.namespace,
    graph: rc.graph.name,
    branch: rc.branch,
    command: `dagwright run ${rc.graph.name}`,
  });
  try {
    observer({
      type: "run-start",
      runId,
      graph: rc.graph.name,
      namespace: rc.namespace,
      tasks: rc.selected,
      jobs,
    });
    const artifacts = opts.dryRun ? undefined : await openArtifactsFromEnv();
    if (artifacts) await pullForTasks(rc, artifacts, rc.selected);
    const { status } = await runGraph({
      ...sharedRunOptions(rc, runId, artifacts),
      selected: rc.selected,
      ...(lock?.acquired ? { lockToken: lock.token } : {}),
      ...(processes ? { processes } : {}),
      jobs,
      force: opts.force ?? false,
      dryRun: opts.dryRun ?? false,
      streamLogs: opts.verbose ?? false,
      signal: controller.signal,
      observer,
      ...(process.env.DAGWRIGHT_RETRY_BACKOFF_MS
        ? { retryBackoffMs: Number(process.env.DAGWRIGHT_RETRY_BACKOFF_MS) }
        : {}),
    });
    await rc.store.endRun(runId, status);
    await artifacts?.close();
    if (recorder && memoStore && stateBefore !== undefined && !artifacts)
      recorder.finish({
        store: memoStore,
        root: rc.spec.root,
        branch: rc.branch,
        command: `dagwright run ${rc.graph.name}`,
        json: opts.json ?? false,
        runtime: rc.plan.runtime,
        stateBefore,
      });
    ctx.setExit(status === "succeeded" ? EXIT.ok : status === "cancelled" ? 130 : EXIT.taskFailed);
  } finally {
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
    rc.flushFileCache();
    await processes?.close();
    if (lock?.acquired) await lock.release();
    // Worker threads wind down on their own threads while this one closes the store.
    const stopping = shutdownWorkers();
    let closed = false;
    try {
      await rc.store.close({ leaveForExit: leaveStoresForExit() });
      closed = true;
    } finally {
      // A failed close is the error to report, not what stopping the workers says after it.
      await (closed ? stopping : stopping.catch(() => {}));
    }
  }
}
