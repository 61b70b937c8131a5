// The executor seam: LocalExecutor with a fake launch behind it, so slots, retries, timeouts and
// cancellation are checked on the executor alone, with the real task-attempt contract and state
// store around them, and no process or worker started.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LocalExecutor } from "../../src/exec/local-executor.js";
import type { RunEvent } from "../../src/exec/run-events.js";
import type { RunGraphOptions } from "../../src/exec/run-options.js";
import type { FileHash } from "../../src/fingerprint/hash-file.js";
import { buildGraph } from "../../src/graph/build-graph.js";
import type { PlanContext } from "../../src/plan/plan-task.js";
import { loadSpec } from "../../src/spec/load-spec.js";
import { resolveConfig } from "../../src/spec/resolve-config.js";
import { openSqliteStore, type SqliteStateStore } from "../../src/state/sqlite-store.js";
import type { LaunchRequest, LaunchResult } from "../../src/tasks/launch-task.js";
import { makeProject } from "../helpers.js";

const NS = "g@main";

/** Tasks as `name: {deps, extra}`; every task is a command the fake launch "runs". */
function specOf(tasks: Record<string, { deps?: string[]; extra?: string }>): string {
  const lines = ["graphs:", "  g:", "    tasks:"];
  for (const [name, t] of Object.entries(tasks))
    lines.push(`      ${name}: [${(t.deps ?? []).join(", ")}]`);
  lines.push("tasks:");
  for (const [name, t] of Object.entries(tasks))
    lines.push(`  ${name}: {command: ["true"]${t.extra ? `, ${t.extra}` : ""}}`);
  return `${lines.join("\n")}\n`;
}

const ok = (): LaunchResult => ({ status: "succeeded", durationMs: 1, logTail: [] });

