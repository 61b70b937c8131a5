import path from "node:path";
import { pathToFileURL } from "node:url";
import { takeDatabaseTurn, usesProjectDatabase } from "../spec/duckdb-database.js";
import { databaseOf } from "./duckdb/run-sql-task.js";
import { type LaunchRequest, launchTask, resolvedArgs, secretsOf } from "./launch-task.js";
import type { BatchItemReply } from "./node-worker-pool.js";
import { redactText } from "./redact.js";
import type { ProcessHooks } from "./run-process.js";
import {
  closeTaskLog,
  openTaskLog,
  readTaskLogTail,
  type TaskLog,
  writeTaskLog,
} from "./task-log.js";
import { poolsOf } from "./worker-pools.js";

export { configureWorkers, shutdownWorkers, type WorkerOptions } from "./worker-pools.js";

/** One fan-out item of a task. */
export interface ItemCall {
  /** The item's key, {@link itemKey} of its values (`"T1,1"`). */
  key: string;
  /**
   * `item1`/`item2` (or the single iterable's name) → value. Python functions receive them as
   * keyword arguments, TS/JS functions as `item` and spread into their input, R, shell, commands
   * and Python scripts as environment variables (and `${name}` in `cli_args` or an R path):
   * strings as they are, numbers and booleans as `String(v)`, null as "".
   */
  values: Record<string, string | number | boolean | null>;
}

/** How one item ended. Never a success after a timeout or cancel. */
export interface ItemOutcome {
  key: string;
  status: "succeeded" | "failed" | "timeout" | "cancelled";
  /** JSON-serializable return value of a function task (null for Python's None). */
  result?: unknown;
  /** One line: "ValueError: boom", "worker crashed (exit code 1) while running item T1,1", … */
  error?: string;
  /** 0 for an item that never started. */
  durationMs: number;
}

/** One bundle of items of one task; see {@link launchItems}. */
export interface ItemsRequest extends Omit<LaunchRequest, "inputs" | "processes"> {
  /** As for {@link LaunchRequest}, without `item`: each item brings its own values. */
  inputs: {
    deps: Record<string, unknown>;
    args: Record<string, unknown>;
    config: Record<string, unknown>;
  };
  /**
   * One bundle: items called in order by ONE worker call (kptn bundle_size); per-item errors are
   * collected, one failing item does not stop the others.
   */
  items: ItemCall[];
  /** The hooks of the process an item runs in, when items run as processes (R, shell, …). */
  processesOf?: (itemKey: string) => ProcessHooks | undefined;
}

/** How a bundle ended: one outcome per item, in the items' order. */
export interface ItemsResult {
  outcomes: ItemOutcome[];
  /** The last ≤ 20 lines the bundle wrote to the log. */
  logTail: string[];
  /** Python: the worker's peak RSS; processes: the largest item's. */
  peakRssKb?: number;
  /** Python: the worker's CPU time during the bundle; processes: the items' sum. */
  cpuMs?: number;
}

function itemText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/**
 * kptn's key of an item: its values in the order of `names`, joined by "," (`"T1,1"`). A null or
 * missing value counts as "".
 */
export function itemKey(values: Record<string, unknown>, names: string[]): string {
  return names.map((n) => itemText(values[n])).join(",");
}

/**
 * Runs one bundle of fan-out items of a task and reports each item; never rejects.
 *
 * - Python functions: one call in a warm worker process (runtime/dagwright_worker.py) that
 *   imports the module once (again when a project file changed) and calls the function per item
 *   with parameters bound as {@link launchTask} binds them, item values first. If the worker dies
 *   mid-bundle, the items that replied keep their outcomes, the running item fails
 *   (`worker crashed (exit code 1) while running item K`) and the rest run once more on a new
 *   worker.
 * - TS/JS functions: one call in a pooled worker thread that loops over the items; a dead thread is
 *   handled as for Python (items whose replies were lost with it run again: at least once).
 * - R, shell, commands and Python files without the function: one process per item through
 *   {@link launchTask}, in order, item values as environment variables.
 *
 * `timeoutSeconds` (default `task.timeoutSeconds`) limits each item. When an item times out or
 * `signal` aborts, its worker (process group or thread) is stopped, that item ends `timeout` or
 * `cancelled` and so does every item that had not run. All output goes to `logPath`, after one
 * header line for the bundle; failures that the task did not print itself (crash, timeout, cancel)
 * are written there as `dagwright: task 'T' item K <status>: <error>`.
 */
