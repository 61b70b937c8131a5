import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { takeDatabaseTurn, usesProjectDatabase } from "../spec/duckdb-database.js";
import { isRefArg, type TaskSpec } from "../spec/types.js";
import { databaseOf, runSqlTask } from "./duckdb/run-sql-task.js";
import type { WorkerTask } from "./node-worker-pool.js";
import { redactText, secretValues } from "./redact.js";
import { type ProcessHooks, type ProcessOutcome, runProcess } from "./run-process.js";
import {
  closeTaskLog,
  LOG_TAIL_LINES,
  openTaskLog,
  readTaskLogTail,
  type TaskLog,
  writeTaskLog,
} from "./task-log.js";
import { type ArgVars, fillVars, tokenizeArgs } from "./tokenize-args.js";
import { poolsOf, type WorkerPools } from "./worker-pools.js";

export { shutdownWorkers } from "./worker-pools.js";

/** Everything needed to run one task (or one fan-out item of it) once. */
export interface LaunchRequest {
  /** kind: python | r | node | shell | command | sql. */
  task: TaskSpec;
  /** Absolute project root. */
  root: string;
  /**
   * Function tasks: values by name. Python fills each parameter by name from, in order: item
   * values and deps, args, config keys, then the names `pipeline_config` ({ scratch_dir }) and
   * `runtime_config` (the config), then the default. TS/JS functions receive one object
   * `{ ...deps, args, config, item, pipelineConfig: { scratchDir }, deps }`.
   * An arg written `{ ref: dep }` is replaced by `deps[dep]` when the caller has not done so.
   */
  inputs: {
    deps: Record<string, unknown>;
    args: Record<string, unknown>;
    config: Record<string, unknown>;
    item?: Record<string, string>;
  };
  /**
   * Merged over process.env and `task.env` for every task (TS/JS tasks: over the worker's
   * process.env during the call). Set by the caller: OUTPUT_PIPELINE_DIR, INPUT_PIPELINE_DIR,
   * DAGWRIGHT_PROJECT_ROOT; DAGWRIGHT_PYTHONPATH (`:`-joined, root-relative or absolute) for
   * `settings.py_tasks_dir`; optionally DAGWRIGHT_PYTHON (the interpreter, default `python3`);
   * DAGWRIGHT_DUCKDB_PATH (the project database SQL tasks run on; see docs/sql.md).
   * Script tasks also get the item values as variables.
   */
  env: Record<string, string>;
  /** Absolute; Python's `pipeline_config.scratch_dir`. */
  scratchDir: string;
  /** Absolute; this attempt's header and all output are appended here (directories created). */
  logPath: string;
  /** Defaults to `task.timeoutSeconds`. */
  timeoutSeconds?: number;
  /** SIGTERM → wait → SIGKILL; default 5000. */
  killGraceMs?: number;
  /** Cancel: kills the whole process group (or terminates the worker thread). */
  signal?: AbortSignal;
  /** Told when the task's process starts and ends (not for TS/JS functions, which run in threads). */
  processes?: ProcessHooks;
  /**
   * The warm workers function tasks run in: the project's (see `openProject`). Without it, the
   * launcher's own (`directLaunchPools`).
   */
  pools?: WorkerPools;
}

/** How one launch ended. Never a success after a timeout or cancel. */
export interface LaunchResult {
  status: "succeeded" | "failed" | "timeout" | "cancelled";
  exitCode?: number;
  signal?: string;
  /** JSON-serializable return value of a function task (undefined for scripts). */
  result?: unknown;
  /** One line: "exit code 3", "killed by SIGKILL", "timed out after 2s", "ValueError: bad", … */
  error?: string;
  durationMs: number;
  /** Processes only (rusage from the process launcher, /proc, or Python's own getrusage). */
  peakRssKb?: number;
  cpuMs?: number;
  /** The last ≤ 20 lines this attempt wrote to the log. */
  logTail: string[];
}

const PYTHON_RUNNER = fileURLToPath(new URL("../../runtime/dagwright_task.py", import.meta.url));
const DEFAULT_KILL_GRACE_MS = 5000;

