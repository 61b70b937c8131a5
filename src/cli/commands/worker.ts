import path from "node:path";
import { type Command, Option } from "commander";
import { startWorkers } from "../../distributed/bullmq-worker.js";
import type { OpenedProject } from "../../distributed/worker-projects.js";
import { checkRedis, DEFAULT_QUEUE } from "../../exec/bullmq-connection.js";
import { FsReads } from "../../fingerprint/fs-reads.js";
import { openProject } from "../../session/open-project.js";
import { UsageError } from "../../spec/errors.js";
import { type CommandContext, EXIT } from "../context.js";
import { loadForCommand } from "../load.js";

interface WorkerFlags {
  redis: string;
  concurrency: string;
  queue?: string[];
  root?: string;
  lockDurationMs?: string;
  stalledIntervalMs?: string;
}

function wholeNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag} expects a whole number ≥ 1, received ${JSON.stringify(value)}`);
  return n;
}

/** `dagwright worker`: takes the jobs of `run --executor bullmq` until SIGTERM or Ctrl-C. */
export function registerWorker(program: Command, ctx: CommandContext): void {
  program
    .command("worker")
    .description(
      "take tasks from Redis queues (dagwright run --executor bullmq) and run them as run-task does",
    )
    .requiredOption("--redis <URL>", "the Redis the coordinator queues on: redis://HOST:PORT")
    .option("--concurrency <N>", "jobs at once, per queue", "1")
    .option(
      "--queue <NAME>",
      `take jobs from this queue: a machine_type (repeatable; default ${DEFAULT_QUEUE}, the queue of tasks without one)`,
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      "--root <DIR>",
      "the project's checkout on this machine (default: the path each job names, for a shared disk)",
    )
    .addOption(new Option("--lock-duration-ms <MS>").hideHelp())
    .addOption(new Option("--stalled-interval-ms <MS>").hideHelp())
    .addHelpText(
      "after",
      [
        "",
        "Workers and the coordinator share:",
        "  the state store  its SQLite file on a shared disk, else DAGWRIGHT_STATE_URL=postgres://...",
        "  the outputs      a shared disk, else DAGWRIGHT_ARTIFACTS_URL=s3://bucket/prefix or a volume",
        "Without a shared disk (--root, or an artifact location) task output lines are sent to the",
        "coordinator, which writes them into the task's log there (dagwright logs GRAPH TASK).",
        "One worker serves any number of projects; a project's loaded spec is reused while its files are",
        "unchanged. Start one per machine type: --queue NAME takes the jobs of tasks with that machine_type.",
        "SIGTERM or Ctrl-C: finish running jobs and stop; a second one cancels them.",
        "See `dagwright docs distributed`.",
      ].join("\n"),
    )
    .action(async (opts: WorkerFlags) => {
      const concurrency = wholeNumber("--concurrency", opts.concurrency) ?? 1;
      const lockDurationMs = wholeNumber("--lock-duration-ms", opts.lockDurationMs);
      const stalledIntervalMs = wholeNumber("--stalled-interval-ms", opts.stalledIntervalMs);
      const notice = (line: string) => ctx.o.err(`${line}\n`);
      await checkRedis(opts.redis, notice);
      const root = opts.root === undefined ? undefined : path.resolve(opts.root);
      const queues = opts.queue ?? [DEFAULT_QUEUE];
      const workers = await startWorkers({
        redis: opts.redis,
        queues,
        concurrency,
        env: process.env,
        notice,
        open: (projectRoot, specFile, env) => openJobProject(ctx, projectRoot, specFile, env),
        ...(root ? { root } : {}),
        ...(lockDurationMs ? { lockDurationMs } : {}),
        ...(stalledIntervalMs ? { stalledIntervalMs } : {}),
      });
      notice(`worker ${workers.name}: waiting for jobs on ${queues.join(", ")} (${opts.redis})`);
      await stopped(notice, workers.stopNow);
      await workers.close();
      notice(`worker ${workers.name}: stopped`);
      ctx.setExit(EXIT.ok);
    });
}

/** Resolves at the first SIGTERM or SIGINT; a second one cancels the running jobs. */
function stopped(notice: (line: string) => void, stopNow: () => void): Promise<void> {
  return new Promise((resolve) => {
    let signals = 0;
    const on = () => {
      signals++;
      if (signals === 1) {
        notice("stopping: finishing running jobs (again to cancel them)");
        resolve();
      } else {
        notice("stopping now: cancelling running jobs");
        stopNow();
      }
    };
    process.on("SIGTERM", on);
    process.on("SIGINT", on);
  });
}

/**
 * A job's project, through the CLI's spec cache (looked up in the job's root, never this
 * process's working directory): a new worker reads back a spec that validated before instead of
 * parsing and checking it again. The worker keeps the project open across jobs while the reads
 * returned here still hold.
 */
async function openJobProject(
  ctx: CommandContext,
  root: string,
  specFile: string,
  env: NodeJS.ProcessEnv,
): Promise<OpenedProject> {
  const reads = new FsReads();
  const jobCtx: CommandContext = { ...ctx, globals: () => ({ ...ctx.globals(), file: specFile }) };
  const loaded = await loadForCommand(jobCtx, { cache: true, reads, cwd: root });
  const loadReads = reads.reads();
  const project = await openProject(loaded.spec.root, { loaded, reads, env, cwd: root });
  return { project, loadReads };
}