interface Opened {
  options: (extra?: Partial<RunGraphOptions>) => RunGraphOptions;
  events: RunEvent[];
  store: SqliteStateStore;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A project in a temp dir, its plan context, a state store and a run record. */
async function open(spec: string): Promise<Opened> {
  const root = makeProject({ "dagwright.yaml": spec });
  const state = mkdtempSync(path.join(os.tmpdir(), "dagwright-executor-"));
  const store = openSqliteStore(path.join(state, "state.db"));
  cleanups.push(async () => {
    await store.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  });
  const loaded = loadSpec({ cwd: root });
  const graph = buildGraph(loaded, "g");
  const hashes = new Map<string, FileHash>();
  const plan: PlanContext = {
    spec: loaded,
    graph,
    config: resolveConfig(loaded, "g", {}),
    outputsDir: root,
    fileCache: { get: (p) => hashes.get(p), put: (p, h) => void hashes.set(p, h) },
    runtime: {},
  };
  const runId = await store.beginRun({ namespace: NS, graph: "g", branch: "main", command: "run" });
  const events: RunEvent[] = [];
  const options = (extra: Partial<RunGraphOptions> = {}): RunGraphOptions => ({
    plan,
    store,
    namespace: NS,
    runId,
    selected: graph.order,
    scratchDir: path.join(state, "scratch"),
    logDir: path.join(state, "logs"),
    jobs: 2,
    observer: (e) => events.push(e),
    retryBackoffMs: 1,
    ...extra,
  });
  return { options, events, store };
}

/** A fake launch that holds every task until released, counting how many are in flight. */
function heldLaunch() {
  let inFlight = 0;
  let most = 0;
  const waiting = new Map<string, () => void>();
  const started: string[] = [];
  /** How many other tasks were in flight when each started. */
  const alongside = new Map<string, number>();
  let onStart: () => void = () => {};
  const launch = (req: LaunchRequest) =>
    new Promise<LaunchResult>((resolve) => {
      alongside.set(req.task.name, inFlight);
      inFlight++;
      most = Math.max(most, inFlight);
      started.push(req.task.name);
      waiting.set(req.task.name, () => {
        inFlight--;
        resolve(ok());
      });
      onStart();
    });
  /** Waits until `n` tasks are held, then releases them all. */
  const releaseWhen = async (n: number) => {
    while (waiting.size < n) await new Promise<void>((r) => (onStart = r));
    const now = [...waiting.values()];
    waiting.clear();
    for (const release of now) release();
  };
  return { launch, releaseWhen, most: () => most, started, alongside };
}

const ofType = <T extends RunEvent["type"]>(events: RunEvent[], type: T) =>
  events.filter((e): e is Extract<RunEvent, { type: T }> => e.type === type);

describe("LocalExecutor with a fake launch", () => {
  it("never runs more tasks at once than -j, and a task claiming 2 cpus waits to run alone", async () => {
    const p = await open(
      specOf({ a: {}, b: {}, c: {}, big: { extra: "compute: {cpu: 2}" }, d: {} }),
    );
    const fake = heldLaunch();
    const running = new LocalExecutor({ launch: fake.launch }).run(p.options());
    await fake.releaseWhen(2); // a, b
    await fake.releaseWhen(2); // c, and d: big does not fit beside c, d does
    await fake.releaseWhen(1); // big, alone
    const result = await running;
    expect(fake.most()).toBe(2);
    expect(fake.started).toEqual(["a", "b", "c", "d", "big"]);
    expect(fake.alongside.get("big")).toBe(0);
    expect(result).toMatchObject({ status: "succeeded", counts: { total: 5, done: 5 } });
  });

  it("retries a failing task with doubling backoff and records only the success", async () => {
    const p = await open(specOf({ flaky: { extra: "retries: 2" }, after: { deps: ["flaky"] } }));
    let calls = 0;
    const logs = new Set<string>();
    const launch = async (req: LaunchRequest): Promise<LaunchResult> => {
      logs.add(req.logPath);
      if (req.task.name === "flaky" && ++calls < 3)
        return {
          status: "failed",
          exitCode: 1,
          error: `exit code 1 (try ${calls})`,
          durationMs: 1,
          logTail: [],
        };
      return ok();
    };
    const result = await new LocalExecutor({ launch }).run(p.options({ retryBackoffMs: 5 }));
    expect(result.status).toBe("succeeded");
    expect(ofType(p.events, "task-retry").map((e) => [e.attempt, e.delayMs, e.error])).toEqual([
      [1, 5, "exit code 1 (try 1)"],
      [2, 10, "exit code 1 (try 2)"],
    ]);
    expect(
      ofType(p.events, "task-start")
        .filter((e) => e.task === "flaky")
        .map((e) => e.attempt),
    ).toEqual([1, 2, 3]);
    expect(logs.size).toBe(4); // each attempt logs to its own file
    expect(await p.store.lastSuccess(NS, "flaky")).toBeDefined();
    expect(await p.store.lastSuccess(NS, "after")).toBeDefined();
  });

  it("fails a task once its retries are spent and skips its downstream with the reason", async () => {
    const p = await open(
      specOf({ bad: { extra: "retries: 1" }, after: { deps: ["bad"] }, other: {} }),
    );
    const launch = async (req: LaunchRequest): Promise<LaunchResult> =>
      req.task.name === "bad"
        ? { status: "failed", exitCode: 3, error: "exit code 3", durationMs: 1, logTail: ["boom"] }
        : ok();
    const result = await new LocalExecutor({ launch }).run(p.options());
    expect(result).toMatchObject({ status: "failed", counts: { done: 1, failed: 1, skipped: 1 } });
    expect(ofType(p.events, "task-failed")).toEqual([
      expect.objectContaining({
        task: "bad",
        error: "exit code 3",
        exitCode: 3,
        logTail: ["boom"],
      }),
    ]);
    expect(ofType(p.events, "task-skipped")).toEqual([
      // Events now also carry the time they were emitted at.
      {
        type: "task-skipped",
        task: "after",
        reason: "upstream bad failed",
        time: expect.any(String),
      },
    ]);
    expect(await p.store.lastSuccess(NS, "bad")).toBeUndefined();
  });

  it("passes the task's timeout and the run's cancel signal to the launch", async () => {
    const p = await open(specOf({ slow: { extra: "timeout: 7" } }));
    const controller = new AbortController();
    const seen: LaunchRequest[] = [];
    const launch = async (req: LaunchRequest): Promise<LaunchResult> => {
      seen.push(req);
      return ok();
    };
    await new LocalExecutor({ launch }).run(p.options({ signal: controller.signal }));
    expect(seen[0]?.timeoutSeconds).toBe(7);
    expect(seen[0]?.signal).toBe(controller.signal);
  });

  it("on cancel, records no success, stops waiting tasks and skips the rest", async () => {
    const p = await open(specOf({ a: {}, b: {}, c: {}, after: { deps: ["a"] } }));
    const controller = new AbortController();
    let started = 0;
    const launch = (req: LaunchRequest) =>
      new Promise<LaunchResult>((resolve) => {
        if (++started === 2) controller.abort(); // Ctrl-C while a and b run; c waits for a slot
        req.signal?.addEventListener("abort", () =>
          resolve({ status: "cancelled", error: "cancelled", durationMs: 1, logTail: [] }),
        );
        if (req.signal?.aborted)
          resolve({ status: "cancelled", error: "cancelled", durationMs: 1, logTail: [] });
      });
    const result = await new LocalExecutor({ launch }).run(
      p.options({ signal: controller.signal }),
    );
    expect(result).toMatchObject({ status: "cancelled", counts: { cancelled: 2, skipped: 2 } });
    expect(
      ofType(p.events, "task-cancelled")
        .map((e) => e.task)
        .sort(),
    ).toEqual(["a", "b"]);
    expect(
      ofType(p.events, "task-skipped")
        .map((e) => [e.task, e.reason])
        .sort(),
    ).toEqual([
      ["after", "upstream a was cancelled"],
      ["c", "run cancelled"],
    ]);
    for (const t of ["a", "b", "c", "after"])
      expect(await p.store.lastSuccess(NS, t)).toBeUndefined();
    expect(ofType(p.events, "run-end")).toHaveLength(1);
  });
});
