import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonLines, makeProject, runCliAsync } from "../helpers.js";
import { hasRedisServer, type RedisService, startRedis } from "../services/redis.js";
import { startRun, startWorker, type WorkerProcess } from "./bullmq-service.js";

type Event = { type: string; task?: string };

let redis: RedisService | undefined;
let worker: WorkerProcess | undefined;

/** `dagwright run --executor bullmq --json` in `dir` on the shared worker. */
async function runOnWorker(dir: string) {
  const r = await runCliAsync(
    ["run", "--executor", "bullmq", "--redis", redis!.url, "--json"],
    dir,
  );
  const events = jsonLines<Event>(r.stdout);
  const ran = (type: string) =>
    events
      .filter((e) => e.type === type)
      .map((e) => e.task!)
      .sort();
  return { ...r, done: ran("task-done"), fresh: ran("task-fresh") };
}

const read = (dir: string, file: string) => readFileSync(path.join(dir, file), "utf8").trim();

const spec = (word: string, extra = "") => `graphs:
  g:
    tasks:
      a:
      b: a
${extra ? "      c: b\n" : ""}tasks:
  a:
    command: ["sh", "-c", "mkdir -p out; echo ${word} > out/a.txt"]
    outputs: [out/a.txt]
  b:
    file: b.sh
    outputs: [out/b.txt]
${extra}`;

const B_SH = (word: string) =>
  `mkdir -p out; cat out/a.txt > out/b.txt; echo ${word} >> out/b.txt\n`;

