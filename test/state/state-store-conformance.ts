import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type {
  OutputRecord,
  StateStore,
  TaskProcessRecord,
  TaskRunRecord,
} from "../../src/state/state-store.js";
import { attemptCalls } from "./attempt-calls.js";
import { describeStoreContract } from "./store-contract-conformance.js";

/**
 * A place to keep state: `open` may be called several times and every store it returns sees the
 * same data (like two dagwright processes on one project).
 */
export interface StateBackend {
  open(): StateStore | Promise<StateStore>;
  dispose(): void | Promise<void>;
  /**
   * Makes the current holder of `namespace`'s lock look dead, as a crashed holder would (its pid
   * gone, its session closed), while its store object stays usable, so another store may take
   * the lock over.
   */
  killLockHolder(namespace: string): Promise<void>;
}

const proc = (pid: number, extra: Partial<TaskProcessRecord> = {}): TaskProcessRecord => ({
  namespace: "sales@main",
  task: "slow",
  item: "",
  host: "host-a",
  pid,
  pgid: pid,
  startMarker: `boot1:${pid}00`,
  runnerPid: 42,
  runnerMarker: "boot1:4200",
  since: 1_700_000_000_000 + pid,
  ...extra,
});

const out = (path: string, hash = `h-${path}`): OutputRecord => ({
  path,
  hash,
  size: 3,
  mtimeMs: 1_700_000_000_000.5,
});

