import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AttemptRecorder, BEGIN_AFTER_MS } from "../../src/exec/attempt-records.js";
import { openSqliteStore, type SqliteStateStore } from "../../src/state/sqlite-store.js";

const NS = "g@main";
const done = { completion: { outputs: [], durationMs: 1 } };

describe("AttemptRecorder", () => {
  let store: SqliteStateStore;
  let runId: string;
  let token: string;
  const attempt = (task: string) => ({ runId, namespace: NS, task, fingerprint: "f", parts: {} });

  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ["Date", "setTimeout", "clearTimeout"] });
    store = openSqliteStore(":memory:");
    runId = await store.beginRun({ namespace: NS, graph: "g", branch: "main", command: "run" });
    const lock = await store.acquireLock(NS, { command: "run" }, { wait: false });
    if (!lock.acquired) throw new Error("expected the lock");
    token = lock.token;
  });
  afterEach(async () => {
    vi.useRealTimers();
    await store.close();
  });

  it("shows a long attempt as running, under the recorder's worker, once it has run a while", async () => {
    const recorder = new AttemptRecorder(store, "box-1:77");
    const started = recorder.start([attempt("long")], token);
    vi.advanceTimersByTime(BEGIN_AFTER_MS - 1);
    await new Promise((r) => setImmediate(r));
    expect(await store.runningAttempts(NS)).toEqual([]);
    vi.advanceTimersByTime(1);
    await new Promise((r) => setImmediate(r));
    expect(await store.runningAttempts(NS)).toMatchObject([{ task: "long", worker: "box-1:77" }]);
    expect(await started.finish([done])).toEqual([true]);
    expect(await store.lastSuccess(NS, "long")).toMatchObject({ worker: "box-1:77" });
    expect(await store.runningAttempts(NS)).toEqual([]);
  });

  it("keeps the deferrals of two runs in one process apart", async () => {
    const first = new AttemptRecorder(store, "a:1");
    const second = new AttemptRecorder(store, "b:2");
    const short = first.start([attempt("short")], token);
    const long = second.start([attempt("long")], token);
    // The short attempt ends first: it is recorded once, begin and outcome together.
    expect(await short.finish([done])).toEqual([true]);
    vi.advanceTimersByTime(BEGIN_AFTER_MS);
    await new Promise((r) => setImmediate(r));
    expect((await store.runningAttempts(NS)).map((a) => [a.task, a.worker])).toEqual([
      ["long", "b:2"],
    ]);
    expect(await long.finish([done])).toEqual([true]);
    expect(await store.lastSuccess(NS, "short")).toMatchObject({ worker: "a:1" });
  });
});
