import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { makeProject, REPO, runCli } from "../helpers.js";

// A run leaves its SQLite connection for the process's end, which then skips the WAL checkpoint
// of a close (src/cli/exit.ts): nothing may be lost by it, and nothing still under way cut short.

/** Runs a script (ESM) that uses the built modules; returns its exit code and output. */
function script(body: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dagwright-exit-"));
  const url = (rel: string) => JSON.stringify(pathToFileURL(path.join(REPO, "dist", rel)).href);
  const file = path.join(dir, "main.mjs");
  writeFileSync(
    file,
    `import { openSqliteStore } from ${url("state/sqlite-store.js")};
import { exitIfDone } from ${url("cli/exit.js")};
const db = ${JSON.stringify(path.join(dir, "state.db"))};
${body}`,
  );
  const r = spawnSync(process.execPath, [file], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, db: path.join(dir, "state.db") };
}

describe("ending a command", () => {
  it("keeps every record of a run whose connection was dropped with the process", () => {
    const dir = makeProject({
      "dagwright.yaml":
        "graphs:\n  g:\n    tasks:\n      a: []\n      b: a\ntasks:\n  a: {file: tasks.ts}\n  b: {file: tasks.ts}\n",
      "tasks.ts": "export function a() { return 1; }\nexport function b() {}\n",
    });
    expect(runCli(["run"], dir).code).toBe(0);
    const file = path.join(dir, ".dagwright", "state.db");
    // The WAL was not folded into the database: the process ended without closing it.
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(0);
    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
      const runs = db.prepare("SELECT status FROM runs").all();
      expect(runs).toEqual([{ status: "succeeded" }]);
      const done = db
        .prepare("SELECT task FROM attempts WHERE status = 'succeeded' ORDER BY task")
        .all();
      expect(done).toEqual([{ task: "a" }, { task: "b" }]);
      // The run's lock was released before the process ended.
      expect(db.prepare("SELECT count(*) AS n FROM locks").get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
    const again = runCli(["run"], dir);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/0 ran, 2 fresh/);
  });

  it("starts over when state.db alone was deleted: the log left behind is not replayed", () => {
    const dir = makeProject({
      "dagwright.yaml":
        'graphs:\n  g:\n    tasks:\n      a: []\ntasks:\n  a: {command: ["true"]}\n',
    });
    expect(runCli(["run"], dir).code).toBe(0);
    rmSync(path.join(dir, ".dagwright", "state.db"));
    const again = runCli(["run"], dir);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/1 ran, 0 fresh/);
    expect(runCli(["status"], dir).stdout).toMatch(/a\s+fresh/);
  });

  it("closes the store as usual when a command runs in a process it does not end", () => {
    const project = makeProject({
      "dagwright.yaml":
        'graphs:\n  g:\n    tasks:\n      a: []\ntasks:\n  a: {command: ["true"]}\n',
    });
    const main = JSON.stringify(pathToFileURL(path.join(REPO, "dist", "cli", "main.js")).href);
    const r = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { main } from ${main};
import { existsSync } from "node:fs";
const code = await main(["run"], { out: () => {}, err: () => {}, color: false });
console.log(code, existsSync(".dagwright/state.db-wal"));`,
      ],
      { cwd: project, encoding: "utf8" },
    );
    expect(r.stdout).toBe("0 false\n");
  });

  it("exits at once with the command's code when only the left connection remains", () => {
    const r = script(`const store = openSqliteStore(db);
await store.beginRun({ namespace: "n", graph: "g", branch: "main", command: "x" });
await store.close({ leaveForExit: true });
process.on("exit", () => console.log("exit event"));
await exitIfDone(7);
console.log("not reached");`);
    expect(r.code).toBe(7);
    expect(r.stdout).toBe("exit event\n");
    expect(existsSync(`${r.db}-wal`)).toBe(true);
    const db = new Database(r.db, { readonly: true });
    expect(db.prepare("SELECT graph FROM runs").all()).toEqual([{ graph: "g" }]);
    db.close();
  });

  it("lets work still under way finish, and then closes the connection as usual", () => {
    const r = script(`const store = openSqliteStore(db);
await store.beginRun({ namespace: "n", graph: "g", branch: "main", command: "x" });
await store.close({ leaveForExit: true });
setTimeout(() => console.log("timer ran"), 50);
await exitIfDone(7);
console.log("returned");
process.exitCode = 3;`);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("returned\ntimer ran\n");
    // Node's own exit closed it: the WAL was checkpointed and removed.
    expect(existsSync(`${r.db}-wal`)).toBe(false);
  });

  it("does nothing when no connection was left open", () => {
    const r = script(`const store = openSqliteStore(db);
await store.close();
await exitIfDone(7);
console.log("returned");`);
    expect(r).toMatchObject({ code: 0, stdout: "returned\n" });
  });
});

describe("a state store the machine cannot write", () => {
  it("is an environment error (exit 3) naming the state file, said once, never an internal error", () => {
    const dir = makeProject({
      "dagwright.yaml":
        "graphs: {g: {tasks: {a: , b: a}}}\ntasks:\n  a: {command: [sh, -c, 'echo a > a.txt'], outputs: [a.txt]}\n  b: {command: [sh, -c, 'echo b > b.txt'], outputs: [b.txt]}\n",
    });
    // Files may not grow past 33,000 bytes: the state file's write-ahead log soon must, as on a
    // full disk (python3 starts dagwright with the limit, and with SIGXFSZ ignored: EFBIG).
    const limited = [
      "-c",
      "import os, resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (33000, 33000)); os.execv(sys.argv[1], sys.argv[1:])",
      process.execPath,
      path.join(REPO, "bin", "dagwright.cjs"),
      "run",
    ];
    const r = spawnSync("python3", limited, {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    const state = path.join(dir, ".dagwright", "state.db");
    expect(r.stderr).not.toContain("internal error");
    expect(r.stderr).toContain(`error: state store ${state}: a disk read or write failed`);
    expect(r.stderr.match(/^error:/gm)).toHaveLength(1);
    expect(r.status).toBe(3);
  });

  it("stops a run whose records stop fitting mid-run with exit 3 too, not as a task's failure", () => {
    const dir = makeProject({
      "dagwright.yaml":
        "graphs: {g: {tasks: {a: , b: a}}}\ntasks:\n  a: {command: [sh, -c, 'echo a > a.txt'], outputs: [a.txt]}\n  b: {command: [sh, -c, 'echo b > b.txt'], outputs: [b.txt]}\n",
    });
    expect(runCli(["run"], dir).code).toBe(0);
    // Room for the lock and a little more in the write-ahead log, not for the whole run.
    const wal = statSync(path.join(dir, ".dagwright", "state.db-wal")).size;
    const limited = [
      "-c",
      "import os, resource, sys; n = int(sys.argv[1]); resource.setrlimit(resource.RLIMIT_FSIZE, (n, n)); os.execv(sys.argv[2], sys.argv[2:])",
      String(wal + 40_000),
      process.execPath,
      path.join(REPO, "bin", "dagwright.cjs"),
      "run",
      "--force",
    ];
    const r = spawnSync("python3", limited, {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    expect(r.stderr).not.toContain("internal error");
    expect(r.stderr).toMatch(/^error: state store .*state\.db: a disk read or write failed/m);
    expect(r.status).toBe(3);
  });
});