// One worker, alive across runs and projects: what it keeps open between jobs must never make
// it decide or run differently from a worker started fresh for each job.
describe.skipIf(!hasRedisServer())("a dagwright worker serving many jobs", () => {
  beforeAll(async () => {
    redis = await startRedis();
    worker = await startWorker(redis, ["--concurrency", "2"]);
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
    await redis?.stop();
  }, 60_000);

  it("sees an edited spec, an edited task script and a new task on the next run, as a fresh worker would", async () => {
    const dir = makeProject({ "dagwright.yaml": spec("one"), "b.sh": B_SH("x") });
    const first = await runOnWorker(dir);
    expect(first.code, first.stderr).toBe(0);
    expect(first.done).toEqual(["a", "b"]);
    expect(read(dir, "out/b.txt")).toBe("one\nx");

    // The same worker, which kept the project open: the changed command reruns a and b.
    writeFileSync(path.join(dir, "dagwright.yaml"), spec("two"));
    const second = await runOnWorker(dir);
    expect(second.code, second.stderr).toBe(0);
    expect(second.done).toEqual(["a", "b"]);
    expect(read(dir, "out/a.txt")).toBe("two");
    expect(read(dir, "out/b.txt")).toBe("two\nx");

    writeFileSync(path.join(dir, "b.sh"), B_SH("y"));
    const third = await runOnWorker(dir);
    expect(third.code, third.stderr).toBe(0);
    expect(third.done).toEqual(["b"]);
    expect(third.fresh).toEqual(["a"]);
    expect(read(dir, "out/b.txt")).toBe("two\ny");

    const withC = `  c:\n    command: ["sh", "-c", "cat out/b.txt > out/c.txt"]\n    outputs: [out/c.txt]\n`;
    writeFileSync(path.join(dir, "dagwright.yaml"), spec("two", withC));
    const fourth = await runOnWorker(dir);
    expect(fourth.code, fourth.stderr).toBe(0);
    expect(fourth.done).toEqual(["c"]);
    expect(fourth.fresh).toEqual(["a", "b"]);
    expect(read(dir, "out/c.txt")).toBe("two\ny");

    const fifth = await runOnWorker(dir);
    expect(fifth.code, fifth.stderr).toBe(0);
    expect(fifth.done).toEqual([]);
  }, 180_000);

  it("runs an edited Python function and the helper it imports with their new code, its warm interpreter kept", async () => {
    const fn = (word: string) =>
      `import os\nfrom helper import word\n\ndef p():\n    os.makedirs("out", exist_ok=True)\n    open("out/p.txt", "w").write("${word} " + word() + "\\n")\n`;
    const dir = makeProject({
      "dagwright.yaml":
        "graphs:\n  g:\n    tasks:\n      p:\ntasks:\n  p:\n    file: p.py\n    outputs: [out/p.txt]\n",
      "p.py": fn("one"),
      "helper.py": 'def word():\n    return "x"\n',
    });
    const first = await runOnWorker(dir);
    expect(first.code, first.stderr).toBe(0);
    expect(read(dir, "out/p.txt")).toBe("one x");
    writeFileSync(path.join(dir, "p.py"), fn("two"));
    const second = await runOnWorker(dir);
    expect(second.code, second.stderr).toBe(0);
    expect(second.done).toEqual(["p"]);
    expect(read(dir, "out/p.txt")).toBe("two x");
    writeFileSync(path.join(dir, "helper.py"), 'def word():\n    return "yy"\n');
    const third = await runOnWorker(dir);
    expect(third.code, third.stderr).toBe(0);
    expect(third.done).toEqual(["p"]);
    expect(read(dir, "out/p.txt")).toBe("two yy");
  }, 180_000);

  it("runs an edited TS function and the JS helper it imports with their new code, in its project root", async () => {
    const fn = (word: string) =>
      `import { mkdirSync, writeFileSync } from "node:fs";\nimport { word } from "./helper.mjs";\nexport function t(): void {\n  mkdirSync("out", { recursive: true });\n  writeFileSync("out/t.txt", \`${word} \${word()}\\n\`);\n}\n`;
    const dir = makeProject({
      "dagwright.yaml":
        "graphs:\n  g:\n    tasks:\n      t:\ntasks:\n  t:\n    file: t.ts\n    outputs: [out/t.txt]\n",
      "t.ts": fn("one"),
      "helper.mjs": 'export const word = () => "x";\n',
    });
    const first = await runOnWorker(dir);
    expect(first.code, first.stderr).toBe(0);
    expect(read(dir, "out/t.txt")).toBe("one x");
    writeFileSync(path.join(dir, "t.ts"), fn("two"));
    const second = await runOnWorker(dir);
    expect(second.code, second.stderr).toBe(0);
    expect(second.done).toEqual(["t"]);
    expect(read(dir, "out/t.txt")).toBe("two x");
    writeFileSync(path.join(dir, "helper.mjs"), 'export const word = () => "yy";\n');
    const third = await runOnWorker(dir);
    expect(third.code, third.stderr).toBe(0);
    expect(third.done).toEqual(["t"]);
    expect(read(dir, "out/t.txt")).toBe("two yy");
  }, 180_000);

  it("at --concurrency 2, runs two projects' jobs at once, each writing its relative outputs into its own root", async () => {
    // Siblings, so each task can wait for the other's start: it fails unless both run at once.
    const waitFor = (me: string, other: string) =>
      `mkdir -p out; echo start > out/${me}.started; i=0; while [ ! -e ../${other}/out/${other}.started ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; [ -e ../${other}/out/${other}.started ] && echo ${me} > out/w.txt`;
    const spec = (me: string, other: string) =>
      `graphs:\n  g:\n    tasks:\n      w:\ntasks:\n  w:\n    command: ${JSON.stringify(["sh", "-c", waitFor(me, other)])}\n    outputs: [out/w.txt]\n`;
    const parent = makeProject({
      "p/dagwright.yaml": spec("p", "q"),
      "q/dagwright.yaml": spec("q", "p"),
    });
    const pDir = path.join(parent, "p");
    const qDir = path.join(parent, "q");
    const args = ["--executor", "bullmq", "--redis", redis!.url];
    const runs = [startRun(pDir, args), startRun(qDir, args)];
    const codes = await Promise.all(runs.map((r) => r.exited));
    expect(codes, runs.map((r) => r.stderr()).join("\n")).toEqual([0, 0]);
    expect(read(pDir, "out/w.txt")).toBe("p");
    expect(read(qDir, "out/w.txt")).toBe("q");
    expect(existsSync(path.join(pDir, "out/q.started"))).toBe(false);
    expect(existsSync(path.join(qDir, "out/p.started"))).toBe(false);
  }, 180_000);
});
