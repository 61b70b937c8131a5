#!/usr/bin/env node
// BullMQ executor benchmark (issue 18), next to its baseline measured in the same run on the same
// Redis: raw BullMQ (addBulk + 2 workers processing empty jobs) vs `dagwright run --executor
// bullmq` with 2 `dagwright worker` processes, for N no-op shell tasks and for two N-item fan-outs
// (bundle_size 100): items that call a Python no-op function in the warm workers (the bundled
// case the target is about), and items that each start a `true` process. Raw BullMQ is measured
// right before and after each row. Needs redis-server on PATH and bullmq + ioredis installed.
// BENCH_BULLMQ_TASKS (default 10,000) sets N; BENCH_BULLMQ_ONLY=tasks|fan-out runs one of the two;
// BENCH_BULLMQ_CPU_PROF=DIR writes the coordinator's and workers' CPU profiles there.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(REPO, "bin", "dagwright.cjs");
const N = Number(process.env.BENCH_BULLMQ_TASKS ?? 10_000);
const ONLY = process.env.BENCH_BULLMQ_ONLY;
const PROF = process.env.BENCH_BULLMQ_CPU_PROF;
const NODE_ARGS = PROF ? ["--cpu-prof", "--cpu-prof-dir", path.resolve(PROF)] : [];
const require = createRequire(import.meta.url);

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), "dagwright-bench-redis-"));
  const child = spawn(
    "redis-server",
    ["--bind", "127.0.0.1", "--port", String(port), "--dir", dir, "--save", ""],
    { stdio: "ignore" },
  );
  for (let i = 0; i < 200; i++) {
    if (
      spawnSync("redis-cli", ["-p", String(port), "PING"])
        .stdout?.toString()
        .includes("PONG")
    )
      return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill("SIGTERM") };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("redis-server did not start");
}

/** Raw BullMQ: N empty jobs added in bulk, processed by 2 workers; jobs per second. */
async function rawBullmq(url) {
  const { Queue, Worker } = require("bullmq");
  const IORedis = require("ioredis");
  const connect = () => new IORedis(url, { maxRetriesPerRequest: null });
  const clients = [connect(), connect(), connect()];
  const queue = new Queue("raw", { connection: clients[0] });
  let done = 0;
  let finish;
  const all = new Promise((r) => {
    finish = r;
  });
  const t0 = performance.now();
  const workers = [1, 2].map(
    (i) =>
      new Worker(
        "raw",
        async () => {
          if (++done === N) finish();
        },
        { connection: clients[i], concurrency: 1 },
      ),
  );
  for (let i = 0; i < N; i += 1000)
    await queue.addBulk(
      Array.from({ length: Math.min(1000, N - i) }, (_, j) => ({ name: "x", data: { i: i + j } })),
    );
  await all;
  const ms = performance.now() - t0;
  await Promise.all(workers.map((w) => w.close()));
  await queue.close();
  for (const c of clients) c.disconnect();
  return (N / ms) * 1000;
}

function project(spec, files = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dagwright-bench-bullmq-"));
  writeFileSync(path.join(dir, "dagwright.yaml"), spec);
  for (const [f, text] of Object.entries(files)) writeFileSync(path.join(dir, f), text);
  return dir;
}

function tasksSpec() {
  const names = Array.from({ length: N }, (_, i) => `t${i}`);
  return `graphs:\n  g:\n    tasks:\n${names.map((n) => `      ${n}:\n`).join("")}tasks:\n${names
    .map((n) => `  ${n}: {command: ["true"]}\n`)
    .join("")}`;
}

/** A fan-out whose items are a Python no-op function (warm workers) or a `true` process each. */
const fanOut = (each) => `graphs:
  g:
    tasks:
      items:
      each: items
tasks:
  items: {file: items.py, cache_result: true, iterable_item: n}
  each: {${each}, map_over: n, bundle_size: 100}
`;
const FAN_OUT_FILES = {
  "items.py": `def items():\n    return list(range(${N}))\n`,
  "each.py": "def each(n):\n    return None\n",
};

/** A `dagwright worker` whose output goes to a file; resolves once it waits for jobs. */
async function startWorker(url) {
  const log = path.join(mkdtempSync(path.join(os.tmpdir(), "dagwright-bench-worker-")), "log");
  const fd = openSync(log, "a");
  const child = spawn(process.execPath, [...NODE_ARGS, BIN, "worker", "--redis", url], {
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  const exited = new Promise((r) => child.once("exit", r));
  while (!readFileSync(log, "utf8").includes("waiting for jobs")) {
    if (child.exitCode !== null) throw new Error(`worker exited: ${readFileSync(log, "utf8")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    stop: () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

/** `dagwright run --executor bullmq` in `dir` with 2 workers; tasks (or items) per second. */
async function dagwrightRun(url, dir, units) {
  const workers = await Promise.all([startWorker(url), startWorker(url)]);
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [...NODE_ARGS, BIN, "run", "--executor", "bullmq", "--redis", url],
    { cwd: dir, encoding: "utf8", maxBuffer: 1 << 28 },
  );
  const ms = performance.now() - t0;
  await Promise.all(workers.map((w) => w.stop()));
  if (r.status !== 0) throw new Error(`run exited ${r.status}: ${r.stderr.slice(-2000)}`);
  return (units / ms) * 1000;
}

/**
 * dagwright's rate, next to raw BullMQ's measured just before and just after it (their mean):
 * this VM's speed drifts by up to 2x between minutes, so one baseline for all rows would not do.
 */
async function alongsideRaw(url, measure) {
  const before = await rawBullmq(url);
  const perS = await measure();
  const after = await rawBullmq(url);
  return { perS, raw: (before + after) / 2 };
}

const redis = await startRedis();
try {
  const url = redis.url;
  const rows = [];
  if (ONLY !== "fan-out")
    rows.push([
      "no-op shell tasks",
      await alongsideRaw(url, () => dagwrightRun(url, project(tasksSpec()), N)),
    ]);
  if (ONLY !== "tasks")
    for (const [what, each] of [
      ["fan-out items, a Python no-op function each (bundle_size 100)", "file: each.py"],
      ["fan-out items, a `true` process each (bundle_size 100)", 'command: ["true"]'],
    ])
      rows.push([
        what,
        await alongsideRaw(url, () => dagwrightRun(url, project(fanOut(each), FAN_OUT_FILES), N)),
      ]);
  console.log(`| ${N.toLocaleString("en")} units, 2 workers | dagwright | raw BullMQ | ratio |`);
  console.log("|---|---|---|---|");
  for (const [what, { perS, raw }] of rows)
    console.log(
      `| ${what} | ${perS.toFixed(0)}/s | ${raw.toFixed(0)}/s | ${((perS / raw) * 100).toFixed(1)}% |`,
    );
} finally {
  redis.stop();
}