/** The behaviour every {@link StateStore} driver must have. */
export function describeStateStore(
  name: string,
  makeBackend: () => StateBackend | Promise<StateBackend>,
): void {
  describe(`StateStore conformance: ${name}`, () => {
    let backend: StateBackend;
    let store: StateStore;
    const opened: StateStore[] = [];
    const open = async (): Promise<StateStore> => {
      const s = await backend.open();
      opened.push(s);
      return s;
    };
    const NS = "sales@main";
    const begin = async (
      runId: string,
      task: string,
      extra: { item?: string; fingerprint?: string; namespace?: string } = {},
    ): Promise<number> =>
      attemptCalls(store).beginAttempt({
        runId,
        namespace: extra.namespace ?? NS,
        task,
        ...(extra.item === undefined ? {} : { item: extra.item }),
        fingerprint: extra.fingerprint ?? "fp1",
        parts: { code: { "run.py": "abc" }, args: { year: 2024 } },
        logPath: `.dagwright/logs/${task}.log`,
      });
    const newRun = (namespace = NS): Promise<string> =>
      store.beginRun({ namespace, graph: "main", branch: "main", command: "dagwright run main" });
    /** The token deferred records need: the namespace lock, taken by `on` (default `store`). */
    const lockToken = async (on?: StateStore, namespace = NS): Promise<string> => {
      const got = await (on ?? store).acquireLock(namespace, { command: "test" }, { wait: false });
      if (!got.acquired) throw new Error(`expected to get the lock of ${namespace}`);
      return got.token;
    };

    beforeEach(async () => {
      backend = await makeBackend();
      store = await open();
    });
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
      await backend.dispose();
    });

    it("records items in batches and reads every item's state in one call", async () => {
      const run = await newRun();
      const ids = await attemptCalls(store).beginAttempts(
        ["T1,1", "T2,2", "T3,3"].map((item) => ({
          runId: run,
          namespace: NS,
          task: "each",
          item,
          fingerprint: `fp-${item}`,
          parts: { item },
        })),
      );
      expect(ids).toHaveLength(3);
      const done = await attemptCalls(store).completeAttempts([
        { attemptId: ids[0]!, completion: { outputs: [out("out/T1_1.txt")], durationMs: 5 } },
        { attemptId: ids[2]!, completion: { outputs: [], durationMs: 5 } },
      ]);
      expect(done).toEqual([true, true]);
      await attemptCalls(store).failAttempts([
        {
          attemptId: ids[1]!,
          failure: { status: "failed", error: "ValueError: boom", durationMs: 3 },
        },
      ]);
      // A superseded item attempt cannot succeed, inside a batch too.
      const [newer] = await attemptCalls(store).beginAttempts([
        { runId: run, namespace: NS, task: "each", item: "T3,3", fingerprint: "fp2", parts: {} },
      ]);
      expect(
        await attemptCalls(store).completeAttempts([
          { attemptId: ids[2]!, completion: { outputs: [], durationMs: 1 } },
        ]),
      ).toEqual([false]);
      const states = await store.itemStates(NS, "each");
      expect([...states.keys()].sort()).toEqual(["T1,1", "T2,2", "T3,3"]);
      expect(states.get("T1,1")).toMatchObject({
        lastAttempt: { status: "succeeded" },
        lastSuccess: { outputs: [out("out/T1_1.txt")] },
      });
      expect(states.get("T2,2")?.lastAttempt).toMatchObject({
        status: "failed",
        error: "ValueError: boom",
      });
      expect(states.get("T2,2")?.lastSuccess).toBeUndefined();
      expect(states.get("T3,3")?.lastAttempt).toMatchObject({
        attemptId: newer,
        status: "running",
      });
      expect(states.get("T3,3")?.lastSuccess).toMatchObject({ fingerprint: "fp-T3,3" });
      // The task-level record (item "") is not an item.
      expect((await store.itemStates(NS, "other")).size).toBe(0);
    });

    it("reads the state of the items asked for only, a page of a fan-out at a time", async () => {
      const run = await newRun();
      const items = ["a", "b", "c", "d", 'it\'s, "odd"'];
      const ids = await attemptCalls(store).beginAttempts(
        items.map((item) => ({
          runId: run,
          namespace: NS,
          task: "each",
          item,
          fingerprint: `fp-${item}`,
          parts: {},
        })),
      );
      await attemptCalls(store).completeAttempts(
        ids.map((attemptId) => ({ attemptId, completion: { outputs: [], durationMs: 1 } })),
      );
      await attemptCalls(store).beginAttempt({
        runId: run,
        namespace: NS,
        task: "each",
        fingerprint: "t",
        parts: {},
      });
      const page = await store.itemStates(NS, "each", ["b", 'it\'s, "odd"', "never-ran", ""]);
      expect([...page.keys()].sort()).toEqual(["b", 'it\'s, "odd"']);
      expect(page.get("b")).toMatchObject({
        lastAttempt: { status: "succeeded", fingerprint: "fp-b" },
        lastSuccess: { fingerprint: "fp-b" },
      });
      expect((await store.itemStates(NS, "each", [])).size).toBe(0);
      expect((await store.itemStates(NS, "each")).size).toBe(items.length);
    });

    it("records an attempt as running until completeAttempt commits it as done", async () => {
      const run = await newRun();
      const id = await begin(run, "extract");
      expect(await store.lastAttempt(NS, "extract")).toMatchObject({
        attemptId: id,
        runId: run,
        status: "running",
        item: "",
        outputs: [],
        hasResult: false,
        logPath: ".dagwright/logs/extract.log",
        parts: { code: { "run.py": "abc" }, args: { year: 2024 } },
      });
      expect(await store.lastSuccess(NS, "extract")).toBeUndefined();

      const ok = await attemptCalls(store).completeAttempt(id, {
        outputs: [out("data/a.csv"), out("data/b.csv")],
        exitCode: 0,
        peakRssKb: 2048,
        cpuMs: 12.5,
        durationMs: 40,
      });
      expect(ok).toBe(true);
      const success = await store.lastSuccess(NS, "extract");
      expect(success).toMatchObject({
        attemptId: id,
        status: "succeeded",
        fingerprint: "fp1",
        exitCode: 0,
        peakRssKb: 2048,
        cpuMs: 12.5,
        durationMs: 40,
        hasResult: false,
      });
      expect(success?.outputs).toEqual([out("data/a.csv"), out("data/b.csv")]);
      expect(success?.endedAt).toBeGreaterThanOrEqual(
        success?.startedAt ?? Number.POSITIVE_INFINITY,
      );
      expect(await store.lastAttempt(NS, "extract")).toEqual(success);
    });

    it("does not let a superseded attempt record success", async () => {
      const run = await newRun();
      const first = await begin(run, "load");
      const second = await begin(run, "load", { fingerprint: "fp2" });
      expect(second).not.toBe(first);

      expect(
        await attemptCalls(store).completeAttempt(first, {
          outputs: [out("x")],
          result: 1,
          durationMs: 1,
        }),
      ).toBe(false);
      expect(await store.lastSuccess(NS, "load")).toBeUndefined();
      expect(await store.result(NS, "load")).toBeUndefined();
      expect((await store.lastAttempt(NS, "load"))?.attemptId).toBe(second);

      expect(
        await attemptCalls(store).completeAttempt(second, {
          outputs: [],
          result: 2,
          durationMs: 1,
        }),
      ).toBe(true);
      expect(await store.lastSuccess(NS, "load")).toMatchObject({
        attemptId: second,
        fingerprint: "fp2",
      });
      expect(await store.result(NS, "load")).toBe(2);
    });

    it("never records a cancelled attempt as a success, even if it completes later", async () => {
      const run = await newRun();
      const id = await begin(run, "slow");
      await attemptCalls(store).failAttempt(id, {
        status: "cancelled",
        signal: "SIGTERM",
        error: "cancelled by user",
        durationMs: 5,
      });
      expect(await attemptCalls(store).completeAttempt(id, { outputs: [], durationMs: 6 })).toBe(
        false,
      );
      expect(await store.lastAttempt(NS, "slow")).toMatchObject({
        status: "cancelled",
        signal: "SIGTERM",
        error: "cancelled by user",
      });
      expect(await store.lastSuccess(NS, "slow")).toBeUndefined();
    });

    it("keeps the previous last success (and its result) when a later attempt fails", async () => {
      const run = await newRun();
      const good = await begin(run, "transform");
      await attemptCalls(store).completeAttempt(good, {
        outputs: [out("t.csv")],
        result: ["NC", "SC"],
        durationMs: 3,
      });
      const bad = await begin(run, "transform", { fingerprint: "fp2" });
      await attemptCalls(store).failAttempt(bad, {
        status: "failed",
        exitCode: 2,
        error: "boom",
        durationMs: 4,
        peakRssKb: 99,
      });

      expect(await store.lastAttempt(NS, "transform")).toMatchObject({
        attemptId: bad,
        status: "failed",
        exitCode: 2,
        error: "boom",
        peakRssKb: 99,
        outputs: [],
      });
      expect(await store.lastSuccess(NS, "transform")).toMatchObject({
        attemptId: good,
        outputs: [out("t.csv")],
      });
      expect(await store.result(NS, "transform")).toEqual(["NC", "SC"]);
    });

    it("records an attempt that already ended in one call: its success, or its failure", async () => {
      const run = await newRun();
      const token = await lockToken();
      const attempt = {
        runId: run,
        namespace: NS,
        task: "quick",
        fingerprint: "fp1",
        parts: { args: "a" },
        logPath: ".dagwright/logs/quick.log",
        startedAt: Date.now(),
      };
      expect(
        await attemptCalls(store).recordAttempt(
          attempt,
          {
            completion: { outputs: [out("q.csv")], result: [1, 2], exitCode: 0, durationMs: 2 },
          },
          token,
        ),
      ).toBe(true);
      const success = await store.lastSuccess(NS, "quick");
      expect(success).toMatchObject({
        status: "succeeded",
        fingerprint: "fp1",
        parts: { args: "a" },
        outputs: [out("q.csv")],
        exitCode: 0,
        durationMs: 2,
      });
      expect(await store.result(NS, "quick")).toEqual([1, 2]);

      expect(
        await attemptCalls(store).recordAttempt(
          { ...attempt, fingerprint: "fp2" },
          { failure: { status: "failed", exitCode: 3, error: "exit code 3", durationMs: 1 } },
          token,
        ),
      ).toBe(true);
      expect(await store.lastAttempt(NS, "quick")).toMatchObject({
        status: "failed",
        fingerprint: "fp2",
        exitCode: 3,
      });
      expect((await store.lastSuccess(NS, "quick"))?.attemptId).toBe(success?.attemptId);
      await expect(
        attemptCalls(store).recordAttempt(
          { ...attempt, runId: "no-such-run" },
          { completion: { outputs: [], durationMs: 1 } },
          token,
        ),
      ).rejects.toThrow(/unknown run "no-such-run"/);
    });

    it("records many ended attempts at once, each with its own outputs, result or failure", async () => {
      const run = await newRun();
      const token = await lockToken();
      const item = (key: string, fingerprint = "fp1") => ({
        runId: run,
        namespace: NS,
        task: "each",
        item: key,
        fingerprint,
        parts: { args: key },
        startedAt: Date.now(),
      });
      // A previous success of item b with a result, which the new success replaces.
      await attemptCalls(store).recordAttempt(
        item("b", "fp0"),
        { completion: { outputs: [], result: "old", durationMs: 1 } },
        token,
      );
      const okBefore = await store.lastSuccess(NS, "each", "b");
      await attemptCalls(store).recordAttempt(
        item("c", "fp0"),
        { completion: { outputs: [out("c0.csv")], durationMs: 1 } },
        token,
      );
      const recorded = await attemptCalls(store).recordAttempts(
        [
          {
            attempt: item("a"),
            outcome: { completion: { outputs: [out("a.csv")], durationMs: 2 } },
          },
          {
            attempt: item("b"),
            outcome: { completion: { outputs: [], result: [1], durationMs: 3 } },
          },
          {
            attempt: item("c"),
            outcome: { failure: { status: "failed", error: "ValueError: c", durationMs: 4 } },
          },
        ],
        token,
      );
      expect(recorded).toEqual([true, true, true]);
      const states = await store.itemStates(NS, "each");
      expect(states.get("a")?.lastSuccess).toMatchObject({
        outputs: [out("a.csv")],
        durationMs: 2,
      });
      expect(states.get("b")?.lastSuccess?.attemptId).not.toBe(okBefore?.attemptId);
      expect(await store.result(NS, "each", "b")).toEqual([1]);
      expect(states.get("c")?.lastAttempt).toMatchObject({
        status: "failed",
        error: "ValueError: c",
      });
      expect(states.get("c")?.lastSuccess).toMatchObject({
        fingerprint: "fp0",
        outputs: [out("c0.csv")],
      });
    });

    it("gives each of several writes issued together its own outcome", async () => {
      const run = await newRun();
      const old = await begin(run, "a");
      const current = await begin(run, "a", { fingerprint: "fp2" });
      const other = await begin(run, "b");
      // Issued in the same tick: the driver commits them as one group, and each keeps its own result.
      const results = await Promise.allSettled([
        attemptCalls(store).completeAttempt(old, { outputs: [], durationMs: 1 }),
        attemptCalls(store).completeAttempt(current, { outputs: [out("a.csv")], durationMs: 1 }),
        attemptCalls(store).beginAttempt({
          runId: "no-such-run",
          namespace: NS,
          task: "c",
          fingerprint: "fp1",
          parts: {},
        }),
        attemptCalls(store).failAttempt(other, { status: "failed", error: "boom", durationMs: 1 }),
      ]);
      expect(results.map((r) => r.status)).toEqual([
        "fulfilled",
        "fulfilled",
        "rejected",
        "fulfilled",
      ]);
      expect(results.slice(0, 2).map((r) => (r as PromiseFulfilledResult<boolean>).value)).toEqual([
        false,
        true,
      ]);
      expect((await store.lastSuccess(NS, "a"))?.attemptId).toBe(current);
      expect(await store.lastAttempt(NS, "b")).toMatchObject({ status: "failed", error: "boom" });
      expect(await store.lastAttempt(NS, "c")).toBeUndefined();
    });

    it("records tasks that end together each with its own outcome, results and outputs", async () => {
      const run = await newRun();
      const token = await lockToken();
      const attempt = (task: string, runId = run) => ({
        runId,
        namespace: NS,
        task,
        fingerprint: `fp-${task}`,
        parts: {},
        startedAt: Date.now(),
      });
      // Issued in the same tick, as tasks finishing together are: one group commit on SQLite.
      const results = await Promise.allSettled([
        attemptCalls(store).recordAttempt(
          attempt("x"),
          {
            completion: {
              outputs: [out("x.csv")],
              result: { n: 1 },
              resultHash: "rx",
              durationMs: 1,
            },
          },
          token,
        ),
        attemptCalls(store).recordAttempt(
          attempt("y"),
          { failure: { status: "failed", error: "boom", durationMs: 2 } },
          token,
        ),
        attemptCalls(store).recordAttempt(
          attempt("lost", "no-such-run"),
          { completion: { outputs: [], durationMs: 1 } },
          token,
        ),
        attemptCalls(store).recordAttempt(
          attempt("z"),
          { completion: { outputs: [], result: [3], resultHash: "rz", durationMs: 3 } },
          token,
        ),
      ]);
      expect(results.map((r) => r.status)).toEqual([
        "fulfilled",
        "fulfilled",
        "rejected",
        "fulfilled",
      ]);
      expect(results.map((r) => (r.status === "fulfilled" ? r.value : "error"))).toEqual([
        true,
        true,
        "error",
        true,
      ]);
      expect(await store.lastSuccess(NS, "x")).toMatchObject({
        fingerprint: "fp-x",
        outputs: [out("x.csv")],
      });
      expect(await store.result(NS, "x")).toEqual({ n: 1 });
      expect(await store.lastAttempt(NS, "y")).toMatchObject({ status: "failed", error: "boom" });
      expect(await store.lastAttempt(NS, "lost")).toBeUndefined();
      expect(await store.result(NS, "z")).toEqual([3]);
    });

    it("leaves a finished attempt as it is when failAttempt comes late", async () => {
      const run = await newRun();
      const id = await begin(run, "t");
      await attemptCalls(store).completeAttempt(id, { outputs: [], durationMs: 1 });
      await attemptCalls(store).failAttempt(id, { status: "failed", error: "late", durationMs: 2 });
      expect(await store.lastAttempt(NS, "t")).toMatchObject({ status: "succeeded" });
      expect((await store.lastAttempt(NS, "t"))?.error).toBeUndefined();
    });

    it.each([
      ["an object", { rows: 3, ok: true, nested: { a: [1, "x", null] } }],
      ["a string", "hello"],
      ["a number", 42.5],
      ["null", null],
      ["false", false],
      ["an empty list", []],
      ["a short list", ["NC", "SC", { state: "VA" }]],
    ])("round-trips %s as a result", async (_label, value) => {
      const run = await newRun();
      const id = await begin(run, "r");
      await attemptCalls(store).completeAttempt(id, {
        outputs: [],
        result: value,
        resultHash: "rh",
        durationMs: 1,
      });
      expect(await store.result(NS, "r")).toEqual(value);
      expect(await store.lastSuccess(NS, "r")).toMatchObject({ hasResult: true, resultHash: "rh" });
    });

    it("round-trips a 1,000,000-item list result", async () => {
      const big = Array.from({ length: 1_000_000 }, (_, i) => (i % 3 === 0 ? `item-${i}` : i));
      const run = await newRun();
      const id = await begin(run, "big");
      expect(
        await attemptCalls(store).completeAttempt(id, { outputs: [], result: big, durationMs: 1 }),
      ).toBe(true);
      const back = (await store.result(NS, "big")) as unknown[];
      expect(back.length).toBe(1_000_000);
      expect(back[0]).toBe("item-0");
      expect(back[999_998]).toBe(999_998);
      expect(back).toEqual(big);
    });

    it("has no result for a success that stored none, and serves the newest success's result", async () => {
      const run = await newRun();
      const a = await begin(run, "r");
      await attemptCalls(store).completeAttempt(a, {
        outputs: [],
        result: { v: 1 },
        durationMs: 1,
      });
      const b = await begin(run, "r");
      await attemptCalls(store).completeAttempt(b, {
        outputs: [],
        result: { v: 2 },
        durationMs: 1,
      });
      expect(await store.result(NS, "r")).toEqual({ v: 2 });
      const c = await begin(run, "r");
      await attemptCalls(store).completeAttempt(c, { outputs: [], durationMs: 1 });
      expect(await store.result(NS, "r")).toBeUndefined();
      expect(await store.lastSuccess(NS, "r")).toMatchObject({ attemptId: c, hasResult: false });
    });

    it("keeps fan-out items apart from each other and from the task itself", async () => {
      const run = await newRun();
      const nc = await begin(run, "per_state", { item: "NC" });
      const sc = await begin(run, "per_state", { item: "SC" });
      await attemptCalls(store).completeAttempt(nc, {
        outputs: [out("out/NC.csv")],
        result: "nc",
        durationMs: 1,
      });
      await attemptCalls(store).failAttempt(sc, {
        status: "failed",
        error: "no data",
        durationMs: 1,
      });

      expect(await store.lastSuccess(NS, "per_state", "NC")).toMatchObject({
        item: "NC",
        attemptId: nc,
      });
      expect(await store.lastSuccess(NS, "per_state", "SC")).toBeUndefined();
      expect(await store.lastAttempt(NS, "per_state", "SC")).toMatchObject({ status: "failed" });
      expect(await store.result(NS, "per_state", "NC")).toBe("nc");
      expect(await store.lastAttempt(NS, "per_state")).toBeUndefined();
    });

    it("keeps namespaces isolated", async () => {
      const other = "sales@feature-x";
      const run = await newRun();
      const runB = await newRun(other);
      const a = await begin(run, "extract");
      await attemptCalls(store).completeAttempt(a, { outputs: [], result: "main", durationMs: 1 });
      const b = await begin(runB, "extract", { namespace: other });
      await attemptCalls(store).failAttempt(b, { status: "failed", error: "x", durationMs: 1 });

      expect(await store.lastSuccess(NS, "extract")).toMatchObject({ attemptId: a });
      expect(await store.lastSuccess(other, "extract")).toBeUndefined();
      expect(await store.lastAttempt(other, "extract")).toMatchObject({
        attemptId: b,
        namespace: other,
      });
      expect(await store.result(other, "extract")).toBeUndefined();
      expect(
        (await store.taskStates(other, ["extract"])).get("extract")?.lastSuccess,
      ).toBeUndefined();
    });

    it("reads the states of a whole graph in one call", async () => {
      const run = await newRun();
      const a = await begin(run, "a");
      await attemptCalls(store).completeAttempt(a, { outputs: [out("a.csv")], durationMs: 1 });
      const b1 = await begin(run, "b");
      await attemptCalls(store).completeAttempt(b1, { outputs: [], durationMs: 1 });
      const b2 = await begin(run, "b");
      await attemptCalls(store).failAttempt(b2, { status: "failed", error: "x", durationMs: 1 });
      const c = await begin(run, "c");
      await begin(run, "d", { item: "NC" });
      await begin(run, "not-asked");

      const states = await store.taskStates(NS, ["a", "b", "c", "d", "never"]);
      expect([...states.keys()].sort()).toEqual(["a", "b", "c"]);
      expect(states.get("a")?.lastAttempt).toEqual(await store.lastAttempt(NS, "a"));
      expect(states.get("a")?.lastSuccess).toEqual(await store.lastSuccess(NS, "a"));
      expect(states.get("a")?.lastSuccess?.outputs).toEqual([out("a.csv")]);
      expect(states.get("b")?.lastAttempt).toMatchObject({ attemptId: b2, status: "failed" });
      expect(states.get("b")?.lastSuccess).toMatchObject({ attemptId: b1, status: "succeeded" });
      expect(states.get("c")?.lastAttempt).toMatchObject({ attemptId: c, status: "running" });
      expect(states.get("c")?.lastSuccess).toBeUndefined();
      expect(await store.taskStates(NS, [])).toEqual(new Map());
    });

    it("rejects an attempt for a run that was never begun", async () => {
      await expect(begin("no-such-run", "a")).rejects.toMatchObject({ code: "E_INTERNAL" });
    });

    it("lists runs newest first, per namespace and limited", async () => {
      const r1 = await newRun();
      const r2 = await newRun("other@main");
      const r3 = await newRun();
      await store.endRun(r1, "failed");
      const all = await store.runs();
      expect(all.map((r) => r.runId)).toEqual([r3, r2, r1]);
      expect(all[2]).toMatchObject({
        runId: r1,
        namespace: NS,
        graph: "main",
        branch: "main",
        status: "failed",
        pid: process.pid,
      });
      expect(all[2]?.endedAt).toBeGreaterThanOrEqual(all[2]?.startedAt ?? Number.POSITIVE_INFINITY);
      expect(all[0]).toMatchObject({ runId: r3, status: "running" });
      expect(all[0]?.endedAt).toBeUndefined();
      expect((await store.runs(NS)).map((r) => r.runId)).toEqual([r3, r1]);
      expect((await store.runs(undefined, 1)).map((r) => r.runId)).toEqual([r3]);
    });

    it("lists namespaces with their task counts and last run", async () => {
      const run = await newRun();
      await begin(run, "a");
      await begin(run, "b", { item: "NC" });
      await begin(run, "b", { item: "SC" });
      await newRun("empty@main");
      const list = await store.namespaces();
      expect(list.map((n) => n.namespace)).toEqual(["empty@main", NS]);
      expect(list[1]).toMatchObject({ namespace: NS, tasks: 2 });
      expect(list[1]?.lastRun).toBeTypeOf("number");
      expect(list[0]).toMatchObject({ namespace: "empty@main", tasks: 0 });
    });

    it("lets a second store see the lock holder until the first releases it", async () => {
      const second = await open();
      const got = await store.acquireLock(NS, { command: "dagwright run main" }, { wait: false });
      expect(got.acquired).toBe(true);

      const blocked = await second.acquireLock(
        NS,
        { command: "dagwright run other" },
        { wait: false },
      );
      expect(blocked).toMatchObject({
        acquired: false,
        holder: { pid: process.pid, command: "dagwright run main" },
      });
      if (!blocked.acquired) expect(blocked.holder.since).toBeTypeOf("number");

      // Another namespace is not blocked.
      const elsewhere = await second.acquireLock("other@main", { command: "x" }, { wait: false });
      expect(elsewhere.acquired).toBe(true);

      if (got.acquired) await got.release();
      const after = await second.acquireLock(
        NS,
        { command: "dagwright run other" },
        { wait: false },
      );
      expect(after.acquired).toBe(true);
      if (got.acquired) await got.release(); // releasing twice must not free someone else's lock
      const third = await store.acquireLock(NS, { command: "y" }, { wait: false });
      expect(third).toMatchObject({ acquired: false, holder: { command: "dagwright run other" } });
    });

    it("waits for a held lock, calling onWait once, and acquires it after release", async () => {
      const second = await open();
      const got = await store.acquireLock(NS, { command: "first" }, { wait: false });
      if (!got.acquired) throw new Error("expected the lock");
      const waits: string[] = [];
      const waiting = second.acquireLock(
        NS,
        { command: "second" },
        { wait: true, pollMs: 10, onWait: (h) => waits.push(h.command) },
      );
      await new Promise((r) => setTimeout(r, 120));
      expect(waits).toEqual(["first"]);
      await got.release();
      const result = await waiting;
      expect(result.acquired).toBe(true);
      expect(waits).toEqual(["first"]);
    });

    it("releases its locks when closed", async () => {
      const first = await open();
      const second = await open();
      expect((await first.acquireLock(NS, { command: "a" }, { wait: false })).acquired).toBe(true);
      await first.close();
      expect((await second.acquireLock(NS, { command: "b" }, { wait: false })).acquired).toBe(true);
    });

    describe("starting a namespace from another (copyNamespace)", () => {
      const FEATURE = "sales@feature";
      /** A record as planning reads it: what it says, not which row holds it. */
      const plain = (r: TaskRunRecord | undefined) =>
        r && { ...r, attemptId: 0, runId: "", namespace: "" };
      const KEYS: [string, string][] = [
        ["extract", ""],
        ["load", ""],
        ["slow", ""],
        ["per_state", "NC"],
        ["per_state", "SC"],
      ];
      /** Everything planning reads of the {@link KEYS} in `namespace`. */
      const view = async (on: StateStore, namespace: string) => ({
        tasks: await on.taskStates(namespace, ["extract", "load", "slow"]),
        items: await on.itemStates(namespace, "per_state"),
        keys: await Promise.all(
          KEYS.map(async ([task, item]) => ({
            lastAttempt: await on.lastAttempt(namespace, task, item),
            lastSuccess: await on.lastSuccess(namespace, task, item),
            result: await on.result(namespace, task, item),
          })),
        ),
      });
      const plainView = async (on: StateStore, namespace: string) => {
        const v = await view(on, namespace);
        const states = (
          m: Map<string, { lastAttempt?: TaskRunRecord; lastSuccess?: TaskRunRecord }>,
        ) => [...m].map(([k, x]) => [k, plain(x.lastAttempt), plain(x.lastSuccess)]);
        return {
          tasks: states(v.tasks),
          items: states(v.items),
          keys: v.keys.map((k) => ({
            lastAttempt: plain(k.lastAttempt),
            lastSuccess: plain(k.lastSuccess),
            result: k.result,
          })),
        };
      };
      /**
       * The parent: extract succeeded with outputs and a list result; load succeeded, then failed;
       * per_state's NC succeeded and SC failed; slow is still running. Returns slow's attempt id.
       */
      const seedParent = async (): Promise<number> => {
        const run = await newRun();
        const extract = await begin(run, "extract");
        await attemptCalls(store).completeAttempt(extract, {
          outputs: [out("data/a.csv"), out("data/b.csv")],
          result: ["NC", "SC"],
          resultHash: "r1",
          durationMs: 3,
        });
        const later = await newRun();
        await attemptCalls(store).completeAttempt(await begin(later, "load"), {
          outputs: [out("l")],
          durationMs: 1,
        });
        await attemptCalls(store).failAttempt(await begin(later, "load", { fingerprint: "fp2" }), {
          status: "failed",
          exitCode: 1,
          error: "boom",
          durationMs: 2,
        });
        await attemptCalls(store).completeAttempt(await begin(later, "per_state", { item: "NC" }), {
          outputs: [out("out/NC.csv")],
          result: { rows: 3 },
          durationMs: 1,
        });
        await attemptCalls(store).failAttempt(await begin(later, "per_state", { item: "SC" }), {
          status: "failed",
          error: "no data",
          durationMs: 1,
        });
        return begin(later, "slow");
      };

      it("copies every task and item record with what planning reads, leaving the parent as it was", async () => {
        await seedParent();
        const parentBefore = await view(store, NS);
        const token = await lockToken(store, FEATURE);

        expect(await store.copyNamespace(NS, FEATURE, token)).toBe(5);

        expect(await plainView(store, FEATURE)).toEqual(await plainView(store, NS));
        expect(await view(store, NS)).toEqual(parentBefore);
        const copied = await store.lastSuccess(FEATURE, "extract");
        expect(copied).toMatchObject({
          namespace: FEATURE,
          outputs: [out("data/a.csv"), out("data/b.csv")],
        });
        expect(copied?.attemptId).not.toBe((await store.lastSuccess(NS, "extract"))?.attemptId);
        expect(await store.result(FEATURE, "extract")).toEqual(["NC", "SC"]);
        // Another store (another process) sees the copy whole.
        expect(await plainView(await open(), FEATURE)).toEqual(await plainView(store, NS));
        expect(await store.countTaskRecords(FEATURE)).toBe(5);
        expect(await store.countTaskRecords(FEATURE, 1)).toBe(1);
        // The runs that made the records come along, under new ids, saying where they ran.
        const runs = await store.runs(FEATURE);
        expect(runs).toHaveLength(2);
        expect(runs.map((r) => r.branch)).toEqual(["main", "main"]);
        const parentRuns = (await store.runs(NS)).map((r) => r.runId);
        for (const r of runs) expect(parentRuns).not.toContain(r.runId);
      });

      it("keeps the two namespaces apart once copied", async () => {
        const slow = await seedParent();
        expect(await store.copyNamespace(NS, FEATURE, await lockToken(store, FEATURE))).toBe(5);

        // The parent's runner finishes its attempt: the copy stays an interrupted one.
        expect(
          await attemptCalls(store).completeAttempt(slow, { outputs: [], durationMs: 9 }),
        ).toBe(true);
        expect(await store.lastAttempt(FEATURE, "slow")).toMatchObject({ status: "running" });
        // The branch reruns load: the parent keeps its own last attempt and success.
        const run = await newRun(FEATURE);
        const rerun = await begin(run, "load", { namespace: FEATURE, fingerprint: "fp3" });
        expect(
          await attemptCalls(store).completeAttempt(rerun, { outputs: [], durationMs: 1 }),
        ).toBe(true);
        expect(await store.lastSuccess(FEATURE, "load")).toMatchObject({ fingerprint: "fp3" });
        expect(await store.lastAttempt(NS, "load")).toMatchObject({ status: "failed" });
        expect(await store.lastSuccess(NS, "load")).toMatchObject({ fingerprint: "fp1" });
      });

      it("copies only into a namespace without state, and only while holding its lock", async () => {
        await seedParent();
        // A token of another namespace's lock, or one already released, holds nothing here.
        expect(await store.copyNamespace(NS, FEATURE, await lockToken(store, NS))).toBe(0);
        const got = await store.acquireLock(FEATURE, { command: "a" }, { wait: false });
        if (!got.acquired) throw new Error("expected the lock");
        await got.release();
        expect(await store.copyNamespace(NS, FEATURE, got.token)).toBe(0);
        expect(await store.countTaskRecords(FEATURE)).toBe(0);
        // Nothing to start from.
        expect(
          await store.copyNamespace("sales@nowhere", FEATURE, await lockToken(store, FEATURE)),
        ).toBe(0);
        expect(await store.countTaskRecords(FEATURE)).toBe(0);
      });

      it("lets exactly one of two runners starting the same branch copy", async () => {
        await seedParent();
        const first = await open();
        const second = await open();
        const a = await first.acquireLock(FEATURE, { command: "a" }, { wait: false });
        if (!a.acquired) throw new Error("expected the lock");
        const waiting = second.acquireLock(FEATURE, { command: "b" }, { wait: true, pollMs: 10 });
        expect(await first.copyNamespace(NS, FEATURE, a.token)).toBe(5);
        await a.release();
        const b = await waiting;
        if (!b.acquired) throw new Error("expected the lock");
        expect(await second.copyNamespace(NS, FEATURE, b.token)).toBe(0);
        expect(await second.countTaskRecords(FEATURE)).toBe(5);
        expect(await second.runs(FEATURE)).toHaveLength(2);
      });

      it("never copies over state a branch already has", async () => {
        await seedParent();
        const run = await newRun(FEATURE);
        await begin(run, "own", { namespace: FEATURE });
        expect(await store.copyNamespace(NS, FEATURE, await lockToken(store, FEATURE))).toBe(0);
        expect(await store.countTaskRecords(FEATURE)).toBe(1);
        expect(await store.lastAttempt(FEATURE, "extract")).toBeUndefined();
      });
    });

    describe("fencing of deferred records", () => {
      const deferred = (runId: string, task: string, startedAt: number, item?: string) => ({
        runId,
        namespace: NS,
        task,
        ...(item === undefined ? {} : { item }),
        fingerprint: `fp-${startedAt}`,
        parts: {},
        startedAt,
      });
      const success = { completion: { outputs: [out("late.csv")], result: "late", durationMs: 5 } };
      const failure = { failure: { status: "failed" as const, error: "boom", durationMs: 5 } };

      it("refuses a deferred success that started before another runner's current attempt, which stays current and can complete", async () => {
        const other = await open(); // a runner without the lock (DAGWRIGHT_RUN_ID), begins at once
        const run = await newRun();
        const token = await lockToken();
        const startedBefore = Date.now() - 1_000;
        const begun = await attemptCalls(other).beginAttempt({
          runId: run,
          namespace: NS,
          task: "load",
          fingerprint: "fp-other",
          parts: {},
        });

        expect(
          await attemptCalls(store).recordAttempt(
            deferred(run, "load", startedBefore),
            success,
            token,
          ),
        ).toBe(false);
        expect(
          await attemptCalls(store).recordAttempt(
            deferred(run, "load", startedBefore),
            failure,
            token,
          ),
        ).toBe(false);
        expect(await store.lastSuccess(NS, "load")).toBeUndefined();
        expect(await store.result(NS, "load")).toBeUndefined();
        expect(await store.lastAttempt(NS, "load")).toMatchObject({
          attemptId: begun,
          status: "running",
        });

        expect(
          await attemptCalls(other).completeAttempt(begun, {
            outputs: [],
            result: "b",
            durationMs: 1,
          }),
        ).toBe(true);
        expect(await store.lastSuccess(NS, "load")).toMatchObject({ attemptId: begun });
        expect(await store.result(NS, "load")).toBe("b");
      });

      it("fences each entry of a batch on its own, items included", async () => {
        const run = await newRun();
        const token = await lockToken();
        const now = Date.now();
        const newer = await begin(run, "each", { item: "b" });
        const recorded = await attemptCalls(store).recordAttempts(
          [
            { attempt: deferred(run, "each", now - 1_000, "a"), outcome: success },
            { attempt: deferred(run, "each", now - 1_000, "b"), outcome: success },
            { attempt: deferred(run, "each", now - 1_000, "c"), outcome: failure },
          ],
          token,
        );
        expect(recorded).toEqual([true, false, true]);
        const states = await store.itemStates(NS, "each");
        expect(states.get("a")?.lastSuccess?.outputs).toEqual([out("late.csv")]);
        expect(states.get("b")?.lastAttempt?.attemptId).toBe(newer);
        expect(states.get("b")?.lastSuccess).toBeUndefined();
        expect(states.get("c")?.lastAttempt).toMatchObject({ status: "failed", error: "boom" });
      });

      it("lets a deferred record displace an attempt that began before it", async () => {
        const run = await newRun();
        const token = await lockToken();
        const older = await begin(run, "t");
        const startedAfter = Date.now() + 1_000;
        expect(
          await attemptCalls(store).recordAttempt(deferred(run, "t", startedAfter), success, token),
        ).toBe(true);
        expect(
          await attemptCalls(store).completeAttempt(older, { outputs: [], durationMs: 1 }),
        ).toBe(false);
        expect(await store.lastSuccess(NS, "t")).toMatchObject({
          fingerprint: `fp-${startedAfter}`,
          startedAt: startedAfter,
        });
      });

      it("refuses deferred records whose token does not hold the namespace's lock", async () => {
        const run = await newRun();
        const now = Date.now();
        // Never a token; a token of another namespace; a released token.
        expect(
          await attemptCalls(store).recordAttempt(deferred(run, "t", now), success, "no-token"),
        ).toBe(false);
        const elsewhere = await lockToken(store, "other@main");
        expect(
          await attemptCalls(store).recordAttempt(deferred(run, "t", now), success, elsewhere),
        ).toBe(false);
        const got = await store.acquireLock(NS, { command: "x" }, { wait: false });
        if (!got.acquired) throw new Error("expected the lock");
        await got.release();
        expect(
          await attemptCalls(store).recordAttempt(deferred(run, "t", now), success, got.token),
        ).toBe(false);
        expect(
          await attemptCalls(store).recordAttempt(deferred(run, "t", now), failure, got.token),
        ).toBe(false);
        expect(
          await attemptCalls(store).recordAttempts(
            [{ attempt: deferred(run, "t", now, "i"), outcome: success }],
            got.token,
          ),
        ).toEqual([false]);
        expect(await store.lastAttempt(NS, "t")).toBeUndefined();
        expect(await store.lastAttempt(NS, "t", "i")).toBeUndefined();
        // A new acquisition has a token of its own, and that one is accepted.
        const again = await lockToken();
        expect(again).not.toBe(got.token);
        expect(
          await attemptCalls(store).recordAttempt(deferred(run, "t", now), success, again),
        ).toBe(true);
      });

      it("invalidates a holder's token once another store takes over its stale lock", async () => {
        const second = await open();
        const run = await newRun();
        const token = await lockToken();
        await backend.killLockHolder(NS);
        // Dead but not yet replaced: its token no longer counts either.
        expect(
          await attemptCalls(store).recordAttempt(deferred(run, "t", Date.now()), success, token),
        ).toBe(false);
        const taken = await second.acquireLock(NS, { command: "new" }, { wait: true, pollMs: 10 });
        if (!taken.acquired) throw new Error("expected to take the lock over");
        expect(taken.token).not.toBe(token);
        expect(
          await attemptCalls(store).recordAttempt(deferred(run, "t", Date.now()), success, token),
        ).toBe(false);
        expect(await store.lastAttempt(NS, "t")).toBeUndefined();
        expect(
          await attemptCalls(second).recordAttempt(
            deferred(run, "t", Date.now()),
            success,
            taken.token,
          ),
        ).toBe(true);
      });

      it("keeps a fenced deferred begin out of the current attempt, so its completion is refused", async () => {
        const other = await open();
        const run = await newRun();
        const token = await lockToken();
        const now = Date.now();
        const newer = await attemptCalls(other).beginAttempt({
          runId: run,
          namespace: NS,
          task: "t",
          fingerprint: "fp-other",
          parts: {},
        });
        const [late, fresh] = await attemptCalls(store).beginAttempts(
          [deferred(run, "t", now - 1_000), deferred(run, "u", now - 1_000)],
          token,
        );
        expect((await store.lastAttempt(NS, "t"))?.attemptId).toBe(newer);
        expect(await store.lastAttempt(NS, "u")).toMatchObject({
          attemptId: fresh,
          startedAt: now - 1_000,
        });
        expect(
          await attemptCalls(store).completeAttempt(late!, { outputs: [], durationMs: 1 }),
        ).toBe(false);
        expect(
          await attemptCalls(store).completeAttempt(fresh!, { outputs: [], durationMs: 1 }),
        ).toBe(true);
        expect(
          await attemptCalls(other).completeAttempt(newer, { outputs: [], durationMs: 1 }),
        ).toBe(true);

        const [unlocked] = await attemptCalls(store).beginAttempts(
          [deferred(run, "v", now)],
          "no-token",
        );
        expect(await store.lastAttempt(NS, "v")).toBeUndefined();
        expect(
          await attemptCalls(store).completeAttempt(unlocked!, { outputs: [], durationMs: 1 }),
        ).toBe(false);
      });
    });

    describe("task processes (for finding a crashed runner's orphans)", () => {
      it("lists a namespace's processes on one host, oldest first, to any store", async () => {
        await store.updateTaskProcesses({
          started: [
            proc(30, { item: "NC" }),
            proc(10),
            proc(20, { host: "host-b" }),
            proc(40, { namespace: "sales@dev" }),
          ],
        });
        const other = await open();
        expect(await other.taskProcesses(NS, "host-a")).toEqual([
          proc(10),
          proc(30, { item: "NC" }),
        ]);
        expect(await other.taskProcesses(NS, "host-b")).toEqual([proc(20, { host: "host-b" })]);
        expect(await other.taskProcesses("other@main", "host-a")).toEqual([]);
      });

      it("forgets a process by host, pid and start marker, never a later process with its pid", async () => {
        await store.updateTaskProcesses({ started: [proc(10), proc(11), proc(12)] });
        await store.updateTaskProcesses({
          ended: [
            { host: "host-a", pid: 10, startMarker: proc(10).startMarker },
            { host: "host-a", pid: 11, startMarker: "boot1:999" },
            { host: "host-b", pid: 12, startMarker: proc(12).startMarker },
          ],
        });
        expect((await store.taskProcesses(NS, "host-a")).map((p) => p.pid)).toEqual([11, 12]);
      });

      it("replaces the row of a recycled pid, and applies starts before ends in one call", async () => {
        await store.updateTaskProcesses({ started: [proc(10)] });
        const recycled = proc(10, { startMarker: "boot2:5", task: "other", since: 1 });
        await store.updateTaskProcesses({ started: [recycled] });
        expect(await store.taskProcesses(NS, "host-a")).toEqual([recycled]);
        await store.updateTaskProcesses({
          started: [proc(11)],
          ended: [{ host: "host-a", pid: 11, startMarker: proc(11).startMarker }],
        });
        await store.updateTaskProcesses({});
        expect(await store.taskProcesses(NS, "host-a")).toEqual([recycled]);
      });
    });

    it("round-trips the file hash cache and overwrites stale rows", async () => {
      const meta = { ctimeMs: 4.75, ino: 2 ** 33 + 5, hashedAtMs: 1_700_000_000_000.5 };
      expect(store.getFileHash("/p/a.csv")).toBeUndefined();
      store.putFileHashes([
        { path: "/p/a.csv", size: 10, mtimeMs: 1.5, ...meta, hash: "ha" },
        { path: "/p/b.csv", size: 20, mtimeMs: 2, ...meta, hash: "hb" },
      ]);
      store.putFileHashes([]);
      expect(store.getFileHash("/p/a.csv")).toEqual({
        size: 10,
        mtimeMs: 1.5,
        ...meta,
        hash: "ha",
      });
      store.putFileHashes([{ path: "/p/a.csv", size: 11, mtimeMs: 3, ...meta, hash: "ha2" }]);
      expect(store.getFileHash("/p/a.csv")).toEqual({ size: 11, mtimeMs: 3, ...meta, hash: "ha2" });
      const other = await open();
      expect(other.getFileHash("/p/b.csv")).toEqual({ size: 20, mtimeMs: 2, ...meta, hash: "hb" });
    });
  });
  describeStoreContract(name, makeBackend);
}
