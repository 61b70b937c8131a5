import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { startAttempts } from "../../src/exec/attempt-records.js";
import { openSqliteStore, type SqliteStateStore } from "../../src/state/sqlite-store.js";
import { makeProject, runCli } from "../helpers.js";

const NS = "g@main";
const T = Date.UTC(2025, 0, 1);

/**
 * Two runners on one state file, as two processes would be: `holder` runs under the namespace
 * lock and defers the begin records of short attempts; `lockless` is a run inside a rendered
 * workflow (DAGWRIGHT_RUN_ID: no lock), whose begins are written as its attempts start. The clock
 * is set by hand so which attempt began first never depends on timing.
 */
describe("fencing of attempts started by startAttempts", () => {
  let dir: string;
  let holder: SqliteStateStore;
  let lockless: SqliteStateStore;
  let runId: string;
  let token: string;
  const attempt = (task: string, item?: string) => ({
    runId,
    namespace: NS,
    task,
    ...(item === undefined ? {} : { item }),
    fingerprint: "f",
    parts: {},
  });
  const done = (result: string) => ({ completion: { outputs: [], result, durationMs: 1 } });

  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(T);
    dir = mkdtempSync(path.join(tmpdir(), "dagwright-fencing-"));
    const file = path.join(dir, "state.db");
    holder = openSqliteStore(file);
    lockless = openSqliteStore(file);
    runId = await holder.beginRun({ namespace: NS, graph: "g", branch: "main", command: "run" });
    const lock = await holder.acquireLock(NS, { command: "dagwright run g" }, { wait: false });
    if (!lock.acquired) throw new Error("expected the lock");
    token = lock.token;
  });
  afterEach(async () => {
    vi.useRealTimers();
    await holder.close();
    await lockless.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses the late success of a short attempt that began before another runner's attempt", async () => {
    const early = startAttempts(holder, [attempt("t")], token);
    vi.setSystemTime(T + 10);
    const later = startAttempts(lockless, [attempt("t")], undefined);
    const begun = await lockless.lastAttempt(NS, "t");
    expect(begun).toMatchObject({ status: "running", startedAt: T + 10 });

    expect(await early.finish([done("early")])).toEqual([false]);
    // run-graph then reports the attempt failed: kept as history, never current.
    await early.finish([{ failure: { status: "failed", error: "superseded", durationMs: 1 } }]);
    expect(await holder.lastAttempt(NS, "t")).toMatchObject({
      attemptId: begun?.attemptId,
      status: "running",
    });

    expect(await later.finish([done("later")])).toEqual([true]);
    expect(await holder.lastSuccess(NS, "t")).toMatchObject({ attemptId: begun?.attemptId });
    expect(await holder.result(NS, "t")).toBe("later");
  });

  it("fences each item of a bundle on its own", async () => {
    const early = startAttempts(holder, [attempt("m", "NC"), attempt("m", "SC")], token);
    vi.setSystemTime(T + 10);
    const later = startAttempts(lockless, [attempt("m", "SC")], undefined);
    expect(await early.finish([done("nc"), done("sc-early")])).toEqual([true, false]);
    expect(await later.finish([done("sc-later")])).toEqual([true]);
    expect(await holder.result(NS, "m", "NC")).toBe("nc");
    expect(await holder.result(NS, "m", "SC")).toBe("sc-later");
  });

  it("records nothing deferred once the run's lock was lost", async () => {
    const early = startAttempts(holder, [attempt("t")], token);
    // The lock is taken over (its holder looked dead) before the attempt ends.
    const other = openSqliteStore(path.join(dir, "state.db"));
    try {
      const db = new Database(path.join(dir, "state.db"));
      db.prepare("UPDATE locks SET pid = 0 WHERE namespace = ?").run(NS);
      db.close();
      expect((await other.acquireLock(NS, { command: "x" }, { wait: false })).acquired).toBe(true);
      expect(await early.finish([done("early")])).toEqual([false]);
      expect(await other.lastAttempt(NS, "t")).toBeUndefined();
    } finally {
      await other.close();
    }
  });

  it("lets a deferred attempt that began last displace an older one", async () => {
    const older = startAttempts(lockless, [attempt("t")], undefined);
    vi.setSystemTime(T + 10);
    const newer = startAttempts(holder, [attempt("t")], token);
    expect(await newer.finish([done("newer")])).toEqual([true]);
    expect(await older.finish([done("older")])).toEqual([false]);
    expect(await holder.result(NS, "t")).toBe("newer");
  });
});

describe("dagwright run inside a rendered workflow (DAGWRIGHT_RUN_ID, no lock)", () => {
  it("records a task as running before it starts, since other runners may run it too", () => {
    // The task reads its own attempt from the state file while it runs.
    const check = `import sqlite3
c = sqlite3.connect(".dagwright/state.db")
rows = c.execute("SELECT status FROM attempts WHERE task = 't'").fetchall()
open("out.txt", "w").write(",".join(r[0] for r in rows))
`;
    const dir = makeProject({
      "dagwright.yaml":
        "graphs:\n  g: {tasks: {t: }}\ntasks:\n  t:\n    command: [python3, check.py]\n    outputs: [out.txt]\n",
      "check.py": check,
    });
    const r = runCli(["run"], dir, { DAGWRIGHT_RUN_ID: "wf-1" });
    expect(r.stderr).toContain("done: 1 ran");
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(dir, "out.txt"), "utf8")).toBe("running");
  });
});
