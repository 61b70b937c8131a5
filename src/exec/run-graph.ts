import { mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { hashValue } from "../fingerprint/hash-value.js";
import type { GraphTask } from "../graph/graph.js";
import {
  decideMapped,
  hasDependents,
  itemKeysOf,
  upstreamStatesOf,
} from "../plan/decide-mapped.js";
import { pickItems } from "../plan/expand-items.js";
import { itemRunReasons, planItems } from "../plan/plan-items.js";
import {
  decideTask,
  decideTaskNow,
  type PlanContext,
  type TaskDecision,
  type UpstreamState,
} from "../plan/plan-task.js";
import { isRefArg } from "../spec/types.js";
import type { OutputRecord, StateStore } from "../state/state-store.js";
import {
  attemptLogDir,
  DEFAULT_KEEP_LOGS,
  newAttemptLogPath,
  pruneAttemptLogs,
} from "../tasks/attempt-logs.js";
import { compiledIfCurrent, needsCompile, projectRootFor } from "../tasks/compile-ts.js";
import {
  type LaunchRequest,
  type LaunchResult,
  launchNodeTasks,
  launchTask,
  nodeModuleOf,
} from "../tasks/launch-task.js";
import { LogFollower } from "../tasks/log-follower.js";
import type { PreloadModule } from "../tasks/node-worker-pool.js";
import { startSpawnHelper } from "../tasks/spawn-helper.js";
import { sharedNodePool } from "../tasks/worker-pools.js";
import { moveOutputsAside } from "./attempt-outputs.js";
import { type AttemptOutcome, startAttempts } from "./attempt-records.js";
import { collectOutputs } from "./collect-outputs.js";
import { OutputClaims } from "./output-claims.js";
import { escapeMessage } from "./output-realpath.js";
import type { ProcessLedger } from "./process-ledger.js";
import type { RunCounts, RunObserver, RunStatus } from "./run-events.js";
import { type MappedRunEnv, runMappedItems } from "./run-mapped.js";

/** Options of one run of selected tasks of a graph. */
export interface RunGraphOptions {
  plan: PlanContext;
  store: StateStore;
  namespace: string;
  runId: string;
  /** Selected tasks, in topological order. Dependencies outside it count as satisfied by their last success. */
  selected: readonly string[];
  /** Absolute scratch dir (`OUTPUT_PIPELINE_DIR`). */
  scratchDir: string;
  /** Each attempt logs to a file of its own under it (see tasks/attempt-logs.ts). */
  logDir: string;
  /** Attempt logs kept per task and item, the starting one included (default 5). */
  keepLogs?: number;
  /** Emit `log` events with each line tasks write (`run -v`); off by default. */
  streamLogs?: boolean;
  jobs: number;
  force?: boolean;
  dryRun?: boolean;
  signal?: AbortSignal;
  observer: RunObserver;
  /** Base delay between retries, doubled per attempt (default 1000 ms, capped at 30 s). */
  retryBackoffMs?: number;
  /**
   * Called with a task's (or a bundle's) verified outputs before they are recorded: rendered
   * targets push them to the shared artifact location here, so no pod ever sees a success whose
   * files are not there yet. A rejection fails the task (or those items).
   */
  beforeRecord?: (paths: string[]) => Promise<void>;
  /** One attempt per task: the caller (an orchestrator's retryStrategy) does the retrying. */
  singleAttempt?: boolean;
  /**
   * The token of the namespace lock the caller holds (`acquireLock`). Only then may attempts'
   * begin records be deferred (invariant 2); without it they are written as attempts start.
   */
  lockToken?: string;
  /** `run-task --item`: run only these items of this mapped task. */
  items?: { task: string; keys: string[] };
  /** Records the processes tasks start, to be found if this runner dies (see stopOrphans). */
  processes?: ProcessLedger;
  /**
   * The project's environment where it differs from this process's (rendered values decoded, a
   * library caller's own env): every task gets it under its own `env`.
   */
  env?: Readonly<Record<string, string>>;
}

type Outcome = "done" | "fresh" | "failed" | "skipped" | "cancelled";

type Completion = Extract<AttemptOutcome, { completion: unknown }>["completion"];

/** The state-store completion of a successful attempt, and its result's hash (when it has one). */
function completionOf(
  task: GraphTask,
  result: LaunchResult,
  outputs: OutputRecord[],
): { completion: Completion; resultHash: string | undefined } {
  let resultHash: string | undefined;
  if (task.spec.cacheResult || result.result !== undefined)
    resultHash = hashValue(result.result ?? null);
  // Built field by field: this runs once per task, and spreads of {} cost an object each.
  const completion: Completion = { outputs, durationMs: result.durationMs };
  if (task.spec.cacheResult) completion.result = result.result ?? null;
  if (resultHash) completion.resultHash = resultHash;
  if (result.exitCode !== undefined) completion.exitCode = result.exitCode;
  if (result.peakRssKb !== undefined) completion.peakRssKb = result.peakRssKb;
  if (result.cpuMs !== undefined) completion.cpuMs = result.cpuMs;
  return { completion, resultHash };
}

/**
 * Runs the selected tasks in dependency order, up to `jobs` at once and within cpu/memory slots.
 * Each ready task is fingerprinted against the state store right before it would start (so an
 * upstream that reran with identical output keeps it fresh), run with retries and timeout, its
 * declared outputs verified, and recorded in one transaction. A failed or cancelled task is never
 * recorded as done; its downstream tasks are skipped with the reason.
 */
export async function runGraph(
  o: RunGraphOptions,
): Promise<{ status: RunStatus; counts: RunCounts }> {
  const started = Date.now();
  const { graph } = o.plan;
  const selected = new Set(o.selected);
  const outcome = new Map<string, Outcome>();
  let outputClaims: OutputClaims | undefined;
  const claims = () => {
    outputClaims ??= new OutputClaims(graph, o.plan.outputsDir);
    return outputClaims;
  };
  const upstream = new Map<string, UpstreamState | undefined>();
  const counts: RunCounts = {
    total: o.selected.length,
    done: 0,
    fresh: 0,
    failed: 0,
    skipped: 0,
    cancelled: 0,
  };
  const root = o.plan.spec.root;
  const pythonPath = o.plan.spec.settings.pyTasksDirs.map((d) => path.join(root, d)).join(":");
  if (!o.dryRun) mkdirSync(o.scratchDir, { recursive: true });
  const keepLogs = o.keepLogs ?? DEFAULT_KEEP_LOGS;
  const follower = o.streamLogs && !o.dryRun ? new LogFollower() : undefined;
  // Processes start through the posix_spawn launcher once it is up (~20-100 ms): start it now,
  // while the first tasks are planned, rather than at the first process.
  if (!o.dryRun && o.selected.some((t) => graph.tasks[t]!.spec.kind !== "node"))
    void startSpawnHelper();

  // Previous state of every task in one query; deps outside the selection feed from it.
  const needed = new Set<string>(o.selected);
  for (const t of o.selected) for (const d of graph.tasks[t]!.deps) needed.add(d);
  const states = await o.store.taskStates(o.namespace, [...needed]);
  const unselected = [...needed].filter((t) => !selected.has(t));
  for (const [t, u] of await upstreamStatesOf(o.store, o.namespace, graph, unselected, states))
    upstream.set(t, u);

  // TS/JS tasks that will run need warm workers: start them (and their imports) now, while the
  // first tasks are planned, rather than at the first call. Only when some task surely runs, so
  // a no-change rerun starts no thread.
  if (!o.dryRun) {
    const surely = o.selected.filter((t) => {
      const spec = graph.tasks[t]!.spec;
      if (spec.kind !== "node" || spec.file === undefined) return false;
      const s = states.get(t);
      return (
        o.force ||
        !spec.cache ||
        s?.lastSuccess === undefined ||
        s.lastAttempt?.status !== "succeeded"
      );
    });
    if (surely.length > 0)
      prewarmNodeWorkers(
        o,
        surely,
        1, // one: the pool starts more when tasks turn out to need them
        envOf,
      );
  }

  const totalCpu = Math.max(1, o.jobs);
  const totalMemMiB = Math.floor(os.totalmem() / 1024 / 1024);
  let cpuInUse = 0;
  let memInUse = 0;
  let running = 0;
  const cpuOf = (t: GraphTask) =>
    Math.min(totalCpu, Math.max(1, Math.ceil(t.spec.compute.cpu ?? 1)));
  const memOf = (t: GraphTask) => Math.min(totalMemMiB, t.spec.compute.memoryMiB ?? 0);

  const remainingDeps = new Map<string, number>();
  for (const t of o.selected)
    remainingDeps.set(t, graph.tasks[t]!.deps.filter((d) => selected.has(d)).length);
  let ready: string[] = o.selected.filter((t) => remainingDeps.get(t) === 0);
  let cancelled = false;

  const settle = (task: string, result: Outcome) => {
    outcome.set(task, result);
    if (result === "done") counts.done++;
    else if (result === "fresh") counts.fresh++;
    else if (result === "failed") counts.failed++;
    else if (result === "cancelled") counts.cancelled++;
    else counts.skipped++;
    for (const next of graph.dependents[task] ?? []) {
      if (!selected.has(next)) continue;
      const left = remainingDeps.get(next)! - 1;
      remainingDeps.set(next, left);
      if (left === 0) ready.push(next);
    }
  };

  const decideOptions = { force: o.force ?? false };
  const handleTask = async (name: string): Promise<void> => {
    const task = graph.tasks[name]!;
    const blocked = task.deps.find((d) =>
      selected.has(d)
        ? outcome.get(d) !== "done" && outcome.get(d) !== "fresh"
        : upstream.get(d) === undefined,
    );
    if (blocked !== undefined) {
      const why = selected.has(blocked)
        ? `upstream ${blocked} ${outcome.get(blocked) === "failed" ? "failed" : outcome.get(blocked) === "cancelled" ? "was cancelled" : "was skipped"}`
        : `upstream ${blocked} has never succeeded and is not selected; run it first`;
      o.observer({ type: "task-skipped", task: name, reason: why });
      settle(name, "skipped");
      return;
    }
    if (cancelled) {
      o.observer({ type: "task-skipped", task: name, reason: "run cancelled" });
      settle(name, "skipped");
      return;
    }
    if (task.spec.mapOver !== undefined) {
      settle(name, await runMapped(task));
      return;
    }
    const previous = states.get(name) ?? {};
    const decision =
      decideTaskNow(o.plan, task, upstream, previous, decideOptions) ??
      (await decideTask(o.plan, task, upstream, previous, decideOptions));
    if (decision.action === "fresh") {
      const last = states.get(name)?.lastSuccess;
      upstream.set(
        name,
        last
          ? { outputs: last.outputs, ...(last.resultHash ? { resultHash: last.resultHash } : {}) }
          : undefined,
      );
      o.observer({ type: "task-fresh", task: name });
      settle(name, "fresh");
      return;
    }
    if (o.dryRun) {
      o.observer({ type: "task-would-run", task: name, reasons: decision.reasons });
      // Downstream of a task that would run is reported as running too (its input would change).
      upstream.set(name, { outputs: [], resultHash: `pending:${name}` });
      settle(name, "done");
      return;
    }
    settle(name, await execute(task, decision));
  };

  const execute = async (task: GraphTask, decision: TaskDecision): Promise<Outcome> => {
    const name = task.name;
    for (let attempt = 1; ; attempt++) {
      const logPath = newAttemptLogPath(o.logDir, name);
      let record: ReturnType<typeof startAttempts> | undefined;
      let unfollow: (() => void) | undefined;
      const begin = () => {
        pruneAttemptLogs(logPath, keepLogs);
        unfollow = follower?.follow(logPath, (line) =>
          o.observer({ type: "log", task: name, line }),
        );
        const attemptRecord: Parameters<typeof startAttempts>[1][number] = {
          runId: o.runId,
          namespace: o.namespace,
          task: name,
          fingerprint: decision.fingerprint,
          parts: decision.parts,
          logPath,
        };
        if (decision.partsJson !== undefined) attemptRecord.partsJson = decision.partsJson;
        record = startAttempts(o.store, [attemptRecord], o.lockToken);
        o.observer({ type: "task-start", task: name, reasons: decision.reasons, attempt });
      };
      const aside =
        task.spec.outputs.length === 0
          ? undefined
          : await moveOutputsAside(
              o.plan,
              { namespace: o.namespace, task: name },
              task.spec.outputs,
              task.spec.inPlaceOutputs,
              (rel) => claims().byOther(name, rel),
            );
      // Whatever throws before the attempt settles puts the earlier outputs back first.
      const guarded = async <T>(work: () => Promise<T>): Promise<T> => {
        try {
          return await work();
        } catch (err) {
          await aside?.restore();
          throw err;
        }
      };
      let superseded = false;
      const result = await guarded(() => launch(task, logPath, begin)).finally(() => unfollow?.());
      if (result === undefined || record === undefined) {
        await aside?.restore();
        // Never started: the run was cancelled while it waited for a worker.
        o.observer({ type: "task-skipped", task: name, reason: "run cancelled" });
        return "skipped";
      }
      let error = result.error ?? result.status;
      if (result.status === "succeeded") {
        const collected =
          task.spec.outputs.length === 0
            ? { records: [] }
            : await guarded(() => collectOutputs(o.plan, task.spec.outputs));
        let recorded: OutputRecord[] | string =
          "records" in collected
            ? collected.records
            : "escaped" in collected
              ? `exited 0, but ${escapeMessage(collected.escaped.rel, collected.escaped.real, o.plan.outputsDir)}`
              : `exited 0 but did not write its declared output${collected.missing.length === 1 ? "" : "s"}: ${collected.missing.join(", ")}`;
        if (typeof recorded !== "string" && o.beforeRecord) {
          try {
            await o.beforeRecord(recorded.map((r) => r.path));
          } catch (err) {
            recorded = `outputs could not be published: ${(err as Error).message}`;
          }
        }
        if (typeof recorded === "string") {
          error = recorded;
        } else {
          const { completion, resultHash } = completionOf(task, result, recorded);
          const started = record;
          const [ok] = await guarded(() => started.finish([{ completion }]));
          // Recorded, or superseded: then the current attempt (another runner's) owns the files
          // now. Either way the earlier copies go and the files stay.
          aside?.discard();
          if (!ok) {
            superseded = true;
            error = "superseded by a newer attempt of the same task; not recorded";
          } else {
            const state: UpstreamState = { outputs: recorded };
            if (resultHash) state.resultHash = resultHash;
            upstream.set(name, state);
            if (result.peakRssKb !== undefined)
              o.observer({
                type: "task-done",
                task: name,
                durationMs: result.durationMs,
                peakRssKb: result.peakRssKb,
              });
            else o.observer({ type: "task-done", task: name, durationMs: result.durationMs });
            return "done";
          }
        }
      }
      if (!superseded) await aside?.restore();
      const status = result.status === "cancelled" ? "cancelled" : "failed";
      // A superseded attempt whose begin was written is marked failed; one whose begin was
      // deferred and refused is recorded failed, as history only (see StateStore's fencing).
      await record.finish([
        {
          failure: {
            status,
            error,
            durationMs: result.durationMs,
            ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
            ...(result.signal !== undefined ? { signal: result.signal } : {}),
            ...(result.peakRssKb !== undefined ? { peakRssKb: result.peakRssKb } : {}),
            ...(result.cpuMs !== undefined ? { cpuMs: result.cpuMs } : {}),
          },
        },
      ]);
      if (status === "cancelled" || cancelled) {
        o.observer({ type: "task-cancelled", task: name });
        return "cancelled";
      }
      if (!o.singleAttempt && attempt <= task.spec.retries) {
        const delayMs = Math.min(30_000, (o.retryBackoffMs ?? 1000) * 2 ** (attempt - 1));
        o.observer({ type: "task-retry", task: name, attempt, error, delayMs });
        await sleep(delayMs, o.signal);
        if (cancelled) {
          o.observer({ type: "task-cancelled", task: name });
          return "cancelled";
        }
        continue;
      }
      o.observer({
        type: "task-failed",
        task: name,
        error,
        ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
        ...(result.signal !== undefined ? { signal: result.signal } : {}),
        logPath,
        logTail: result.logTail,
      });
      return "failed";
    }
  };

  /** The env every task gets, over its own. */
  function envOf(task: GraphTask): Record<string, string> {
    return {
      ...o.env,
      ...task.spec.env,
      OUTPUT_PIPELINE_DIR: o.scratchDir,
      INPUT_PIPELINE_DIR: o.scratchDir,
      DAGWRIGHT_PROJECT_ROOT: root,
      DAGWRIGHT_TASK: task.name,
      DAGWRIGHT_PYTHONPATH: pythonPath,
    };
  }

  /** Whether a task's launch inputs need the store: a cached dependency result, an arg's ref. */
  const needsStore = (task: GraphTask) => {
    if (!task.spec.mapOver)
      for (const d of task.deps) if (graph.tasks[d]?.spec.cacheResult) return true;
    for (const k in task.args) if (isRefArg(task.args[k])) return true;
    return false;
  };

  /** {@link launchInputs} of a task that needs nothing from the store. */
  const plainInputs = (task: GraphTask) => ({
    inputs: { deps: {}, args: task.args, config: o.plan.config },
    env: envOf(task),
  });

  /** Dependency results (for function tasks), resolved args and the env every task gets. */
  const launchInputs = async (task: GraphTask) => {
    const deps: Record<string, unknown> = {};
    for (const d of task.deps) {
      if (graph.tasks[d]?.spec.cacheResult && !task.spec.mapOver)
        deps[d] = await o.store.result(o.namespace, d);
    }
    // Args without a `{ ref }` are passed as they are (launchers copy or serialize them).
    let args: Record<string, unknown> = task.args;
    for (const k in task.args) {
      if (!isRefArg(task.args[k])) continue;
      args = {};
      for (const j in task.args) {
        const v = task.args[j];
        args[j] = isRefArg(v) ? await o.store.result(o.namespace, v.ref) : v;
      }
      break;
    }
    return { inputs: { deps, args, config: o.plan.config }, env: envOf(task) };
  };

  /**
   * Launches one attempt; `begin` runs right before it starts (a pooled TS/JS task may first wait
   * for a worker). Undefined: it never started, since the run was cancelled meanwhile.
   */
  const launch = async (
    task: GraphTask,
    logPath: string,
    begin: () => void,
  ): Promise<LaunchResult | undefined> => {
    const { inputs, env } = needsStore(task) ? await launchInputs(task) : plainInputs(task);
    const req: LaunchRequest = {
      task: task.spec,
      root,
      inputs,
      env,
      scratchDir: o.scratchDir,
      logPath,
    };
    if (task.spec.timeoutSeconds !== undefined) req.timeoutSeconds = task.spec.timeoutSeconds;
    if (o.signal) req.signal = o.signal;
    const hooks = o.processes?.hooks(task.name);
    if (hooks) req.processes = hooks;
    if (pooled(task)) return laneLaunch(req, begin);
    begin();
    return launchTask(req);
  };

  // The TS/JS lane. Short function tasks cost a worker round trip each, far more than the call;
  // so a pooled task (kind node, no timeout, one cpu, no memory claim) takes no slot of its own:
  // it is planned as soon as it is ready and queued here, and the queue is sent to the workers in
  // messages of several tasks. Each message holds one cpu slot and its tasks run one after
  // another in one worker, so -j still bounds how many run at once. How many go in one message
  // follows how long that function's calls took so far (a function not seen yet goes alone), so
  // that tasks queued behind one another in a worker wait at most LANE_BUDGET_MS or so.
  interface LaneEntry {
    req: LaunchRequest;
    key: string;
    begin: () => void;
    resolve: (r: LaunchResult | undefined) => void;
  }
  let laneQueue: LaneEntry[] = [];
  let laneScheduled = false;
  const callMs = new Map<string, number>();
  const pooled = (t: GraphTask) =>
    t.spec.kind === "node" &&
    t.spec.mapOver === undefined &&
    t.spec.timeoutSeconds === undefined &&
    t.spec.file !== undefined &&
    cpuOf(t) === 1 &&
    memOf(t) === 0;
  const laneLaunch = (req: LaunchRequest, begin: () => void) =>
    new Promise<LaunchResult | undefined>((resolve) => {
      if (cancelled) {
        resolve(undefined);
        return;
      }
      const key = `${req.task.file}\0${req.task.function ?? req.task.name}`;
      laneQueue.push({ req, key, begin, resolve });
      scheduleLane();
    });
  // Tasks planned in the same burst reach the queue one microtask chain after another: send them
  // once all have (a tick runs after the promise jobs queued so far).
  const scheduleLane = () => {
    if (laneScheduled || laneQueue.length === 0) return;
    laneScheduled = true;
    process.nextTick(() => {
      laneScheduled = false;
      laneDispatch();
    });
  };
  // The first call of a function not seen yet is a probe: the others wait for it (up to
  // PROBE_WAIT_MS), as it tells how many fit a message; without it, each would go alone, each
  // to a worker of its own, and a run of short tasks would start a thread per -j for nothing.
  const probes = new Map<string, number>();
  let laneTimer: NodeJS.Timeout | undefined;
  // Lane messages in flight, and when they are all expected back (∞ while a probe is out).
  let laneInFlight = 0;
  let laneDueAt = 0;
  const armLane = (at: number, now: number) => {
    if (laneTimer === undefined)
      laneTimer = setTimeout(
        () => {
          laneTimer = undefined;
          laneDispatch();
        },
        Math.max(1, at - now),
      );
  };
  const laneDispatch = () => {
    while (laneQueue.length > 0) {
      if (cancelled) {
        for (const e of laneQueue.splice(0)) e.resolve(undefined);
        return;
      }
      if (running > 0 && cpuInUse + 1 > totalCpu) return;
      const now = performance.now();
      const batch: LaneEntry[] = [];
      const rest: LaneEntry[] = [];
      let planned = 0;
      let full = false;
      let wakeAt = Number.POSITIVE_INFINITY;
      for (const e of laneQueue) {
        const est = callMs.get(e.key);
        if (est === undefined) {
          const probe = probes.get(e.key);
          if (probe !== undefined && now - probe < PROBE_WAIT_MS) {
            wakeAt = Math.min(wakeAt, probe + PROBE_WAIT_MS);
            rest.push(e);
          } else if (batch.length === 0) {
            probes.set(e.key, now);
            batch.push(e);
            full = true; // its duration is unknown: it goes alone
          } else rest.push(e);
          continue;
        }
        // As many as fit the budget: splitting short tasks across workers buys nothing (the
        // main thread is what they wait for) and costs a message (and a thread wake-up) each.
        if (full || (batch.length > 0 && planned + est > LANE_BUDGET_MS)) {
          full = true;
          rest.push(e);
          continue;
        }
        batch.push(e);
        planned += est;
        if (batch.length >= LANE_MAX) full = true;
      }
      if (batch.length === 0) {
        // Everything waits for a probe: look again when it is due (or when it returns).
        if (wakeAt !== Number.POSITIVE_INFINITY) armLane(wakeAt, now);
        return;
      }
      // Short work while a warm worker is due back within a worker's start-up: starting another
      // thread would make these tasks (and everything after them) wait longer than that worker.
      // Looked at again when it returns, or once it is overdue.
      const dueIn = laneDueAt - now;
      const probe = !callMs.has(batch[0]!.key);
      if (
        laneInFlight > 0 &&
        !probe &&
        planned < WORKER_START_MS &&
        dueIn < WORKER_START_MS &&
        dueIn > -WORKER_START_MS &&
        !sharedNodePool().hasIdleWorker()
      ) {
        armLane(laneDueAt + WORKER_START_MS, now);
        return;
      }
      laneQueue = rest;
      running++;
      cpuInUse++;
      laneInFlight++;
      laneDueAt = Math.max(laneDueAt, probe ? Number.POSITIVE_INFINITY : now + planned);
      for (const e of batch) e.begin();
      launchNodeTasks(
        batch.map((e) => e.req),
        (i, r, ms) => {
          const e = batch[i]!;
          if (ms !== undefined) {
            const before = callMs.get(e.key);
            callMs.set(e.key, before === undefined || ms > before ? ms : before * 0.7 + ms * 0.3);
          }
          e.resolve(r);
        },
      )
        .catch((err: unknown) => {
          for (const e of batch)
            e.resolve({
              status: "failed",
              error: (err as Error).message,
              durationMs: 0,
              logTail: [],
            });
        })
        .then(() => {
          running--;
          cpuInUse--;
          if (--laneInFlight === 0) laneDueAt = 0;
          kick();
        });
    }
  };

  /** A task with map_over: items planned and run one by one (see run-mapped.ts). */
  const runMapped = async (task: GraphTask): Promise<Outcome> => {
    const name = task.name;
    const started = Date.now();
    const fail = (error: string): Outcome => {
      o.observer({
        type: "task-failed",
        task: name,
        error,
        logPath: attemptLogDir(o.logDir, name),
        logTail: [],
      });
      return "failed";
    };
    const prev = states.get(name);
    const subset = o.items?.task === name;
    // run-task --item: a wrong key is a usage error (exit 2), raised before anything runs.
    const decided = await decideMapped(o.plan, o.store, o.namespace, task, upstream, prev ?? {}, {
      force: o.force ?? false,
      ...(subset ? { pick: (all) => pickItems(name, all, o.items!.keys) } : {}),
    });
    if ("error" in decided) {
      // A dry run of a fresh project: the producer would run first, and its list decides the items.
      if (!o.dryRun || decided.notYet !== true) return fail(decided.error);
      const reason = `items: known after \`${decided.producer}\` runs`;
      o.observer({ type: "task-would-run", task: name, reasons: [reason] });
      upstream.set(name, { outputs: [], resultHash: `pending:${name}` });
      return "done";
    }
    const { base, plan: iplan, allFresh } = decided;
    const items = iplan.items;
    // Sorting a million keys is paid only when a downstream task fingerprints them.
    const itemKeys = hasDependents(graph, name) ? itemKeysOf(decided.items) : undefined;
    const planAll = (force: boolean) =>
      planItems(o.plan, o.store, o.namespace, task, base, items, force, prev ?? {});
    if (!o.force && allFresh && subset) {
      // run-task --item/--bundle: the selected items are fresh; nothing to do in this pod.
      o.observer({ type: "task-fresh", task: name });
      return "fresh";
    }
    if (decided.fresh && prev?.lastSuccess) {
      upstream.set(name, {
        outputs: prev.lastSuccess.outputs,
        ...(itemKeys && { items: itemKeys }),
      });
      o.observer({ type: "task-fresh", task: name });
      return "fresh";
    }
    const { inputs, env } = await launchInputs(task);
    const mappedEnv: MappedRunEnv = {
      plan: o.plan,
      store: o.store,
      namespace: o.namespace,
      runId: o.runId,
      logDir: o.logDir,
      keepLogs,
      ...(follower ? { follower } : {}),
      jobs: o.jobs,
      force: o.force ?? false,
      dryRun: o.dryRun ?? false,
      observer: o.observer,
      inputs,
      env,
      scratchDir: o.scratchDir,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.beforeRecord ? { beforeRecord: o.beforeRecord } : {}),
      ...(o.lockToken !== undefined ? { lockToken: o.lockToken } : {}),
      ...(o.processes ? { processes: o.processes } : {}),
    };
    if (o.dryRun) {
      const r = await runMappedItems(mappedEnv, task, iplan);
      if (r.outcome === "fresh") o.observer({ type: "task-fresh", task: name });
      upstream.set(name, {
        outputs: [],
        resultHash: `pending:${name}`,
        ...(itemKeys && { items: itemKeys }),
      });
      return r.outcome === "fresh" ? "fresh" : "done";
    }
    const attemptId = await o.store.beginAttempt({
      runId: o.runId,
      namespace: o.namespace,
      task: name,
      fingerprint: iplan.fingerprint,
      parts: base,
    });
    o.observer({
      type: "task-start",
      task: name,
      reasons: itemRunReasons(iplan),
      attempt: 1,
    });
    const only = o.items?.task === name ? new Set(o.items.keys) : undefined;
    const result = await runMappedItems(mappedEnv, task, iplan, only);
    const durationMs = Date.now() - started;
    if (result.outcome === "done" || result.outcome === "fresh") {
      // With --item only some items ran: the task as a whole is done only when every item is.
      const whole = only === undefined ? iplan : await planAll(false);
      if (only !== undefined && whole.toRun.length > 0) {
        await o.store.failAttempt(attemptId, {
          status: "failed",
          error: "partial run (--item): other items still need to run",
          durationMs,
        });
        o.observer({ type: "task-done", task: name, durationMs });
        return "done";
      }
      const outputs = dedupeOutputs(result.outputs);
      const ok = await o.store.completeAttempt(attemptId, { outputs, durationMs });
      if (!ok) return fail("superseded by a newer attempt of the same task; not recorded");
      upstream.set(name, { outputs, ...(itemKeys && { items: itemKeys }) });
      o.observer({ type: "task-done", task: name, durationMs });
      return "done";
    }
    const status = result.outcome === "cancelled" ? "cancelled" : "failed";
    await o.store.failAttempt(attemptId, { status, error: result.error ?? status, durationMs });
    if (status === "cancelled") {
      o.observer({ type: "task-cancelled", task: name });
      return "cancelled";
    }
    return fail(result.error ?? "failed");
  };

  o.signal?.addEventListener("abort", () => {
    cancelled = true;
    for (const e of laneQueue.splice(0)) e.resolve(undefined);
  });

  let active = 0;
  let finished: () => void = () => {};
  const start = (name: string, cpu: number, mem: number, holdsSlot: boolean) => {
    active++;
    if (holdsSlot) {
      running++;
      cpuInUse += cpu;
      memInUse += mem;
    }
    handleTask(name)
      .catch((err: unknown) => {
        if (!outcome.has(name)) {
          o.observer({
            type: "task-failed",
            task: name,
            error: (err as Error).message,
            logPath: "",
            logTail: [],
          });
          settle(name, "failed");
        }
      })
      .then(() => {
        if (holdsSlot) {
          running--;
          cpuInUse -= cpu;
          memInUse -= mem;
        }
        active--;
        kick();
      });
  };

  const pump = () => {
    const candidates = ready;
    ready = [];
    const held: string[] = [];
    for (const name of candidates) {
      const task = graph.tasks[name]!;
      if (!o.dryRun && pooled(task)) {
        start(name, 0, 0, false);
        continue;
      }
      const cpu = cpuOf(task);
      const mem = memOf(task);
      const fits = running === 0 || (cpuInUse + cpu <= totalCpu && memInUse + mem <= totalMemMiB);
      if (!fits) {
        held.push(name);
        continue;
      }
      start(name, cpu, mem, true);
    }
    // Tasks that became ready meanwhile (settled synchronously) come after those still waiting.
    ready = held.length === 0 ? ready : [...held, ...ready];
  };

  /** After anything settles: start what can start; the run ends when nothing is under way. */
  const kick = () => {
    if (ready.length > 0) pump();
    scheduleLane();
    if (active === 0 && ready.length === 0) finished();
  };

  await new Promise<void>((resolve) => {
    finished = resolve;
    kick();
  });
  clearTimeout(laneTimer);
  // Anything never reached (only possible when cancelled) is reported skipped.
  for (const t of o.selected)
    if (!outcome.has(t)) {
      o.observer({ type: "task-skipped", task: t, reason: "run cancelled" });
      settle(t, "skipped");
    }
  const status: RunStatus = cancelled
    ? "cancelled"
    : counts.failed > 0 || counts.skipped > 0
      ? "failed"
      : "succeeded";
  const end = { status, counts, durationMs: Date.now() - started };
  o.observer({ type: "run-end", ...end, ...(o.dryRun ? { dryRun: true as const } : {}) });
  return { status, counts };
}

