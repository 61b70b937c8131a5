import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DagwrightError } from "../../src/spec/errors.js";
import { sqliteMigrations } from "../../src/state/sqlite-migrations.js";
import { openSqliteStore, type SqliteStateStore } from "../../src/state/sqlite-store.js";
import { attemptCalls } from "./attempt-calls.js";
import { describeStateStore } from "./state-store-conformance.js";

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", "0"]);
  return new Promise<number>((resolve) => child.on("exit", () => resolve(child.pid ?? -1)));
}

describeStateStore("sqlite", () => {
  const dir = mkdtempSync(join(tmpdir(), "dagwright-state-"));
  const file = join(dir, ".dagwright", "state.db");
  return {
    open: () => openSqliteStore(file),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
    killLockHolder: async (namespace) => {
      const pid = await deadPid();
      const db = new Database(file);
      db.prepare("UPDATE locks SET pid = ? WHERE namespace = ?").run(pid, namespace);
      db.close();
    },
  };
});

describe("SQLite state store", () => {
  let dir: string;
  let file: string;
  const stores: SqliteStateStore[] = [];
  const open = (): SqliteStateStore => {
    const s = openSqliteStore(file);
    stores.push(s);
    return s;
  };
  const raw = (): Database.Database => new Database(file);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "dagwright-sqlite-"));
    file = join(dir, "nested", ".dagwright", "state.db");
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates the directory and opens the file in WAL mode with foreign keys on", () => {
    open();
    const db = raw();
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("user_version", { simple: true })).toBe(sqliteMigrations.at(-1)?.version);
    db.close();
  });

  it("applies migrations once and keeps data when reopened", async () => {
    const first = open();
    const run = await first.beginRun({
      namespace: "n@main",
      graph: "g",
      branch: "main",
      command: "c",
    });
    const id = await attemptCalls(first).beginAttempt({
      runId: run,
      namespace: "n@main",
      task: "t",
      fingerprint: "f",
      parts: [],
    });
    await attemptCalls(first).completeAttempt(id, {
      outputs: [],
      result: { kept: true },
      durationMs: 1,
    });
    await first.close();

    const second = open();
    expect(await second.result("n@main", "t")).toEqual({ kept: true });
    expect((await second.runs()).map((r) => r.runId)).toEqual([run]);
    const db = raw();
    expect(db.pragma("user_version", { simple: true })).toBe(sqliteMigrations.length);
    db.close();
  });

  it("upgrades a store written before workers were recorded: old attempts have none, new ones do", async () => {
    // A store as version 4 left it, with one running attempt.
    mkdirSync(dirname(file), { recursive: true });
    const db = raw();
    db.pragma("foreign_keys = ON");
    for (const m of sqliteMigrations.filter((m) => m.version <= 4)) db.exec(m.sql);
    db.pragma("user_version = 4");
    db.prepare(
      `INSERT INTO runs (run_id, namespace, graph, branch, command, status, started_at, pid, host)
       VALUES ('r1', 'n@main', 'g', 'main', 'c', 'running', 1, 1, 'h')`,
    ).run();
    const old = db
      .prepare(
        `INSERT INTO attempts (run_id, namespace, task, item, status, fingerprint, parts, started_at)
         VALUES ('r1', 'n@main', 'old', '', 'running', 'f', '{}', 1)`,
      )
      .run().lastInsertRowid;
    db.prepare(
      "INSERT INTO task_state (namespace, task, item, current_attempt) VALUES ('n@main', 'old', '', ?)",
    ).run(old);
    db.close();

    const store = open();
    expect(await store.runningAttempts("n@main")).toMatchObject([
      { task: "old", status: "running" },
    ]);
    expect(await store.attempt(Number(old))).not.toHaveProperty("worker");
    const id = await attemptCalls(store).beginAttempt({
      runId: "r1",
      namespace: "n@main",
      task: "new",
      fingerprint: "f",
      parts: {},
    });
    expect((await store.attempt(id))?.worker).toBe(`${hostname()}:${process.pid}`);
  });

  it("numbers migrations 1, 2, 3… without gaps", () => {
    expect(sqliteMigrations.map((m) => m.version)).toEqual(sqliteMigrations.map((_, i) => i + 1));
  });

  it("refuses a database written by a newer schema version, naming both versions", () => {
    open();
    const db = raw();
    db.pragma("user_version = 999");
    db.close();
    const known = sqliteMigrations.length;
    let error: unknown;
    try {
      open();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DagwrightError);
    expect(error).toMatchObject({
      code: "E_ENV",
      message: `${file}: state.db was written by a newer dagwright (schema v999, this one knows v${known}); refusing to open it`,
      hint: "upgrade dagwright, or point DAGWRIGHT_STATE_URL at another store",
    });
  });

  it("refuses a file that is not a SQLite database as an environment problem", () => {
    const junk = join(dir, "junk.db");
    writeFileSync(
      junk,
      "this is not a database, just text that is long enough to have a header".repeat(20),
    );
    expect(() => openSqliteStore(junk)).toThrow(expect.objectContaining({ code: "E_ENV" }));
  });

  it("stores a 1,000,000-item list result in more than one shard and reassembles it", async () => {
    const store = open();
    const big = Array.from({ length: 1_000_000 }, (_, i) => i);
    const run = await store.beginRun({
      namespace: "n@main",
      graph: "g",
      branch: "main",
      command: "c",
    });
    const id = await attemptCalls(store).beginAttempt({
      runId: run,
      namespace: "n@main",
      task: "t",
      fingerprint: "f",
      parts: {},
    });
    await attemptCalls(store).completeAttempt(id, { outputs: [], result: big, durationMs: 1 });

    const db = raw();
    const shards = db.prepare("SELECT count(*) AS n FROM results WHERE attempt_id = ?").get(id) as {
      n: number;
    };
    db.close();
    expect(shards.n).toBe(100);
    expect(await store.result("n@main", "t")).toEqual(big);
  });

  it("drops the replaced result's shards when a newer success is recorded", async () => {
    const store = open();
    const run = await store.beginRun({
      namespace: "n@main",
      graph: "g",
      branch: "main",
      command: "c",
    });
    const a = await attemptCalls(store).beginAttempt({
      runId: run,
      namespace: "n@main",
      task: "t",
      fingerprint: "f",
      parts: {},
    });
    await attemptCalls(store).completeAttempt(a, { outputs: [], result: [1, 2], durationMs: 1 });
    const b = await attemptCalls(store).beginAttempt({
      runId: run,
      namespace: "n@main",
      task: "t",
      fingerprint: "f",
      parts: {},
    });
    await attemptCalls(store).completeAttempt(b, { outputs: [], result: [3], durationMs: 1 });
    const db = raw();
    const rows = db.prepare("SELECT attempt_id FROM results").all();
    db.close();
    expect(rows).toEqual([{ attempt_id: b }]);
  });

  describe("state version (stateSignature)", () => {
    const NS = "n@main";
    const attempt = (runId: string, task: string, item?: string) => ({
      runId,
      namespace: NS,
      task,
      ...(item === undefined ? {} : { item }),
      fingerprint: "f",
      parts: {},
      startedAt: Date.now(),
    });

    it("changes with every kind of write to what planning reads, whoever writes it", async () => {
      const store = open();
      const other = open(); // another process on the same file
      const run = await store.beginRun({ namespace: NS, graph: "g", branch: "main", command: "c" });
      const lock = await store.acquireLock(NS, { command: "c" }, { wait: false });
      if (!lock.acquired) throw new Error("expected the lock");
      const seen = new Set<string>([store.stateSignature(NS)]);
      const changes = async (what: string, write: () => Promise<unknown>): Promise<void> => {
        await write();
        const now = other.stateSignature(NS);
        expect({ what, changed: !seen.has(now) }).toEqual({ what, changed: true });
        expect(store.stateSignature(NS)).toBe(now);
        seen.add(now);
      };
      let id = 0;
      await changes("beginAttempt", async () => {
        id = await attemptCalls(other).beginAttempt(attempt(run, "t"));
      });
      await changes("completeAttempt", () =>
        attemptCalls(store).completeAttempt(id, { outputs: [], durationMs: 1 }),
      );
      await changes("beginAttempts of items", async () => {
        id = (await attemptCalls(store).beginAttempts([attempt(run, "m", "NC")]))[0]!;
      });
      await changes("failAttempt", () =>
        attemptCalls(store).failAttempt(id, { status: "failed", error: "x", durationMs: 1 }),
      );
      await changes("a deferred success with outputs and a result", () =>
        attemptCalls(store).recordAttempt(
          attempt(run, "t"),
          {
            completion: {
              outputs: [{ path: "o", hash: "h", size: 1, mtimeMs: 1 }],
              result: [1],
              durationMs: 1,
            },
          },
          lock.token,
        ),
      );
      await changes("deferred failures of items", () =>
        attemptCalls(store).recordAttempts(
          [
            {
              attempt: attempt(run, "m", "SC"),
              outcome: { failure: { status: "failed", error: "x", durationMs: 1 } },
            },
          ],
          lock.token,
        ),
      );
      // A new branch started from this one: its own version moves, so no memo trusts its past.
      const FEATURE = "n@feature";
      const featureLock = await store.acquireLock(FEATURE, { command: "c" }, { wait: false });
      if (!featureLock.acquired) throw new Error("expected the lock");
      const featureBefore = other.stateSignature(FEATURE);
      const mainBefore = other.stateSignature(NS);
      expect(await store.copyNamespace(NS, FEATURE, featureLock.token)).toBe(3);
      expect(other.stateSignature(FEATURE)).not.toBe(featureBefore);
      expect(other.stateSignature(NS)).toBe(mainBefore);
    });

    it("stays the same across reads, runs, locks, file hashes and other namespaces' writes", async () => {
      const store = open();
      const run = await store.beginRun({ namespace: NS, graph: "g", branch: "main", command: "c" });
      await attemptCalls(store).completeAttempt(
        await attemptCalls(store).beginAttempt(attempt(run, "t")),
        {
          outputs: [],
          result: 1,
          durationMs: 1,
        },
      );
      const before = store.stateSignature(NS);
      const other = open();
      expect(other.stateSignature(NS)).toBe(before);
      await other.lastSuccess(NS, "t");
      await other.taskStates(NS, ["t"]);
      await other.itemStates(NS, "t");
      await other.result(NS, "t");
      const again = await other.beginRun({
        namespace: NS,
        graph: "g",
        branch: "main",
        command: "c",
      });
      await other.endRun(again, "succeeded");
      const lock = await other.acquireLock(NS, { command: "c" }, { wait: false });
      if (lock.acquired) await lock.release();
      other.putFileHashes([
        { path: "/x", size: 1, mtimeMs: 1, ctimeMs: 1, ino: 1, hashedAtMs: 1, hash: "h" },
      ]);
      const otherBefore = store.stateSignature("o@main");
      const elsewhere = await other.beginRun({
        namespace: "o@main",
        graph: "g",
        branch: "main",
        command: "c",
      });
      await attemptCalls(other).beginAttempt({ ...attempt(elsewhere, "t"), namespace: "o@main" });
      expect(store.stateSignature(NS)).toBe(before);
      expect(store.stateSignature("o@main")).not.toBe(otherBefore);
    });

    it("differs between a state file and one recreated in its place", async () => {
      const first = open();
      const before = first.stateSignature(NS);
      await first.close();
      rmSync(file);
      expect(open().stateSignature(NS)).not.toBe(before);
    });
  });

  it("takes over a lock whose holder died on this host", async () => {
    const child = spawn(process.execPath, ["-e", "0"]);
    const deadPid = await new Promise<number>((resolve) =>
      child.on("exit", () => resolve(child.pid ?? -1)),
    );
    open();
    const db = raw();
    db.prepare(
      "INSERT INTO locks (namespace, token, pid, host, command, since) VALUES (?, ?, ?, ?, ?, ?)",
    ).run("n@main", "old", deadPid, hostname(), "dagwright run crashed", 1);
    db.close();

    const store = open();
    const got = await store.acquireLock(
      "n@main",
      { command: "dagwright run main" },
      { wait: false },
    );
    expect(got.acquired).toBe(true);
    const other = open();
    expect(await other.acquireLock("n@main", { command: "x" }, { wait: false })).toMatchObject({
      acquired: false,
      holder: { pid: process.pid, host: hostname(), command: "dagwright run main" },
    });
  });

  it("does not take over a lock held on another host", async () => {
    open();
    const db = raw();
    db.prepare(
      "INSERT INTO locks (namespace, token, pid, host, command, since) VALUES (?, ?, ?, ?, ?, ?)",
    ).run("n@main", "old", 999_999_999, "some-other-host", "dagwright run main", 7);
    db.close();
    expect(await open().acquireLock("n@main", { command: "x" }, { wait: false })).toEqual({
      acquired: false,
      holder: {
        pid: 999_999_999,
        host: "some-other-host",
        command: "dagwright run main",
        since: 7,
      },
    });
  });

  it("records 1,000 tasks with outputs and results and reads them all back in one call", async () => {
    const store = open();
    const run = await store.beginRun({
      namespace: "n@main",
      graph: "g",
      branch: "main",
      command: "c",
    });
    for (let i = 0; i < 1000; i++) {
      const id = await attemptCalls(store).beginAttempt({
        runId: run,
        namespace: "n@main",
        task: `t${i}`,
        fingerprint: "f",
        parts: { i },
      });
      const outputs = [{ path: `out/${i}.csv`, hash: "h", size: 1, mtimeMs: 1 }];
      expect(
        await attemptCalls(store).completeAttempt(id, { outputs, result: i, durationMs: 1 }),
      ).toBe(true);
    }
    const states = await store.taskStates(
      "n@main",
      Array.from({ length: 1000 }, (_, i) => `t${i}`),
    );
    expect(states.size).toBe(1000);
    expect(states.get("t5")?.lastSuccess?.outputs.map((o) => o.path)).toEqual(["out/5.csv"]);
    expect(await store.result("n@main", "t999")).toBe(999);
  });

  it("rejects calls after close", async () => {
    const store = open();
    await store.close();
    await expect(store.runs()).rejects.toMatchObject({ code: "E_INTERNAL" });
  });
});