/**
 * Runs one task once and reports how it ended; never rejects (a problem launching the task, such
 * as a missing interpreter, is a `failed` result whose `error` says so). Processes run without a
 * shell unless the task is a shell string (Invariant 4), each in its own process group that a
 * timeout or `signal` kills as a whole (Invariant 6). TS/JS functions run in warm workers whose
 * working directory is the project root (see {@link NodeWorkerPool}). Stop `req.pools` when done
 * ({@link shutdownWorkers} for the launcher's own): an idle pool does not keep the process alive,
 * but it keeps modules loaded.
 */
export async function launchTask(req: LaunchRequest): Promise<LaunchResult> {
  const started = performance.now();
  const { task } = req;
  const done = (outcome: Outcome, logTail: string[]): LaunchResult => ({
    ...outcome,
    durationMs: performance.now() - started,
    logTail,
  });
  let prepared: Prepared | undefined;
  let outcome: Outcome | undefined;
  try {
    prepared = LAUNCHERS[task.kind](req);
  } catch (err) {
    outcome = { status: "failed", error: messageOf(err) };
  }
  const secrets = secretsOf(req);
  let log: TaskLog;
  try {
    log = openTaskLog(
      req.logPath,
      task.name,
      (prepared?.what ?? task.kind) + itemNote(req.inputs.item),
      { lazy: task.kind === "node" && prepared !== undefined, secrets },
    );
  } catch (err) {
    return done(
      { status: "failed", error: `cannot open log ${req.logPath}: ${messageOf(err)}` },
      [],
    );
  }
  if (prepared !== undefined) {
    // A SQL task takes its turn on the database itself; others that use it hold one meanwhile.
    const turn =
      task.kind !== "sql" && usesProjectDatabase(task)
        ? await takeDatabaseTurn(databaseOf(req))
        : undefined;
    try {
      outcome = await prepared.run(log);
    } catch (err) {
      outcome = { status: "failed", error: messageOf(err) };
    } finally {
      turn?.();
    }
  }
  outcome ??= { status: "failed", error: "nothing to run" };
  // The error goes to the console, the state store and events: no secret in it (Invariant 7).
  if (outcome.error !== undefined) outcome.error = redactText(outcome.error, secrets);
  let tail = readTaskLogTail(log);
  prepared?.explain?.(outcome, tail);
  // The reason goes last in the log, so the tail shows it next to the output that led to it.
  if (outcome.error !== undefined) {
    const line = `dagwright: task '${task.name}' ${outcome.status}: ${outcome.error}`;
    writeTaskLog(log, `${line}\n`);
    tail = [...tail, line].slice(-LOG_TAIL_LINES);
  }
  closeTaskLog(log);
  return done(outcome, tail);
}

/**
 * The values of the task's declared secrets in the environment the task is started with (see
 * redact.ts): what its log, errors and events must not show.
 */
export function secretsOf(req: Pick<LaunchRequest, "task" | "env">): string[] {
  return req.task.secrets.length === 0 ? [] : secretValues(req.task.secrets, baseEnv(req));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

type Outcome = Omit<LaunchResult, "durationMs" | "logTail">;

/** What a launcher prepared: the header's description, and how to run against an open log. */
interface Prepared {
  what: string;
  run: (log: TaskLog) => Promise<Outcome>;
  /** Improves a failure's `error` from the log's last lines. */
  explain?: (outcome: Outcome, tail: readonly string[]) => void;
}

const LAUNCHERS: Record<TaskSpec["kind"], (req: LaunchRequest) => Prepared> = {
  python: preparePython,
  r: prepareR,
  node: prepareNode,
  shell: prepareShell,
  command: prepareCommand,
  sql: (req) => ({
    what: `sql ${fileOf(req)} on ${databaseOf(req)}`,
    run: (log) => runSqlTask(req, log),
  }),
};

function itemNote(item: Record<string, string> | undefined): string {
  if (item === undefined) return "";
  const pairs = Object.entries(item).map(([k, v]) => `${k}=${v}`);
  return pairs.length === 0 ? "" : ` (item ${pairs.join(", ")})`;
}

function fileOf(req: LaunchRequest): string {
  if (req.task.file === undefined) throw new Error(`task '${req.task.name}' has no file`);
  return req.task.file;
}

function baseEnv(req: Pick<LaunchRequest, "task" | "env">): NodeJS.ProcessEnv {
  return { ...process.env, ...req.task.env, ...req.env };
}

/** The environment of a script: item values over everything else. */
function scriptEnv(req: LaunchRequest): NodeJS.ProcessEnv {
  return req.inputs.item === undefined ? baseEnv(req) : { ...baseEnv(req), ...req.inputs.item };
}

function timeoutOf(req: LaunchRequest): number | undefined {
  return req.timeoutSeconds ?? req.task.timeoutSeconds;
}

function showArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ");
}

