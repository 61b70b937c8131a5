import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, makeProject, runCli } from "../helpers.js";

/** A one-task project whose task `a` runs `command` (a shell string) and declares `outputs`. */
function project(command: string, outputs = "[out.txt]", files: Record<string, string> = {}) {
  return makeProject({ "dagwright.yaml": spec(command, outputs), ...files });
}

function spec(command: string, outputs = "[out.txt]"): string {
  return `graphs:\n  g: {tasks: {a: }}\ntasks:\n  a:\n    command: ${JSON.stringify(command)}\n    outputs: ${outputs}\n`;
}

/** Rewrites the task's command, which makes it rerun ("definition changed"). */
function setCommand(dir: string, command: string, outputs = "[out.txt]"): void {
  writeFileSync(path.join(dir, "dagwright.yaml"), spec(command, outputs));
}

const read = (dir: string, rel: string) => readFileSync(path.join(dir, rel), "utf8");

/** The file's text, or undefined while it does not exist (the runner may move it aside at any moment). */
function readIfThere(dir: string, rel: string): string | undefined {
  try {
    return read(dir, rel);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** What is left moved aside under `.dagwright/aside` (nothing once every attempt settled). */
const aside = (dir: string): string[] => {
  const root = path.join(dir, ".dagwright", "aside");
  return existsSync(root) ? readdirSync(root, { recursive: true }).map(String) : [];
};

function start(dir: string, args: string[]): { child: ChildProcess; exit: Promise<unknown> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: "ignore",
  });
  return { child, exit: new Promise((resolve) => child.on("exit", resolve)) };
}

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("outputs of this attempt only", () => {
  it("never moves aside or deletes a file another task declares, even when a glob matches it", () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:
  g: {tasks: {a: , b: }}
tasks:
  a:
    command: ["sh", "-c", "mkdir -p out && echo a > out/a.csv && test ! -f fail"]
    outputs: ["out/*.csv"]
  b:
    command: ["sh", "-c", "mkdir -p out && echo b > out/b.csv"]
    outputs: [out/b.csv]
`,
    });
    expect(runCli(["run", "--only", "b"], dir).code).toBe(0);
    expect(runCli(["run", "--only", "a"], dir).code).toBe(0);
    expect(read(dir, "out/b.csv")).toBe("b\n");
    // A failing attempt of `a` restores its own earlier files and leaves b's alone.
    writeFileSync(path.join(dir, "fail"), "");
    expect(runCli(["run", "--only", "a", "--force"], dir).code).toBe(1);
    expect(read(dir, "out/b.csv")).toBe("b\n");
    expect(read(dir, "out/a.csv")).toBe("a\n");
    expect(aside(dir)).toEqual([]);
    const status = JSON.parse(runCli(["status", "--json", "--only", "b"], dir).stdout);
    expect(status.tasks[0]).toMatchObject({ task: "b", state: "fresh" });
  });

  it("fails a task that exits 0 without writing its output, keeping the old copy as it was", () => {
    const dir = project("test -f flag && echo first > out.txt; true", "[out.txt]", { flag: "" });
    expect(runCli(["run"], dir).code).toBe(0);
    expect(read(dir, "out.txt")).toBe("first\n");

    rmSync(path.join(dir, "flag"));
    setCommand(dir, "test -f flag && echo second > out.txt; echo rerun");
    const r = runCli(["run"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("✗ a: exited 0 but did not write its declared output: out.txt");
    expect(read(dir, "out.txt")).toBe("first\n");
    expect(aside(dir)).toEqual([]);
    const status = JSON.parse(runCli(["status", "--json"], dir).stdout);
    expect(status.tasks[0]).toMatchObject({ task: "a", state: "failed" });
  });

  it("puts the previous output back when a rerun fails after writing part of it", () => {
    const dir = project("echo good > out.txt");
    expect(runCli(["run"], dir).code).toBe(0);

    setCommand(dir, "echo partial > out.txt; exit 1");
    const r = runCli(["run"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("✗ a");
    expect(read(dir, "out.txt")).toBe("good\n");
    expect(aside(dir)).toEqual([]);
  });

  it("replaces the output on a successful rerun and leaves nothing aside", () => {
    const dir = project("echo one > out.txt");
    expect(runCli(["run"], dir).code).toBe(0);
    setCommand(dir, "echo two > out.txt");
    expect(runCli(["run"], dir).code).toBe(0);
    expect(read(dir, "out.txt")).toBe("two\n");
    expect(aside(dir)).toEqual([]);
    expect(runCli(["run"], dir).stderr).toContain("done: 0 ran, 1 fresh");
  });

  it("moves aside every file a glob output matches, and restores the set when the rerun fails", () => {
    const outputs = '["out/*.csv"]';
    const dir = project("mkdir -p out; echo a1 > out/a.csv; echo b1 > out/b.csv", outputs);
    expect(runCli(["run"], dir).code).toBe(0);

    // Exits 0 having written nothing the glob matches: the old a.csv and b.csv do not count.
    setCommand(dir, "echo nothing", outputs);
    const nothing = runCli(["run"], dir);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain("did not write its declared output: out/*.csv");

    setCommand(dir, "echo a2 > out/a.csv; echo c2 > out/c.csv; exit 3", outputs);
    expect(runCli(["run"], dir).code).toBe(1);
    expect(readdirSync(path.join(dir, "out")).sort()).toEqual(["a.csv", "b.csv"]);
    expect(read(dir, "out/a.csv")).toBe("a1\n");
    expect(read(dir, "out/b.csv")).toBe("b1\n");

    // A success keeps exactly what it wrote: b.csv, not rewritten, is gone with the old copies.
    setCommand(dir, "echo a3 > out/a.csv", outputs);
    expect(runCli(["run"], dir).code).toBe(0);
    expect(readdirSync(path.join(dir, "out"))).toEqual(["a.csv"]);
    expect(aside(dir)).toEqual([]);
  });

  it("treats each fan-out item's outputs on their own: a failing item keeps its old file", () => {
    const yaml = (version: string) => `graphs:
  g: {tasks: {list: , each: list}}
tasks:
  list: {file: tasks/list.py, cache_result: true, iterable_item: item}
  each:
    command: "test -f flag_$item && echo ${version} > out/$item.txt; true"
    map_over: item
    outputs: ["out/\${item}.txt"]
`;
    const dir = makeProject({
      "dagwright.yaml": yaml("v1"),
      "tasks/list.py": 'def list():\n    return ["x", "y"]\n',
      "out/.keep": "",
      flag_x: "",
      flag_y: "",
    });
    expect(runCli(["run"], dir).code).toBe(0);
    expect(read(dir, "out/y.txt")).toBe("v1\n");

    rmSync(path.join(dir, "flag_y"));
    writeFileSync(path.join(dir, "dagwright.yaml"), yaml("v2"));
    const r = runCli(["run"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("y: exited 0 but did not write out/y.txt");
    expect(read(dir, "out/x.txt")).toBe("v2\n");
    expect(read(dir, "out/y.txt")).toBe("v1\n");
    expect(aside(dir)).toEqual([]);
  });

  it("leaves an in_place output where it is, and accepts it when the task updated it", () => {
    const outputs = "[{path: log.txt, in_place: true}, out.txt]";
    const dir = project("echo run >> log.txt; echo x > out.txt", outputs);
    expect(runCli(["run"], dir).code).toBe(0);
    const r = runCli(["run", "--force"], dir);
    expect(r.code).toBe(0);
    expect(read(dir, "log.txt")).toBe("run\nrun\n");
    expect(aside(dir)).toEqual([]);
  });

  it("still requires an in_place output to exist after a success", () => {
    const dir = project("true", "[{path: db.sqlite, in_place: true}]");
    const r = runCli(["run"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("did not write its declared output: db.sqlite");
  });

  it("restores the previous output when the run is interrupted (Ctrl-C)", async () => {
    const dir = project("echo good > out.txt");
    expect(runCli(["run"], dir).code).toBe(0);

    setCommand(dir, "echo partial > out.txt; sleep 86.43");
    const run = start(dir, ["run"]);
    await until(() => readIfThere(dir, "out.txt") === "partial\n", "the partial output");
    run.child.kill("SIGINT");
    expect(await run.exit).toBe(130);
    expect(read(dir, "out.txt")).toBe("good\n");
    expect(aside(dir)).toEqual([]);
  });

  it("restores what a killed runner left aside when the task is next attempted", async () => {
    const dir = project("echo good > out.txt");
    expect(runCli(["run"], dir).code).toBe(0);

    setCommand(dir, "echo $$ > pid; echo partial > out.txt; sleep 86.44");
    const run = start(dir, ["run"]);
    await until(() => readIfThere(dir, "pid")?.endsWith("\n") === true, "the task");
    run.child.kill("SIGKILL");
    await run.exit;
    process.kill(Number(read(dir, "pid").trim()), "SIGKILL");
    expect(read(dir, "out.txt")).toBe("partial\n");
    expect(aside(dir)).toEqual(["g%40default~a=out.txt"]);

    setCommand(dir, "exit 1");
    expect(runCli(["run"], dir).code).toBe(1);
    expect(read(dir, "out.txt")).toBe("good\n");
    expect(aside(dir)).toEqual([]);
  });
});