export async function launchItems(req: ItemsRequest): Promise<ItemsResult> {
  if (req.items.length === 0) return { outcomes: [], logTail: [] };
  const { task } = req;
  const secrets = secretsOf(req);
  let log: TaskLog;
  try {
    log = openTaskLog(req.logPath, task.name, `${describe(req)}${bundleNote(req.items)}`, {
      secrets,
    });
  } catch (err) {
    const error = `cannot open log ${req.logPath}: ${messageOf(err)}`;
    return { outcomes: req.items.map((it) => notRun(it, "failed", error)), logTail: [] };
  }
  let result: ItemsResult;
  try {
    result = await runBundle(req, log);
  } catch (err) {
    // A bug of ours, not the task's: every item fails with it rather than the promise rejecting.
    const error = messageOf(err);
    writeTaskLog(log, `dagwright: task '${task.name}' failed: ${error}\n`);
    result = { outcomes: req.items.map((it) => notRun(it, "failed", error)), logTail: [] };
  }
  for (const o of result.outcomes)
    if (o.error !== undefined) o.error = redactText(o.error, secrets);
  result.logTail = readTaskLogTail(log);
  closeTaskLog(log);
  return result;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function describe(req: ItemsRequest): string {
  const { task } = req;
  const fn = task.function ?? task.name;
  switch (task.kind) {
    case "python":
      return `python ${task.file}:${fn}`;
    case "node":
      return `${task.file}:${fn}`;
    case "command":
      return task.command === undefined
        ? "command"
        : "shell" in task.command
          ? "sh -c"
          : (task.command.argv[0] ?? "command");
    default:
      return `${task.kind} ${task.file ?? ""}`.trimEnd();
  }
}

function bundleNote(items: readonly ItemCall[]): string {
  if (items.length === 1) return ` (item ${items[0]!.key})`;
  return ` (${items.length} items: ${items[0]!.key} … ${items[items.length - 1]!.key})`;
}

function notRun(item: ItemCall, status: ItemOutcome["status"], error: string): ItemOutcome {
  return { key: item.key, status, error, durationMs: 0 };
}

function timeoutOf(req: ItemsRequest): number | undefined {
  return req.timeoutSeconds ?? req.task.timeoutSeconds;
}

const DEFAULT_KILL_GRACE_MS = 5000;

async function runBundle(req: ItemsRequest, log: TaskLog): Promise<ItemsResult> {
  if (req.signal?.aborted) {
    return { outcomes: req.items.map((it) => notRun(it, "cancelled", "cancelled")), logTail: [] };
  }
  // A warm Python worker writes the log itself, past the redaction: a task with secrets runs
  // each item in its own process, whose output dagwright redacts.
  if (req.task.kind === "python" && secretsOf(req).length === 0) {
    const warm = await onDatabase(req, () => runWarm(req, log, pythonAttempt(req)));
    if (warm !== "script") return warm;
  } else if (req.task.kind === "node") {
    const warm = await onDatabase(req, () => runWarm(req, log, nodeAttempt(req, log)));
    if (warm !== "script") return warm;
  }
  return runProcesses(req, log);
}

/**
 * Runs warm-worker calls of a task on the project database within its turn on the file (each
 * item's own launch takes it otherwise: see launchTask).
 */
async function onDatabase<T>(req: ItemsRequest, run: () => Promise<T>): Promise<T> {
  if (!usesProjectDatabase(req.task)) return run();
  const release = await takeDatabaseTurn(databaseOf(req));
  try {
    return await run();
  } finally {
    release();
  }
}

/** What one warm-worker call over some of the bundle's items reported. */
interface Attempt {
  /** `fatal`: the call failed before its items ran (`error` applies to all of them). */
  ended: "done" | "fatal" | "script" | "crashed" | "timeout" | "cancelled";
  /** Replies of the first `replies.length` items of this attempt, in order. */
  replies: BatchItemReply[];
  error?: string;
  /** Index (in this attempt's items) of the item that was running when the worker ended. */
  inFlight?: number;
  inFlightMs?: number;
  peakRssKb?: number;
  cpuMs?: number;
}

type AttemptFn = (items: ItemCall[]) => Promise<Attempt>;

function fromReply(key: string, reply: BatchItemReply): ItemOutcome {
  const out: ItemOutcome = {
    key,
    status: reply.ok ? "succeeded" : "failed",
    durationMs: reply.ms,
  };
  if (reply.ok && reply.result !== undefined) out.result = reply.result;
  if (!reply.ok) out.error = reply.error ?? "unknown error";
  return out;
}

/**
 * Runs the items in warm workers, once more for the items a crash left without a reply. Returns
 * "script" when the first call found no function to call (nothing ran).
 */
async function runWarm(
  req: ItemsRequest,
  log: TaskLog,
  attempt: AttemptFn,
): Promise<ItemsResult | "script"> {
  const { items, task } = req;
  const outcomes: Array<ItemOutcome | undefined> = new Array(items.length);
  // Written after each attempt, so a crash's note sits above the retry's output.
  const notes: string[] = [];
  const flushNotes = () => {
    if (notes.length > 0) writeTaskLog(log, `${notes.splice(0).join("\n")}\n`);
  };
  const decide = (i: number, status: ItemOutcome["status"], error: string, durationMs = 0) => {
    const key = items[i]!.key;
    outcomes[i] = { key, status, error, durationMs };
    notes.push(`dagwright: task '${task.name}' item ${key} ${status}: ${error}`);
  };
  const result: ItemsResult = { outcomes: [], logTail: [] };
  let pending = items.map((_, i) => i);
  let crashes = 0;
  while (pending.length > 0) {
    const a = await attempt(pending.map((i) => items[i]!));
    if (a.peakRssKb !== undefined) {
      result.peakRssKb = Math.max(result.peakRssKb ?? 0, a.peakRssKb);
    }
    if (a.cpuMs !== undefined) result.cpuMs = (result.cpuMs ?? 0) + a.cpuMs;
    if (a.ended === "script" && crashes === 0) return "script";
    const replied = Math.min(a.replies.length, pending.length);
    for (let j = 0; j < replied; j++) {
      const i = pending[j]!;
      outcomes[i] = fromReply(items[i]!.key, a.replies[j]!);
    }
    const unreplied = pending.slice(replied);
    if (unreplied.length === 0) break;
    if (a.ended === "done" || a.ended === "fatal" || a.ended === "script") {
      const error = a.error ?? "the worker sent no reply for this item";
      notes.push(`dagwright: task '${task.name}' failed: ${error}`);
      for (const i of unreplied) outcomes[i] = notRun(items[i]!, "failed", error);
      break;
    }
    const k = Math.min(Math.max(a.inFlight ?? replied, replied), pending.length - 1);
    const flight = pending[k]!;
    const key = items[flight]!.key;
    const rest = unreplied.filter((i) => i !== flight);
    const ms = a.inFlightMs ?? 0;
    if (a.ended === "timeout") {
      decide(flight, "timeout", `timed out after ${timeoutOf(req)}s`, ms);
      for (const i of rest) decide(i, "timeout", `not run: item ${key} timed out`);
      break;
    }
    if (a.ended === "cancelled") {
      decide(flight, "cancelled", "cancelled", ms);
      for (const i of rest) decide(i, "cancelled", "cancelled");
      break;
    }
    crashes++;
    const crash = `${a.error ?? "worker crashed"} while running item ${key}`;
    decide(flight, "failed", crash, ms);
    if (crashes === 1 && rest.length > 0 && !req.signal?.aborted) {
      flushNotes();
      pending = rest;
      continue;
    }
    for (const i of rest) {
      if (req.signal?.aborted) decide(i, "cancelled", "cancelled");
      else decide(i, "failed", `not run: the worker crashed twice in this bundle (${crash})`);
    }
    break;
  }
  flushNotes();
  result.outcomes = outcomes.map(
    (o, i) => o ?? notRun(items[i]!, "failed", "the worker sent no reply for this item"),
  );
  return result;
}

function pythonAttempt(req: ItemsRequest): AttemptFn {
  const { task } = req;
  const written = task.file;
  const fn = task.function ?? task.name;
  const python = req.env.DAGWRIGHT_PYTHON ?? process.env.DAGWRIGHT_PYTHON ?? "python3";
  const timeoutSeconds = timeoutOf(req);
  return async (items) => {
    if (written === undefined) {
      return { ended: "fatal", replies: [], error: `task '${task.name}' has no file` };
    }
    const file = path.resolve(req.root, written);
    const out = await poolsOf(req)
      .python()
      .run({
        python,
        file,
        cwd: req.root,
        request: {
          task: task.name,
          file,
          display: written,
          function: fn,
          function_explicit: task.functionExplicit,
          root: req.root,
          env: { ...task.env, ...req.env },
          inputs: { ...req.inputs, args: resolvedArgs(req.inputs) },
          pipeline_config: { scratch_dir: req.scratchDir },
          items,
          log_path: req.logPath,
        },
        killGraceMs: req.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
        ...(timeoutSeconds === undefined ? {} : { timeoutMs: timeoutSeconds * 1000 }),
        ...(req.signal === undefined ? {} : { signal: req.signal }),
      });
    const a: Attempt = {
      ended:
        out.ended === "not-started" || (out.ended === "done" && out.error !== undefined)
          ? "fatal"
          : out.ended,
      replies: out.items,
    };
    if (out.error !== undefined) a.error = out.error;
    if (out.inFlightMs !== undefined) a.inFlightMs = out.inFlightMs;
    if (out.peakRssKb !== undefined) a.peakRssKb = out.peakRssKb;
    if (out.cpuMs !== undefined) a.cpuMs = out.cpuMs;
    return a;
  };
}

function nodeAttempt(req: ItemsRequest, log: TaskLog): AttemptFn {
  const { task, inputs } = req;
  const written = task.file;
  const timeoutSeconds = timeoutOf(req);
  return async (items) => {
    if (written === undefined) {
      return { ended: "fatal", replies: [], error: `task '${task.name}' has no file` };
    }
    const out = await poolsOf(req)
      .node(req.root)
      .runBatch({
        task: task.name,
        url: pathToFileURL(path.resolve(req.root, written)).href,
        display: written,
        fn: task.function ?? task.name,
        base: {
          deps: inputs.deps,
          args: resolvedArgs(inputs),
          config: inputs.config,
          pipelineConfig: { scratchDir: req.scratchDir },
        },
        items,
        env: { ...task.env, ...req.env },
        onLog: (text) => writeTaskLog(log, text),
        ...(timeoutSeconds === undefined ? {} : { timeoutMs: timeoutSeconds * 1000 }),
        ...(req.signal === undefined ? {} : { signal: req.signal }),
      });
    const a: Attempt = {
      ended: out.ended === "returned" ? "done" : out.ended === "threw" ? "fatal" : out.ended,
      replies: out.items,
    };
    if (out.error !== undefined) a.error = out.error;
    if (out.inFlight !== undefined) a.inFlight = out.inFlight;
    if (out.inFlightMs !== undefined) a.inFlightMs = out.inFlightMs;
    return a;
  };
}

/** One process per item through launchTask, in order; a timeout or cancel ends the bundle. */
async function runProcesses(req: ItemsRequest, log: TaskLog): Promise<ItemsResult> {
  const { items: all, processesOf, ...base } = req;
  const result: ItemsResult = { outcomes: [], logTail: [] };
  const notes: string[] = [];
  let stop: { status: "timeout" | "cancelled"; error: string } | undefined;
  for (const item of all) {
    if (stop === undefined && req.signal?.aborted)
      stop = { status: "cancelled", error: "cancelled" };
    if (stop !== undefined) {
      result.outcomes.push(notRun(item, stop.status, stop.error));
      notes.push(
        `dagwright: task '${req.task.name}' item ${item.key} ${stop.status}: ${stop.error}`,
      );
      continue;
    }
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(item.values)) env[k] = itemText(v);
    const processes = processesOf?.(item.key);
    const r = await launchTask({
      ...base,
      inputs: { ...req.inputs, item: env },
      ...(processes === undefined ? {} : { processes }),
    });
    const out: ItemOutcome = { key: item.key, status: r.status, durationMs: r.durationMs };
    if (r.result !== undefined) out.result = r.result;
    if (r.error !== undefined) out.error = r.error;
    result.outcomes.push(out);
    if (r.peakRssKb !== undefined) result.peakRssKb = Math.max(result.peakRssKb ?? 0, r.peakRssKb);
    if (r.cpuMs !== undefined) result.cpuMs = (result.cpuMs ?? 0) + r.cpuMs;
    if (r.status === "timeout")
      stop = { status: "timeout", error: `not run: item ${item.key} timed out` };
    if (r.status === "cancelled") stop = { status: "cancelled", error: "cancelled" };
  }
  if (notes.length > 0) writeTaskLog(log, `${notes.join("\n")}\n`);
  return result;
}