/** Runs a process against the log and maps its outcome to a result. */
async function runArgv(
  req: LaunchRequest,
  log: TaskLog,
  argv: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<ProcessOutcome> {
  const timeoutSeconds = timeoutOf(req);
  return runProcess({
    command: argv[0]!,
    args: argv.slice(1),
    cwd,
    env,
    logFd: log.fd,
    // A task with secrets writes through dagwright, which redacts them before they reach the log.
    ...(log.redactor === undefined
      ? { logPath: log.path }
      : { output: (chunk: Buffer) => writeTaskLog(log, chunk) }),
    killGraceMs: req.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
    ...(timeoutSeconds === undefined ? {} : { timeoutSeconds }),
    ...(req.signal === undefined ? {} : { signal: req.signal }),
    ...(req.processes === undefined ? {} : { hooks: req.processes }),
  });
}

function resultOf(req: LaunchRequest, p: ProcessOutcome): Outcome {
  const r: Outcome = { status: "failed" };
  if (p.exitCode !== undefined) r.exitCode = p.exitCode;
  if (p.signal !== undefined) r.signal = p.signal;
  if (p.peakRssKb !== undefined) r.peakRssKb = p.peakRssKb;
  if (p.cpuMs !== undefined) r.cpuMs = p.cpuMs;
  switch (p.ended) {
    case "timeout":
      r.status = "timeout";
      r.error = `timed out after ${timeoutOf(req)}s`;
      break;
    case "cancelled":
      r.status = "cancelled";
      r.error = "cancelled";
      break;
    case "not-started":
    case "lost":
      r.error = p.error ?? "could not start";
      break;
    default:
      if (p.exitCode === 0) r.status = "succeeded";
      else r.error = p.signal === undefined ? `exit code ${p.exitCode}` : `killed by ${p.signal}`;
  }
  return r;
}

/**
 * `shown` is the header's description; for argv with `cli_args` it shows them as written, since
 * a filled `${VAR}` may hold a secret (Invariant 7).
 */
function prepareArgv(
  req: LaunchRequest,
  argv: readonly string[],
  cwd: string,
  shown = showArgv(argv),
): Prepared {
  return {
    what: shown,
    run: async (log) => resultOf(req, await runArgv(req, log, argv, cwd, scriptEnv(req))),
  };
}

function prepareCommand(req: LaunchRequest): Prepared {
  const { command } = req.task;
  if (command === undefined) throw new Error(`task '${req.task.name}' has no command`);
  if ("shell" in command) return prepareArgv(req, ["sh", "-c", command.shell], req.root);
  if (command.argv.length === 0) throw new Error(`task '${req.task.name}' has an empty command`);
  return prepareArgv(req, command.argv, req.root);
}

/** Item values over the task's environment, for `${VAR}` in R paths and `cli_args`. */
function argVars(req: LaunchRequest): ArgVars {
  return { ...process.env, ...req.task.env, ...req.env, ...req.inputs.item };
}

function cliTokens(req: LaunchRequest, vars: ArgVars): string[] {
  if (req.task.cliArgs === undefined) return [];
  try {
    return tokenizeArgs(req.task.cliArgs, vars);
  } catch (err) {
    throw new Error(`cli_args: ${(err as Error).message}`);
  }
}

/** The argv as written, for the log header: `cli_args` unfilled. */
function showWithCliArgs(req: LaunchRequest, head: readonly string[]): string {
  const { cliArgs } = req.task;
  return cliArgs === undefined ? showArgv(head) : `${showArgv(head)} ${cliArgs}`;
}

function prepareShell(req: LaunchRequest): Prepared {
  const head = ["sh", path.resolve(req.root, fileOf(req))];
  const argv = [...head, ...cliTokens(req, argVars(req))];
  return prepareArgv(req, argv, req.root, showWithCliArgs(req, head));
}

function prepareR(req: LaunchRequest): Prepared {
  const vars = argVars(req);
  const written = fileOf(req);
  const script = path.resolve(req.root, written.includes("${") ? fillVars(written, vars) : written);
  const rel = path.relative(req.root, script);
  if (rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new Error(`R script ${JSON.stringify(script)} is outside the project root`);
  }
  const prefix = (req.task.prefixArgs ?? "").split(/\s+/).filter((t) => t !== "");
  const head = [...prefix, "Rscript", path.basename(script)];
  const argv = [...head, ...cliTokens(req, vars)];
  return {
    ...prepareArgv(req, argv, path.dirname(script), showWithCliArgs(req, head)),
    explain: explainRFailure,
  };
}

/**
 * Like kptn, puts R's own error line into the reason: `Error in f(x) : bad (exit code 1)`. R
 * breaks a long message onto the next line after "Error in call :".
 */
function explainRFailure(outcome: Outcome, tail: readonly string[]): void {
  if (outcome.status !== "failed" || outcome.exitCode === undefined) return;
  for (let i = tail.length - 1; i >= 0; i--) {
    const line = tail[i]!;
    if (!/^Error( in |:)/.test(line)) continue;
    const next = tail[i + 1];
    const text =
      line.trimEnd().endsWith(":") && next !== undefined
        ? `${line.trim()} ${next.trim()}`
        : line.trim();
    outcome.error = `${text} (exit code ${outcome.exitCode})`;
    return;
  }
}

// Request and result files of the Python runner, in one private directory per process.
let pyTempDir: string | undefined;
let pyCounter = 0;

function pythonTempDir(): string {
  if (pyTempDir === undefined) {
    const dir = mkdtempSync(path.join(os.tmpdir(), "dagwright-py-"));
    pyTempDir = dir;
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return pyTempDir;
}

/** Args with `{ ref: dep }` replaced by the dependency's value (a no-op once the caller did it). */
export function resolvedArgs(inputs: LaunchRequest["inputs"]): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(inputs.args)) {
    if (isRefArg(value) && value.ref in inputs.deps) {
      out ??= { ...inputs.args };
      out[key] = inputs.deps[value.ref];
    }
  }
  return out ?? inputs.args;
}

