import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DagwrightError } from "../../src/spec/errors.js";
import { postgresMigrations } from "../../src/state/postgres-migrations.js";
import { openPostgresStore, type PostgresStateStore } from "../../src/state/postgres-store.js";
import { freePort, type PostgresService, startPostgres } from "../services/postgres.js";
import { attemptCalls } from "./attempt-calls.js";
import { describeStateStore } from "./state-store-conformance.js";

let service: PostgresService;
let admin: pg.Client;

beforeAll(async () => {
  service = await startPostgres();
  admin = new pg.Client({ connectionString: service.url });
  await admin.connect();
}, 300_000);

afterAll(async () => {
  await admin?.end();
  await service?.stop();
});

const STORE_MODULE = fileURLToPath(new URL("../../src/state/postgres-store.ts", import.meta.url));
const freshSchema = (): string => `t_${randomUUID().replaceAll("-", "").slice(0, 16)}`;

describeStateStore("postgres", () => {
  const schema = freshSchema();
  const stores: PostgresStateStore[] = [];
  return {
    open: async () => {
      // Like a second process starting a moment later: the file hash rows written through by the
      // stores already open have reached the database.
      await Promise.all(stores.map((s) => s.flushFileHashes().catch(() => {})));
      const store = await openPostgresStore(service.url, { schema });
      stores.push(store);
      return store;
    },
    dispose: async () => {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
    killLockHolder: async (namespace) => {
      // The holder's session dies (its process killed, its network gone): the server drops the
      // advisory lock; the row stays until someone takes the lock over.
      await admin.query(
        `SELECT pg_terminate_backend(backend_pid) FROM "${schema}".locks WHERE namespace = $1`,
        [namespace],
      );
      for (let i = 0; i < 100; i++) {
        const { rows } = await admin.query(
          `SELECT 1 FROM pg_stat_activity a JOIN "${schema}".locks l ON l.backend_pid = a.pid
           WHERE l.namespace = $1`,
          [namespace],
        );
        if (rows.length === 0) return;
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
});

describe("PostgreSQL state store", () => {
  let schema: string;
  const stores: PostgresStateStore[] = [];
  const open = async (s = schema): Promise<PostgresStateStore> => {
    const store = await openPostgresStore(service.url, { schema: s });
    stores.push(store);
    return store;
  };
  const NS = "n@main";
  const newRun = (store: PostgresStateStore): Promise<string> =>
    store.beginRun({ namespace: NS, graph: "g", branch: "main", command: "c" });
  const begin = (store: PostgresStateStore, runId: string, task: string): Promise<number> =>
    attemptCalls(store).beginAttempt({ runId, namespace: NS, task, fingerprint: "f", parts: {} });

  beforeEach(() => {
    schema = freshSchema();
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => {});
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });

  it("creates its schema, records the migrations it applied and keeps data when reopened", async () => {
    const first = await open();
    const run = await newRun(first);
    const id = await begin(first, run, "t");
    await attemptCalls(first).completeAttempt(id, {
      outputs: [],
      result: { kept: true },
      durationMs: 1,
    });
    await first.close();

    const { rows } = await admin.query(
      `SELECT version, description FROM "${schema}".dagwright_schema_version ORDER BY version`,
    );
    expect(rows).toEqual(
      postgresMigrations.map((m) => ({ version: m.version, description: m.description })),
    );
    const second = await open();
    expect(await second.result(NS, "t")).toEqual({ kept: true });
    expect((await second.runs()).map((r) => r.runId)).toEqual([run]);
  });

  it("numbers migrations 1, 2, 3… without gaps", () => {
    expect(postgresMigrations.map((m) => m.version)).toEqual(
      postgresMigrations.map((_, i) => i + 1),
    );
  });

  it("refuses a schema written by a newer dagwright, naming both versions", async () => {
    await (await open()).close();
    await admin.query(
      `INSERT INTO "${schema}".dagwright_schema_version (version, description) VALUES (999, 'future')`,
    );
    const error = await openPostgresStore(service.url, { schema }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DagwrightError);
    expect(error).toMatchObject({
      code: "E_ENV",
      message: `${service.url} (schema ${schema}): the state store was written by a newer dagwright (schema v999, this one knows v${postgresMigrations.length}); refusing to open it`,
      hint: "upgrade dagwright, or point DAGWRIGHT_STATE_URL at another store",
    });
  });

  it("lets several processes migrate a fresh schema at the same time, exactly once", async () => {
    const opened = await Promise.all(Array.from({ length: 6 }, () => open()));
    expect(opened).toHaveLength(6);
    const { rows } = await admin.query(
      `SELECT version FROM "${schema}".dagwright_schema_version ORDER BY version`,
    );
    expect(rows.map((r: { version: number }) => r.version)).toEqual(
      postgresMigrations.map((m) => m.version),
    );
    const run = await newRun(opened[0]!);
    expect((await opened[5]!.runs()).map((r) => r.runId)).toEqual([run]);
  });

  it("lets exactly one of two concurrently begun attempts record success: the current one", async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const run = await newRun(a!);
    for (let i = 0; i < 20; i++) {
      const task = `t${i}`;
      const [first, second] = await Promise.all([begin(a!, run, task), begin(b!, run, task)]);
      const outputs = [{ path: `out/${i}.csv`, hash: "h", size: 1, mtimeMs: 1 }];
      const [okFirst, okSecond] = await Promise.all([
        attemptCalls(a!).completeAttempt(first, { outputs, result: "first", durationMs: 1 }),
        attemptCalls(b!).completeAttempt(second, { outputs, result: "second", durationMs: 1 }),
      ]);
      expect([okFirst, okSecond].filter(Boolean)).toHaveLength(1);
      const current = (await a!.lastAttempt(NS, task))?.attemptId;
      const winner = okFirst ? first : second;
      expect(current).toBe(winner);
      expect((await b!.lastSuccess(NS, task))?.attemptId).toBe(winner);
      expect(await a!.result(NS, task)).toBe(okFirst ? "first" : "second");
    }
  });

  it("records a success once when the same attempt is completed twice at the same time", async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const run = await newRun(a!);
    for (let i = 0; i < 20; i++) {
      const id = await begin(a!, run, `t${i}`);
      const outputs = [{ path: "o.csv", hash: "h", size: 1, mtimeMs: 1 }];
      const oks = await Promise.all([
        attemptCalls(a!).completeAttempt(id, { outputs, result: [1, 2], durationMs: 1 }),
        attemptCalls(b!).completeAttempt(id, { outputs, result: [1, 2], durationMs: 1 }),
      ]);
      expect(oks.filter(Boolean)).toHaveLength(1);
      expect((await a!.lastSuccess(NS, `t${i}`))?.outputs).toEqual(outputs);
    }
  });

  it("never lets a completion racing a newer beginAttempt leave a superseded success behind", async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const run = await newRun(a!);
    for (let i = 0; i < 20; i++) {
      const task = `t${i}`;
      const old = await begin(a!, run, task);
      const [ok, newer] = await Promise.all([
        attemptCalls(a!).completeAttempt(old, { outputs: [], durationMs: 1 }),
        begin(b!, run, task),
      ]);
      // Either the completion committed before the new attempt began, or it was refused.
      expect((await b!.lastSuccess(NS, task))?.attemptId).toBe(ok ? old : undefined);
      expect((await b!.lastAttempt(NS, task))?.attemptId).toBe(newer);
      expect(await attemptCalls(a!).completeAttempt(newer, { outputs: [], durationMs: 1 })).toBe(
        true,
      );
      expect(await attemptCalls(a!).completeAttempt(old, { outputs: [], durationMs: 1 })).toBe(
        false,
      );
    }
  });

  it("settles a completion racing a cancellation one way only", async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const run = await newRun(a!);
    for (let i = 0; i < 20; i++) {
      const id = await begin(a!, run, `t${i}`);
      const [ok] = await Promise.all([
        attemptCalls(a!).completeAttempt(id, { outputs: [], durationMs: 1 }),
        attemptCalls(b!).failAttempt(id, {
          status: "cancelled",
          error: "cancelled",
          durationMs: 1,
        }),
      ]);
      const last = await a!.lastAttempt(NS, `t${i}`);
      expect(last?.status).toBe(ok ? "succeeded" : "cancelled");
      expect((await a!.lastSuccess(NS, `t${i}`))?.attemptId).toBe(ok ? id : undefined);
    }
  });

  it("reports a lock's holder to another store and frees it when the holder's connection dies", async () => {
    const [holderStore, other] = await Promise.all([open(), open()]);
    const got = await holderStore.acquireLock(
      NS,
      { command: "dagwright run main" },
      { wait: false },
    );
    expect(got.acquired).toBe(true);
    const blocked = await other.acquireLock(NS, { command: "dagwright run x" }, { wait: false });
    expect(blocked).toMatchObject({
      acquired: false,
      holder: { pid: process.pid, host: hostname(), command: "dagwright run main" },
    });

    // The holder's session dies (process killed, network gone): the server drops the lock.
    const killed = await admin.query(
      `SELECT pg_terminate_backend(backend_pid) AS ok FROM "${schema}".locks WHERE namespace = $1`,
      [NS],
    );
    expect(killed.rows).toEqual([{ ok: true }]);
    const waited: string[] = [];
    const taken = await other.acquireLock(
      NS,
      { command: "dagwright run x" },
      { wait: true, pollMs: 20, onWait: (h) => waited.push(h.command) },
    );
    expect(taken.acquired).toBe(true);
    expect(await holderStore.acquireLock(NS, { command: "again" }, { wait: false })).toMatchObject({
      acquired: false,
      holder: { command: "dagwright run x" },
    });
    // The dead holder's release and close must not disturb the new holder.
    if (got.acquired) await got.release();
    await holderStore.close();
    expect(await (await open()).acquireLock(NS, { command: "y" }, { wait: false })).toMatchObject({
      acquired: false,
      holder: { command: "dagwright run x" },
    });
  });

  it("frees the lock of a holder process killed with SIGKILL and reports its pid until then", async () => {
    const store = await open();
    const code = `
      const { openPostgresStore } = await import(${JSON.stringify(STORE_MODULE)});
      const s = await openPostgresStore(process.env.PG_URL, { schema: process.env.PG_SCHEMA });
      const got = await s.acquireLock("${NS}", { command: "dagwright run crashed" }, { wait: false });
      console.log(got.acquired ? "locked" : "busy");
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
      env: { ...process.env, PG_URL: service.url, PG_SCHEMA: schema },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout?.once("data", (d: Buffer) => resolve(d.toString().trim()));
        child.once("exit", () => reject(new Error("holder process exited early")));
      });
      expect(line).toBe("locked");
      expect(await store.acquireLock(NS, { command: "x" }, { wait: false })).toMatchObject({
        acquired: false,
        holder: { pid: child.pid, host: hostname(), command: "dagwright run crashed" },
      });
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
    const taken = await store.acquireLock(NS, { command: "x" }, { wait: true, pollMs: 20 });
    expect(taken.acquired).toBe(true);
  });

  it("takes over a holder row whose session is gone, whatever host it names", async () => {
    const store = await open();
    await admin.query(
      `INSERT INTO "${schema}".locks (namespace, token, pid, host, command, since, backend_pid)
       VALUES ($1, 'old', 4242, 'some-other-host', 'dagwright run crashed', 1, 0)`,
      [NS],
    );
    const got = await store.acquireLock(NS, { command: "dagwright run main" }, { wait: false });
    expect(got.acquired).toBe(true);
    expect((await admin.query(`SELECT pid, host, command FROM "${schema}".locks`)).rows).toEqual([
      { pid: process.pid, host: hostname(), command: "dagwright run main" },
    ]);
  });

  it("does not hand a lock it holds to itself a second time, even to overlapping calls", async () => {
    const store = await open();
    const both = await Promise.all([
      store.acquireLock("x@main", { command: "one" }, { wait: false }),
      store.acquireLock("x@main", { command: "two" }, { wait: false }),
    ]);
    expect(both.filter((r) => r.acquired)).toHaveLength(1);
    expect((await store.acquireLock(NS, { command: "a" }, { wait: false })).acquired).toBe(true);
    expect(await store.acquireLock(NS, { command: "b" }, { wait: false })).toMatchObject({
      acquired: false,
      holder: { command: "a", pid: process.pid },
    });
  });

  it("fails with E_ENV naming the server and the masked URL when PostgreSQL is unreachable", async () => {
    const port = await freePort();
    const url = `postgres://dagwright:s3cret-pw@127.0.0.1:${port}/state`;
    const error = await openPostgresStore(url).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DagwrightError);
    const e = error as DagwrightError;
    expect(e.code).toBe("E_ENV");
    expect(e.message).toMatch(
      new RegExp(
        `^postgres://dagwright:\\*\\*\\*@127\\.0\\.0\\.1:${port}/state \\(schema dagwright\\): cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED.*\\)$`,
      ),
    );
    expect(e.hint).toBe("start PostgreSQL there, or fix the host and port in DAGWRIGHT_STATE_URL");
    expect(`${e.message} ${e.hint} ${String(e.cause)}`).not.toContain("s3cret");
  });

  it("fails with E_ENV when the database does not exist", async () => {
    const url = service.url.replace(/\/[^/]+$/, "/no_such_db");
    await expect(openPostgresStore(url)).rejects.toMatchObject({
      code: "E_ENV",
      message: expect.stringContaining('database "no_such_db" does not exist'),
    });
  });

  it("refuses a schema name that is not a plain identifier", async () => {
    await expect(openPostgresStore(service.url, { schema: 'x"; DROP' })).rejects.toMatchObject({
      code: "E_USAGE",
    });
  });

  it("writes the file hash cache through to the database and loads it when reopened", async () => {
    const meta = {
      ctimeMs: 1_700_000_000_001.5,
      ino: 2 ** 40 + 7,
      hashedAtMs: 1_700_000_009_000.25,
    };
    const first = await open();
    first.putFileHashes([
      { path: "/p/a.csv", size: 10, mtimeMs: 1_700_000_000_000.25, ...meta, hash: "ha" },
      { path: "/p/b.csv", size: 2 ** 40, mtimeMs: 2, ...meta, hash: "hb" },
      { path: "/p/a.csv", size: 11, mtimeMs: 3, ...meta, hash: "ha2" },
    ]);
    first.putFileHashes([{ path: "/p/c.csv", size: 1, mtimeMs: 1, ...meta, hash: "hc" }]);
    expect(first.getFileHash("/p/a.csv")).toEqual({ size: 11, mtimeMs: 3, ...meta, hash: "ha2" });
    await first.close(); // flushes the pending writes

    const second = await open();
    expect(second.getFileHash("/p/a.csv")).toEqual({ size: 11, mtimeMs: 3, ...meta, hash: "ha2" });
    expect(second.getFileHash("/p/b.csv")).toEqual({
      size: 2 ** 40,
      mtimeMs: 2,
      ...meta,
      hash: "hb",
    });
    expect(second.getFileHash("/p/c.csv")).toEqual({ size: 1, mtimeMs: 1, ...meta, hash: "hc" });
    expect(second.getFileHash("/p/none")).toBeUndefined();
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".file_hashes`);
    expect(rows).toEqual([{ n: 3 }]);
  });

  it("stores a 1,000,000-item list in 100 shards and drops them when a newer success replaces it", async () => {
    const store = await open();
    const run = await newRun(store);
    const big = Array.from({ length: 1_000_000 }, (_, i) => i);
    const a = await begin(store, run, "t");
    await attemptCalls(store).completeAttempt(a, { outputs: [], result: big, durationMs: 1 });
    const count = async (id: number): Promise<number> =>
      (
        await admin.query(
          `SELECT count(*)::int AS n FROM "${schema}".results WHERE attempt_id = $1`,
          [id],
        )
      ).rows[0].n;
    expect(await count(a)).toBe(100);
    expect(await store.result(NS, "t")).toEqual(big);

    const b = await begin(store, run, "t");
    await attemptCalls(store).completeAttempt(b, { outputs: [], result: [3], durationMs: 1 });
    expect(await count(a)).toBe(0);
    expect(await count(b)).toBe(1);
  });

  it("records 1,000 tasks with outputs and results and reads them all back in one call", async () => {
    const store = await open();
    const run = await newRun(store);
    for (let i = 0; i < 1000; i++) {
      const id = await begin(store, run, `t${i}`);
      const outputs = [{ path: `out/${i}.csv`, hash: "h", size: 1, mtimeMs: 1 }];
      expect(
        await attemptCalls(store).completeAttempt(id, { outputs, result: i, durationMs: 1 }),
      ).toBe(true);
    }
    const states = await store.taskStates(
      NS,
      Array.from({ length: 1000 }, (_, i) => `t${i}`),
    );
    expect(states.size).toBe(1000);
    expect(await store.result(NS, "t999")).toBe(999);
  });

  it("rejects calls after close", async () => {
    const store = await open();
    await store.close();
    await store.close();
    await expect(store.runs()).rejects.toMatchObject({ code: "E_INTERNAL" });
    expect(() => store.getFileHash("/x")).toThrow(expect.objectContaining({ code: "E_INTERNAL" }));
  });
});
