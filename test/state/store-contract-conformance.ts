import { hostname } from "node:os";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type {
  AttemptBegin,
  AttemptOutcome,
  AttemptWrite,
  StateStore,
} from "../../src/state/state-store.js";
import type { StateBackend } from "./state-store-conformance.js";

const NS = "sales@main";
const success: AttemptOutcome = { completion: { outputs: [], durationMs: 1 } };
const failure: AttemptOutcome = { failure: { status: "failed", error: "boom", durationMs: 1 } };

/**
 * The write contract of {@link StateStore.writeAttempts} (the verdict and reason of every entry)
 * and the read models (attempts of a run, items of a task, one attempt, running attempts), as
 * every driver must keep them. Run from `describeStateStore`.
 */
export function describeStoreContract(
  name: string,
  makeBackend: () => StateBackend | Promise<StateBackend>,
): void {
  describe(`StateStore writes and read models: ${name}`, () => {
    let backend: StateBackend;
    let store: StateStore;
    const opened: StateStore[] = [];
    const open = async (): Promise<StateStore> => {
      const s = await backend.open();
      opened.push(s);
      return s;
    };
    const newRun = (): Promise<string> =>
      store.beginRun({ namespace: NS, graph: "g", branch: "main", command: "dagwright run g" });
    const lockToken = async (): Promise<string> => {
      const got = await store.acquireLock(NS, { command: "test" }, { wait: false });
      if (!got.acquired) throw new Error("expected the lock");
      return got.token;
    };
    const attempt = (runId: string, task: string, extra: Partial<AttemptBegin> = {}) => ({
      runId,
      namespace: NS,
      task,
      fingerprint: "fp",
      parts: {},
      ...extra,
    });
    const begin = (runId: string, task: string, extra: Partial<AttemptBegin> = {}) =>
      ({ kind: "begin", attempt: attempt(runId, task, extra) }) as const;
    const beginId = async (runId: string, task: string, extra: Partial<AttemptBegin> = {}) =>
      (await store.writeAttempts([begin(runId, task, extra)]))[0]!.attemptId!;

    beforeEach(async () => {
      backend = await makeBackend();
      store = await open();
    });
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
      await backend.dispose();
    });

    it("says for each write whether it became current, was kept as history or was refused, and why", async () => {
      const run = await newRun();
      const old = await beginId(run, "t");
      const cur = await beginId(run, "t");
      const done = await beginId(run, "u");
      const failed = await beginId(run, "v");
      const writes: AttemptWrite[] = [
        { kind: "outcome", attemptId: old, outcome: success },
        { kind: "outcome", attemptId: old, outcome: failure },
        { kind: "outcome", attemptId: done, outcome: success },
        { kind: "outcome", attemptId: done, outcome: success },
        { kind: "outcome", attemptId: failed, outcome: failure },
        { kind: "outcome", attemptId: failed, outcome: failure },
        begin(run, "w"),
      ];
      const results = await store.writeAttempts(writes);
      expect(results.slice(0, 6)).toEqual([
        { verdict: "refused", attemptId: old, reason: "superseded" },
        { verdict: "history", attemptId: old, reason: "superseded" },
        { verdict: "current", attemptId: done },
        { verdict: "refused", attemptId: done, reason: "not-running" },
        { verdict: "current", attemptId: failed },
        { verdict: "refused", attemptId: failed, reason: "not-running" },
      ]);
      expect(results[6]).toEqual({ verdict: "current", attemptId: expect.any(Number) });
      expect((await store.lastAttempt(NS, "t"))?.attemptId).toBe(cur);
      expect(await store.lastAttempt(NS, "w")).toMatchObject({
        attemptId: results[6]!.attemptId,
        status: "running",
      });
    });

    it("fences deferred writes by the lock and the start, naming the reason of each refusal", async () => {
      const run = await newRun();
      const token = await lockToken();
      const t0 = Date.now();
      const newer = await beginId(run, "t", { startedAt: t0 + 1_000 });
      const late = (task: string, startedAt: number) => ({
        ...attempt(run, task),
        startedAt,
      });
      const results = await store.writeAttempts(
        [
          { kind: "record", attempt: late("t", t0), outcome: success },
          { kind: "record", attempt: late("t", t0), outcome: failure },
          { kind: "begin", attempt: late("t", t0) },
          { kind: "record", attempt: late("u", t0), outcome: success },
          { kind: "begin", attempt: late("v", t0) },
        ],
        { lockToken: token },
      );
      expect(results).toEqual([
        { verdict: "refused", reason: "superseded" },
        { verdict: "history", attemptId: expect.any(Number), reason: "superseded" },
        { verdict: "history", attemptId: expect.any(Number), reason: "superseded" },
        { verdict: "current", attemptId: expect.any(Number) },
        { verdict: "current", attemptId: expect.any(Number) },
      ]);
      expect((await store.lastAttempt(NS, "t"))?.attemptId).toBe(newer);
      expect((await store.lastSuccess(NS, "u"))?.attemptId).toBe(results[3]!.attemptId);

      await backend.killLockHolder(NS);
      const lost = await store.writeAttempts(
        [
          { kind: "record", attempt: late("x", Date.now()), outcome: success },
          { kind: "record", attempt: late("x", Date.now()), outcome: failure },
          { kind: "begin", attempt: late("y", Date.now()) },
        ],
        { lockToken: token },
      );
      expect(lost).toEqual([
        { verdict: "refused", reason: "lock-lost" },
        { verdict: "refused", reason: "lock-lost" },
        { verdict: "history", attemptId: expect.any(Number), reason: "lock-lost" },
      ]);
      expect(await store.lastAttempt(NS, "x")).toBeUndefined();
      expect(await store.lastAttempt(NS, "y")).toBeUndefined();
    });

    it("refuses a deferred record without a lock token, and writes nothing for an empty list", async () => {
      const run = await newRun();
      await expect(
        store.writeAttempts([
          { kind: "record", attempt: { ...attempt(run, "t"), startedAt: 1 }, outcome: success },
        ]),
      ).rejects.toMatchObject({ code: "E_INTERNAL", message: expect.stringMatching(/lockToken/) });
      expect(await store.writeAttempts([])).toEqual([]);
      expect(await store.lastAttempt(NS, "t")).toBeUndefined();
    });

    it("records who runs each attempt: this process by default, or the worker the caller names", async () => {
      const run = await newRun();
      const mine = await beginId(run, "a");
      const theirs = await beginId(run, "b", { worker: "box-7:4242" });
      const token = await lockToken();
      const [recorded] = await store.writeAttempts(
        [
          {
            kind: "record",
            attempt: { ...attempt(run, "c", { worker: "box-8:1" }), startedAt: Date.now() },
            outcome: success,
          },
        ],
        { lockToken: token },
      );
      expect((await store.attempt(mine))?.worker).toBe(`${hostname()}:${process.pid}`);
      expect((await store.attempt(theirs))?.worker).toBe("box-7:4242");
      expect((await store.attempt(recorded!.attemptId!))?.worker).toBe("box-8:1");
      expect(await store.lastAttempt(NS, "b")).toMatchObject({ worker: "box-7:4242" });
    });

    it("reads one attempt by id, with its log location", async () => {
      const run = await newRun();
      const id = await beginId(run, "a", { logPath: ".dagwright/logs/a/1.log" });
      expect(await store.attempt(id)).toMatchObject({
        attemptId: id,
        runId: run,
        task: "a",
        status: "running",
        logPath: ".dagwright/logs/a/1.log",
      });
      expect(await store.attempt(id + 1000)).toBeUndefined();
    });

    it("pages the attempts of a run in id order, whatever their task, item or status", async () => {
      const run = await newRun();
      const otherRun = await newRun();
      const ids: number[] = [];
      for (const task of ["a", "b", "c", "d", "e"]) {
        ids.push(await beginId(run, task, { item: task === "c" ? "NC" : "" }));
        await beginId(otherRun, task);
      }
      await store.writeAttempts([{ kind: "outcome", attemptId: ids[1]!, outcome: failure }]);
      const first = await store.attemptsOfRun(run, { limit: 2 });
      expect(first.map((a) => a.attemptId)).toEqual(ids.slice(0, 2));
      const rest = await store.attemptsOfRun(run, { after: first.at(-1)!.attemptId, limit: 10 });
      expect(rest.map((a) => a.attemptId)).toEqual(ids.slice(2));
      expect(rest[0]).toMatchObject({ task: "c", item: "NC" });
      expect(first[1]).toMatchObject({ task: "b", status: "failed" });
      expect((await store.attemptsOfRun(run)).map((a) => a.attemptId)).toEqual(ids);
      expect(await store.attemptsOfRun("no-such-run")).toEqual([]);
    });

    it("pages the items of a task in key order, each with its current attempt and last success", async () => {
      const run = await newRun();
      const keys = ["b", "a", "é", "Z", "c,d"];
      const ids = new Map<string, number>();
      for (const item of keys) ids.set(item, await beginId(run, "each", { item }));
      await beginId(run, "each");
      await store.writeAttempts([
        { kind: "outcome", attemptId: ids.get("a")!, outcome: success },
        { kind: "outcome", attemptId: ids.get("b")!, outcome: success },
      ]);
      const newerB = await beginId(run, "each", { item: "b", fingerprint: "fp2" });
      const sorted = ["Z", "a", "b", "c,d", "é"];
      const page1 = await store.taskItems(NS, "each", { limit: 2 });
      expect(page1.map((p) => p.item)).toEqual(sorted.slice(0, 2));
      const page2 = await store.taskItems(NS, "each", { after: "a", limit: 2 });
      expect(page2.map((p) => p.item)).toEqual(["b", "c,d"]);
      expect(page2[0]).toMatchObject({
        lastAttempt: { attemptId: newerB, status: "running" },
        lastSuccess: { attemptId: ids.get("b"), status: "succeeded" },
      });
      expect(page2[1]!.lastSuccess).toBeUndefined();
      const page3 = await store.taskItems(NS, "each", { after: "c,d", limit: 2 });
      expect(page3.map((p) => p.item)).toEqual(["é"]);
      expect((await store.taskItems(NS, "each")).map((p) => p.item)).toEqual(sorted);
      expect(await store.taskItems(NS, "other")).toEqual([]);
    });

    it("lists the attempts running now: current and still running, in task order", async () => {
      const run = await newRun();
      await beginId(run, "b", { worker: "w1:1" });
      const superseded = await beginId(run, "a", { worker: "w1:2" });
      const a = await beginId(run, "a", { worker: "w2:3" });
      const done = await beginId(run, "c");
      const item = await beginId(run, "m", { item: "NC" });
      await store.writeAttempts([{ kind: "outcome", attemptId: done, outcome: success }]);
      const running = await store.runningAttempts(NS);
      expect(running.map((r) => [r.task, r.item, r.worker])).toEqual([
        ["a", "", "w2:3"],
        ["b", "", "w1:1"],
        ["m", "NC", `${hostname()}:${process.pid}`],
      ]);
      expect(running.map((r) => r.attemptId)).not.toContain(superseded);
      expect(running[0]!.attemptId).toBe(a);
      expect(running[2]!.attemptId).toBe(item);
      expect(await store.runningAttempts("other@main")).toEqual([]);
    });
  });
}