interface PythonReply {
  ok?: boolean;
  result?: unknown;
  script?: boolean;
  error?: string;
  rusage?: { maxrss_kb?: number; cpu_ms?: number } | null;
}

function preparePython(req: LaunchRequest): Prepared {
  const { task } = req;
  const written = fileOf(req);
  const fn = task.function ?? task.name;
  return {
    what: `python ${written}:${fn}`,
    run: async (log) => {
      const dir = pythonTempDir();
      const n = ++pyCounter;
      const requestPath = path.join(dir, `req-${n}.json`);
      const resultPath = path.join(dir, `res-${n}.json`);
      const { item } = req.inputs;
      writeFileSync(
        requestPath,
        JSON.stringify({
          task: task.name,
          file: path.resolve(req.root, written),
          display: written,
          function: fn,
          function_explicit: task.functionExplicit,
          inputs: { ...req.inputs, args: resolvedArgs(req.inputs), item: item ?? {} },
          pipeline_config: { scratch_dir: req.scratchDir },
          result_path: resultPath,
        }),
      );
      const python = req.env.DAGWRIGHT_PYTHON ?? process.env.DAGWRIGHT_PYTHON ?? "python3";
      // Unbuffered, so print() and tracebacks reach the log in the order they happened.
      const env = { PYTHONUNBUFFERED: "1", ...baseEnv(req) };
      try {
        const outcome = await runArgv(
          req,
          log,
          [python, PYTHON_RUNNER, requestPath],
          req.root,
          env,
        );
        const r = resultOf(req, outcome);
        let reply: PythonReply | undefined;
        try {
          reply = JSON.parse(readFileSync(resultPath, "utf8")) as PythonReply;
        } catch {
          // no result file: the runner was killed or never started
        }
        if (reply === undefined) return r;
        if (reply.rusage?.maxrss_kb !== undefined) r.peakRssKb = reply.rusage.maxrss_kb;
        if (reply.rusage?.cpu_ms !== undefined) r.cpuMs = reply.rusage.cpu_ms;
        if (r.status === "failed" && reply.error !== undefined) r.error = reply.error;
        if (r.status === "succeeded" && !reply.script && "result" in reply) r.result = reply.result;
        return r;
      } finally {
        rmSync(requestPath, { force: true });
        rmSync(resultPath, { force: true });
      }
    },
  };
}

