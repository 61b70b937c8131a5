import { type ChildProcess, execSync, spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { BIN, makeProject, REPO, runCli } from "../helpers.js";

function start(
  dir: string,
  args: string[],
): {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
} {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { ...process.env, NO_COLOR: "1" },
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => {
    out += d;
  });
  child.stderr!.on("data", (d) => {
    err += d;
  });
  const exit = new Promise<number | null>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : null))),
  );
  return { child, stdout: () => out, stderr: () => err, exit };
}

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("dagwright run: the quickstart example", () => {
  it("runs the Python, TypeScript, R and shell tasks over the bundled CSV, then finds them all fresh", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "dagwright-quickstart-"));
    cpSync(path.join(REPO, "examples", "quickstart"), dir, {
      recursive: true,
      filter: (src) => !/[/\\](out|\.dagwright|scratch)$/.test(src),
    });
    const first = runCli(["run"], dir);
    expect(first.stderr).toContain("done: 4 ran, 0 fresh");
    expect(first.code).toBe(0);
    const report = readFileSync(path.join(dir, "out", "report.txt"), "utf8");
    expect(report).toContain('"region": "north"');
    expect(report).toContain('"2026-06"');
    expect(
      JSON.parse(readFileSync(path.join(dir, "out", "summary.json"), "utf8")).regions,
    ).toHaveLength(4);
    const second = runCli(["run"], dir);
    expect(second.stderr).toContain("done: 0 ran, 4 fresh");
  });
});

describe("dagwright run: interruption and concurrency", () => {
  it("on Ctrl-C stops its tasks and records nothing done that did not finish", async () => {
    const spec =
      'graphs:\n  g: {tasks: {slow: , after: slow}}\ntasks:\n  slow:\n    command: "echo started; sleep 86.42; echo done > out.txt"\n    outputs: [out.txt]\n  after: {command: ["true"]}\n';
    const dir = makeProject({ "dagwright.yaml": spec });
    const run = start(dir, ["run", "--json"]);
    await until(() => run.stdout().includes('"type":"task-start"'), "the task to start");
    await new Promise((r) => setTimeout(r, 200));
    run.child.kill("SIGINT");
    const code = await run.exit;
    expect(code).toBe(130);
    expect(run.stdout()).toContain('"type":"task-cancelled","task":"slow"');
    expect(existsSync(path.join(dir, "out.txt"))).toBe(false);
    expect(execSync("ps -eo args").toString()).not.toContain("sleep 86.42");
    const status = JSON.parse(runCli(["status", "--json"], dir).stdout);
    expect(status.tasks.map((t: { task: string; state: string }) => [t.task, t.state])).toEqual([
      ["slow", "failed"],
      ["after", "never-ran"],
    ]);
  });

  it("a Ctrl-C while waiting for the lock cancels the run (exit 130), never recording it succeeded", async () => {
    const spec =
      'graphs:\n  g: {tasks: {t: }}\ntasks:\n  t: {command: [sh, -c, "echo go; sleep 2"], cache: false}\n';
    const dir = makeProject({ "dagwright.yaml": spec });
    const first = start(dir, ["run", "--json"]);
    await until(() => first.stdout().includes('"type":"task-start"'), "the first run's task");
    const second = start(dir, ["run"]);
    await until(() => second.stderr().includes("waiting:"), "the second run to wait for the lock");
    second.child.kill("SIGINT");
    expect(await second.exit).toBe(130);
    expect(await first.exit).toBe(0);
    const db = new Database(path.join(dir, ".dagwright", "state.db"), { readonly: true });
    try {
      const runs = db.prepare("SELECT status FROM runs ORDER BY rowid").all() as {
        status: string;
      }[];
      expect(runs.map((r) => r.status)).toEqual(["succeeded"]); // the second never began
    } finally {
      db.close();
    }
  });

  it("reruns a task whose process died after writing its output but before it was recorded", async () => {
    // dagwright is killed (kill -9) while its task runs, after the task wrote its output and after
    // its "running" record was written (a task that ends within BEGIN_AFTER_MS is written once,
    // at its end, so a crash before that simply leaves the previous state: it reruns as well).
    const spec =
      'graphs:\n  g: {tasks: {t: }}\ntasks:\n  t:\n    command: "echo x > out.txt; [ -f crashed ] || { touch crashed; sleep 5; }"\n    outputs: [out.txt]\n';
    const dir = makeProject({ "dagwright.yaml": spec });
    const crashed = start(dir, ["run"]);
    const running = () => {
      const file = path.join(dir, ".dagwright", "state.db");
      if (!existsSync(path.join(dir, "crashed")) || !existsSync(file)) return false;
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        return (
          db.prepare("SELECT 1 FROM attempts WHERE task = 't' AND status = 'running'").get() !==
          undefined
        );
      } finally {
        db.close();
      }
    };
    await until(running, "the task to be recorded as running");
    crashed.child.kill("SIGKILL");
    expect(await crashed.exit).not.toBe(0);
    expect(existsSync(path.join(dir, "out.txt"))).toBe(true);
    const again = runCli(["run", "--json"], dir);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(
      '"type":"task-start","task":"t","reasons":["interrupted last time"]',
    );
  });

  it("lets a second runner on the same project wait for the first, naming the holder, and never runs a task twice", async () => {
    const spec =
      'graphs:\n  g: {tasks: {t: }}\ntasks:\n  t:\n    command: "echo ran >> count.txt; sleep 1; cp count.txt out.txt"\n    outputs: [out.txt]\n';
    const dir = makeProject({ "dagwright.yaml": spec });
    const first = start(dir, ["run"]);
    await until(() => first.stderr().includes("▶ t"), "the first runner to start its task");
    const second = start(dir, ["run"]);
    const [a, b] = await Promise.all([first.exit, second.exit]);
    expect([a, b]).toEqual([0, 0]);
    expect(second.stderr()).toMatch(/waiting: g@\S+ is locked by `dagwright run g` \(pid \d+/);
    expect(second.stderr()).toContain("· t fresh");
    expect(readFileSync(path.join(dir, "count.txt"), "utf8")).toBe("ran\n");
  });
});