/** How long the calls of a function wait for its first one to tell how long it takes. */
const PROBE_WAIT_MS = 50;
/**
 * About what starting a TS/JS worker thread costs. A batch of short tasks waits for a busy worker
 * due back sooner than this instead of starting a new one.
 */
const WORKER_START_MS = 40;

/** At most this many tasks in one message to a worker… */
const LANE_MAX = 128;
/** … and only as many as the calls so far say take this long in all. */
const LANE_BUDGET_MS = 5;

/**
 * Starts TS/JS workers for `tasks`, each importing their modules ahead of the first call, with
 * the env of the first task of each module (`envOf`) set while it is imported.
 */
function prewarmNodeWorkers(
  o: RunGraphOptions,
  tasks: readonly string[],
  workers: number,
  envOf: (task: GraphTask) => Record<string, string>,
): void {
  const modules = new Map<string, PreloadModule>();
  for (const t of tasks) {
    if (modules.size >= 4) break;
    const task = o.plan.graph.tasks[t]!;
    let url: string;
    try {
      url = nodeModuleOf({ task: task.spec, root: o.plan.spec.root }).url;
    } catch {
      continue; // reported when the task runs
    }
    if (modules.has(url)) continue;
    const m: PreloadModule = { url, env: envOf(task) };
    const file = fileURLToPath(url);
    if (needsCompile(file)) {
      // The cache the worker would use: it resolves it the same way, from the same cwd.
      const out = compiledIfCurrent(file, projectRootFor(file, process.cwd()));
      if (out !== undefined) m.compiled = out;
    }
    modules.set(url, m);
  }
  sharedNodePool().prewarm(workers, [...modules.values()]);
}

function dedupeOutputs(outputs: readonly OutputRecord[]): OutputRecord[] {
  const byPath = new Map(outputs.map((o) => [o.path, o]));
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}
