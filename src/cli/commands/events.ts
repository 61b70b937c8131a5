import path from "node:path";
import type { Command } from "commander";
import type { RunEvent, RunObserver } from "../../exec/run-events.js";
import {
  followRunEvents,
  listRuns,
  type RunLogEntry,
  readRunEvents,
  runEventsDir,
} from "../../session/run-events-log.js";
import { closest } from "../../spec/did-you-mean.js";
import { UsageError } from "../../spec/errors.js";
import { findSpecFile } from "../../spec/find-spec-file.js";
import { type CommandContext, EXIT } from "../context.js";
import { humanObserver, jsonObserver } from "../progress.js";

interface EventsOptions {
  follow?: boolean;
  json?: boolean;
}

/** `dagwright events [RUN_ID] [--follow] [--json]`: prints a run's persisted events. */
export function registerEvents(program: Command, ctx: CommandContext): void {
  program
    .command("events")
    .description("print a run's events (default: the latest run), or --follow one in progress")
    .argument("[RUN_ID]", "the run (or a unique start of its id); default: the latest run")
    .option("--follow", "keep printing until the run ends (Ctrl-C stops)")
    .option("--json", "print one JSON object per event on stdout, as `run --json` does")
    .action(async (runId: string | undefined, opts: EventsOptions) => {
      const root = path.dirname(findSpecFile(process.cwd(), ctx.globals().file).file);
      const runs = listRuns(root);
      const run = runId === undefined ? runs[0] : findRun(runs, runId);
      if (run === undefined) {
        ctx.o.err(
          `no run event logs in ${runEventsDir(root)}\n  hint: every \`dagwright run\` (not --dry-run) writes one; run the pipeline first\n`,
        );
        ctx.setExit(EXIT.taskFailed);
        return;
      }
      // The progress view's plain lines, on stdout: here they are the command's output.
      const print: RunObserver = opts.json
        ? jsonObserver(ctx.o)
        : humanObserver({ ...ctx.o, err: ctx.o.out }, false);
      const seen = { end: false };
      const onEvent = (e: RunEvent) => {
        if (e.type === "run-end") seen.end = true;
        print(e);
      };
      if (opts.follow) {
        const how = await followInterruptibly(run.path, onEvent);
        if (how === "aborted") ctx.setExit(130);
      } else readRunEvents(run.path, onEvent);
      // Lines the plain view gathers are written on the next turn; a log without run-end (a run
      // still going, or one whose runner died) must still show them before the command returns.
      if (!seen.end) await new Promise((resolve) => setImmediate(resolve));
    });
}

/** The run named `id` or by a unique start of its id. */
function findRun(runs: readonly RunLogEntry[], id: string): RunLogEntry {
  const exact = runs.find((r) => r.runId === id);
  if (exact) return exact;
  const starting = runs.filter((r) => r.runId.startsWith(id));
  if (starting.length === 1) return starting[0]!;
  const recent = runs
    .slice(0, 5)
    .map((r) => `${r.runId}${r.started ? ` (${r.started})` : ""}`)
    .join(", ");
  if (starting.length > 1)
    throw new UsageError(
      `run id "${id}" is ambiguous: ${starting.length} kept runs start with it`,
      `give more of the id: ${starting.map((r) => r.runId).join(", ")}`,
    );
  const near = closest(
    id,
    runs.map((r) => r.runId),
  );
  throw new UsageError(
    `no kept event log for run "${id}".${near === undefined ? "" : ` Did you mean "${near}"?`}`.replace(
      /\.$/,
      "",
    ),
    runs.length === 0
      ? "no run has an event log yet"
      : `the latest runs: ${recent} (only the last DAGWRIGHT_KEEP_RUN_LOGS, default 20, are kept)`,
  );
}

/** Follows until run-end; SIGINT or SIGTERM stops following (the run goes on). */
async function followInterruptibly(
  file: string,
  onEvent: (e: RunEvent) => void,
): Promise<"ended" | "aborted"> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    return await followRunEvents(file, onEvent, { signal: controller.signal });
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}