const fileUrls = new Map<string, Map<string, string>>();

/** The file: URL of a task's module (memoized: every task of a fan-in shares a few files). */
function moduleUrl(root: string, written: string): string {
  let byFile = fileUrls.get(root);
  if (byFile === undefined) {
    byFile = new Map();
    if (fileUrls.size > 100) fileUrls.clear();
    fileUrls.set(root, byFile);
  }
  let url = byFile.get(written);
  if (url === undefined) {
    url = pathToFileURL(path.resolve(root, written)).href;
    if (byFile.size > 10_000) byFile.clear();
    byFile.set(written, url);
  }
  return url;
}

const pipelineConfigs = new Map<string, { scratchDir: string }>();

/**
 * The one argument a TS/JS function task receives. Its parts are cloned into the worker, so
 * tasks may share them here (`pipelineConfig` is one object per scratch dir).
 */
function nodeInput(req: LaunchRequest): Record<string, unknown> {
  const { inputs } = req;
  let pipelineConfig = pipelineConfigs.get(req.scratchDir);
  if (pipelineConfig === undefined) {
    pipelineConfig = { scratchDir: req.scratchDir };
    if (pipelineConfigs.size > 100) pipelineConfigs.clear();
    pipelineConfigs.set(req.scratchDir, pipelineConfig);
  }
  return {
    ...inputs.deps,
    args: resolvedArgs(inputs),
    config: inputs.config,
    item: inputs.item,
    pipelineConfig,
    deps: inputs.deps,
  };
}

/** What a TS/JS task module and function the pool would run for `req` (throws like launchTask). */
export function nodeModuleOf(req: Pick<LaunchRequest, "task" | "root">): {
  url: string;
  display: string;
  fn: string;
} {
  const written = fileOf(req as LaunchRequest);
  return {
    url: moduleUrl(req.root, written),
    display: written,
    fn: req.task.function ?? req.task.name,
  };
}

/** A launch result for a worker's outcome of a TS/JS function. */
function nodeOutcome(
  out: { ended: string; result?: unknown; error?: string },
  timeoutSeconds?: number,
): Outcome {
  switch (out.ended) {
    case "returned":
      return out.result === undefined
        ? { status: "succeeded" }
        : { status: "succeeded", result: out.result };
    case "timeout":
      return { status: "timeout", error: `timed out after ${timeoutSeconds}s` };
    case "cancelled":
      return { status: "cancelled", error: out.error ?? "cancelled" };
    default:
      return { status: "failed", error: out.error ?? "unknown error" };
  }
}

/**
 * {@link launchTask} for several TS/JS function tasks (kind `node`, no timeout) at once: they run
 * one after another in one pooled worker, sent in one message, so many short tasks cost one round
 * trip instead of one each. Each task keeps its own log, environment and result; `onResult`
 * receives each task's result as soon as it is known (in order), with the time of the call itself
 * when the worker measured it. `signal` is the first request's.
 * Never rejects; resolves once every task has its result.
 */
