import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonLines, makeProject, runCli } from "../helpers.js";
import { type PostgresService, startPostgres } from "../services/postgres.js";

let pgService: PostgresService;
beforeAll(async () => {
  pgService = await startPostgres();
}, 300_000);
afterAll(async () => {
  await pgService?.stop();
});

/** The CLI against the shared PostgreSQL store; a unique branch keeps tests apart. */
function cli(dir: string, branch: string, ...args: string[]) {
  return runCli(args, dir, {
    DAGWRIGHT_STATE_URL: pgService.url,
    DAGWRIGHT_BRANCH: branch,
    DAGWRIGHT_RETRY_BACKOFF_MS: "10",
  });
}

const events = (stdout: string) =>
  jsonLines<{
    type: string;
    task?: string;
    reasons?: string[];
    error?: string;
    toRun?: number;
  }>(stdout);

describe("dagwright run on the PostgreSQL state store", () => {
  it("runs, then finds everything fresh, then reruns what changed, with no .dagwright/state.db", () => {
    const branch = randomUUID();
    const dir = makeProject({
      "dagwright.yaml":
        "graphs:\n  g: {tasks: {a: , b: a}}\ntasks:\n  a: {command: [sh, -c, 'cat in.txt > a.txt'], inputs: [in.txt], outputs: [a.txt]}\n  b: {command: [sh, -c, 'cat a.txt a.txt > b.txt'], outputs: [b.txt]}\n",
      "in.txt": "x\n",
    });
    const first = cli(dir, branch, "run", "--json");
    expect(first.code).toBe(0);
    expect(
      events(first.stdout)
        .filter((e) => e.type === "task-start")
        .map((e) => e.task),
    ).toEqual(["a", "b"]);
    expect(readFileSync(path.join(dir, "b.txt"), "utf8")).toBe("x\nx\n");
    const second = cli(dir, branch, "run", "--json");
    expect(
      events(second.stdout)
        .filter((e) => e.type === "task-fresh")
        .map((e) => e.task),
    ).toEqual(["a", "b"]);
    writeFileSync(path.join(dir, "in.txt"), "y\n");
    const third = cli(dir, branch, "run", "--json");
    expect(events(third.stdout).find((e) => e.type === "task-start")?.reasons).toEqual([
      "input changed: in.txt",
    ]);
    expect(existsSync(path.join(dir, ".dagwright", "state.db"))).toBe(false);
    const status = JSON.parse(cli(dir, branch, "status", "--json").stdout);
    expect(status.tasks.map((t: { state: string }) => t.state)).toEqual(["fresh", "fresh"]);
  });

  it("resumes only the failed item of a fan-out", () => {
    const branch = randomUUID();
    const dir = makeProject({
      "dagwright.yaml": `graphs:
  g:
    tasks:
      list:
      each: list
tasks:
  list: {file: list.py, cache_result: true, iterable_item: n}
  each:
    command: "[ $n != 2 ] || [ -f ok ] || { touch ok; exit 4; }; echo $n >> calls.txt"
    map_over: n
`,
      "list.py": "def list():\n    return [1, 2, 3]\n",
    });
    const first = cli(dir, branch, "run", "--json");
    expect(first.code).toBe(1);
    expect(events(first.stdout).find((e) => e.type === "task-failed")?.error).toBe(
      "2/3 items done, 1 failed (2: exit code 4)",
    );
    rmSync(path.join(dir, "calls.txt"));
    const second = cli(dir, branch, "run", "--json");
    expect(second.code).toBe(0);
    expect(readFileSync(path.join(dir, "calls.txt"), "utf8")).toBe("2\n");
  });

  it("starts a new branch from main's state, so only main's failed item runs there", () => {
    // A cache namespace of its own: "main" is shared by every test of this server.
    const ns = `n${randomUUID().slice(0, 8)}`;
    const dir = makeProject({
      "dagwright.yaml": `settings: {cache_namespace: ${ns}}
graphs:
  g:
    tasks:
      list:
      each: list
tasks:
  list: {file: list.py, cache_result: true, iterable_item: n}
  each:
    command: "[ $n != 2 ] || [ -f ok ] || { touch ok; exit 4; }; echo $n >> calls.txt"
    map_over: n
`,
      "list.py": "def list():\n    return [1, 2, 3]\n",
    });
    expect(cli(dir, "main", "run", "--json").code).toBe(1);
    rmSync(path.join(dir, "calls.txt"));
    const feature = cli(dir, "feature", "run", "--json");
    expect(feature.stderr).toContain(
      "branch feature has no state yet: starting from main's (5 task records)",
    );
    expect(feature.code).toBe(0);
    expect(readFileSync(path.join(dir, "calls.txt"), "utf8")).toBe("2\n");
    // main's own records still say item 2 failed.
    rmSync(path.join(dir, "calls.txt"));
    expect(cli(dir, "main", "run", "--json").code).toBe(0);
    expect(readFileSync(path.join(dir, "calls.txt"), "utf8")).toBe("2\n");
  });

  it("exits 3 with the masked URL when PostgreSQL is unreachable", () => {
    const dir = makeProject({
      "dagwright.yaml": "graphs:\n  g: {tasks: {a: }}\ntasks:\n  a: {command: ['true']}\n",
    });
    const r = runCli(["run"], dir, {
      DAGWRIGHT_STATE_URL: "postgres://user:secret@127.0.0.1:1/db",
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("cannot reach PostgreSQL at 127.0.0.1:1");
    expect(r.stderr).not.toContain("secret");
  });
});