describe("dagwright run: kptn projects", () => {
  it("writes outputs relative to the scratch dir and gives R tasks OUTPUT_PIPELINE_DIR", () => {
    const spec =
      "settings: {flows_dir: flows, flow_type: vanilla, r_tasks_dir: r_tasks}\ngraphs:\n  g: {tasks: {write: }}\ntasks:\n  write:\n    file: r_tasks/write.R\n    outputs: [result.txt]\n";
    const dir = makeProject({
      "kptn.yaml": spec,
      "r_tasks/write.R":
        'writeLines(basename(getwd()), file.path(Sys.getenv("OUTPUT_PIPELINE_DIR"), "result.txt"))\n',
    });
    rmSync(path.join(dir, "scratch"), { recursive: true, force: true });
    const r = runCli(["run"], dir);
    expect(r.stderr).toContain("✓ write");
    expect(r.code).toBe(0);
    // cwd of an R task is its script's directory; the namespace dir is scratch/<graph>
    expect(readFileSync(path.join(dir, "scratch", "g", "result.txt"), "utf8")).toBe("r_tasks\n");
  });
});

describe("dagwright run: resource slots", () => {
  it("runs tasks that each need all the cpu slots one at a time, and light tasks side by side", () => {
    const trace = (name: string) =>
      `echo start ${name} >> trace.txt; sleep 0.3; echo end ${name} >> trace.txt`;
    const spec = `graphs:
  g: {tasks: {h1: , h2: , l1: , l2: }}
tasks:
  h1: {command: "${trace("h1")}", compute: {cpu: 2}}
  h2: {command: "${trace("h2")}", compute: {cpu: 2}}
  l1: {command: "${trace("l1")}", compute: {cpu: 1}}
  l2: {command: "${trace("l2")}", compute: {cpu: 1}}
`;
    const dir = makeProject({ "dagwright.yaml": spec });
    expect(runCli(["run", "-j", "2"], dir).code).toBe(0);
    const lines = readFileSync(path.join(dir, "trace.txt"), "utf8").trim().split("\n");
    const running = new Set<string>();
    const overlaps: string[][] = [];
    for (const l of lines) {
      const [what, name] = l.split(" ") as [string, string];
      if (what === "start") {
        running.add(name);
        overlaps.push([...running].sort());
      } else running.delete(name);
    }
    // A heavy task never shares the two slots; the light ones do run together.
    for (const o of overlaps) if (o.some((n) => n.startsWith("h"))) expect(o).toHaveLength(1);
    expect(overlaps).toContainEqual(["l1", "l2"]);
  });
});

describe("dagwright run: progress on a terminal", () => {
  it("draws a live status line with counts, running tasks and elapsed time", () => {
    const spec =
      'graphs:\n  g: {tasks: {a: , b: a}}\ntasks:\n  a: {command: [sh, -c, "sleep 0.6"]}\n  b: {command: ["true"]}\n';
    const dir = makeProject({ "dagwright.yaml": spec });
    const log = path.join(dir, "tty.log");
    // `script` gives the CLI a pseudo-terminal (util-linux, part of every Debian system).
    const r = spawnSync("script", ["-qc", `${process.execPath} ${BIN} run`, log], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "", TERM: "xterm" },
    });
    expect(r.status).toBe(0);
    const out = readFileSync(log, "utf8");
    expect(out).toMatch(/\[0\/2\] running: a {2}\d+ ms/);
    expect(out).toContain("\u001b[2K"); // the line is redrawn in place
    expect(out).toContain("done");
    expect(out).toContain(": 2 ran, 0 fresh");
  });
});