export async function launchNodeTasks(
  reqs: readonly LaunchRequest[],
  onResult: (index: number, result: LaunchResult, callMs?: number) => void,
): Promise<void> {
  const started = performance.now();
  // Logs open on the first write (most tasks print nothing), as openTaskLog's lazy logs do.
  const logs: (TaskLog | undefined)[] = [];
  const whats: string[] = [];
  const tasks: WorkerTask[] = [];
  const at: number[] = [];
  const solo: Promise<void>[] = [];
  const logOf = (k: number) => {
    let log = logs[k];
    if (log === undefined) {
      const req = reqs[at[k]!]!;
      log = openTaskLog(req.logPath, req.task.name, whats[k]!, { secrets: secretsOf(req) });
      logs[k] = log;
    }
    return log;
  };
  const write = (k: number, text: string) => {
    let log: TaskLog;
    try {
      log = logOf(k);
    } catch {
      return; // like writeTaskLog: losing a log line must not lose the task's result
    }
    writeTaskLog(log, text);
  };
  reqs.forEach((req, i) => {
    let mod: ReturnType<typeof nodeModuleOf>;
    try {
      if (req.task.kind !== "node" || timeoutOf(req) !== undefined)
        throw new Error("not a pooled call");
      mod = nodeModuleOf(req);
    } catch {
      // Anything unusual (no file, a timeout) takes the one-task path, which reports it.
      solo.push(launchTask(req).then((r) => onResult(i, r)));
      return;
    }
    const k = tasks.length;
    logs.push(undefined);
    whats.push(`${mod.display}:${mod.fn}${itemNote(req.inputs.item)}`);
    at.push(i);
    tasks.push({
      task: req.task.name,
      url: mod.url,
      display: mod.display,
      fn: mod.fn,
      input: nodeInput(req),
      env: { ...req.task.env, ...req.env },
      onLog: (text) => write(k, text),
    });
  });
  const signal = reqs[0]?.signal;
  const first = reqs[0];
  const ran = (first === undefined ? undefined : poolsOf(first).node(first.root))?.runTasks(
    tasks,
    (k, out) => {
      const req = reqs[at[k]!]!;
      const outcome = nodeOutcome(out);
      if (outcome.error !== undefined) outcome.error = redactText(outcome.error, secretsOf(req));
      const log = logs[k];
      let tail = log === undefined ? [] : readTaskLogTail(log);
      if (outcome.error !== undefined) {
        const line = `dagwright: task '${req.task.name}' ${outcome.status}: ${outcome.error}`;
        write(k, `${line}\n`);
        tail = [...tail, line].slice(-LOG_TAIL_LINES);
      }
      const opened = logs[k];
      if (opened !== undefined) closeTaskLog(opened);
      const result = outcome as LaunchResult;
      result.durationMs = out.ms ?? performance.now() - started;
      result.logTail = tail;
      onResult(at[k]!, result, out.callMs);
    },
    signal,
  );
  await Promise.all([ran, ...solo]);
}

function prepareNode(req: LaunchRequest): Prepared {
  const { task } = req;
  const mod = nodeModuleOf(req);
  return {
    what: `${mod.display}:${mod.fn}`,
    run: async (log) => {
      const timeoutSeconds = timeoutOf(req);
      const out = await poolsOf(req)
        .node(req.root)
        .run({
          task: task.name,
          url: mod.url,
          display: mod.display,
          fn: mod.fn,
          input: nodeInput(req),
          env: { ...task.env, ...req.env },
          onLog: (text) => writeTaskLog(log, text),
          ...(timeoutSeconds === undefined ? {} : { timeoutMs: timeoutSeconds * 1000 }),
          ...(req.signal === undefined ? {} : { signal: req.signal }),
        });
      return nodeOutcome(out, timeoutSeconds);
    },
  };
}
