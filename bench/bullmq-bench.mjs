#!/usr/bin/env node
// BullMQ executor benchmark (issue 18), next to its baseline measured in the same run on the same
// Redis: raw BullMQ (addBulk + 2 workers processing empty jobs) vs `dagwright run --executor
// bullmq` with 2 `dagwright worker` processes, for N no-op shell tasks and for an N-item fan-out
// (bundle_size 100). Needs redis-server on PATH and bullmq + ioredis installed.
// BENCH_BULLMQ_TASKS (default 10,000) sets N.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(REPO, "bin", "dagwright.cjs");
const N = Number(process.env.BENCH_BULLMQ_TASKS ?? 10_000);
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

const FAN_OUT = `graphs:
  g:
    tasks:
      items:
      each: items
tasks:
  items: {file: items.py, cache_result: true, iterable_item: n}
  each: {command: ["true"], map_over: n, bundle_size: 100}
`;

/** `dagwright run --executor bullmq` in `dir` with 2 workers; tasks (or items) per second. */
async function dagwrightRun(url, dir, units) {
  const workers = [1, 2].map(() =>
    spawn(process.execPath, [BIN, "worker", "--redis", url], { stdio: "ignore" }),
  );
  await new Promise((r) => setTimeout(r, 1500));
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, "run", "--executor", "bullmq", "--redis", url], {
    cwd: dir,
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  const ms = performance.now() - t0;
  for (const w of workers) w.kill("SIGTERM");
  if (r.status !== 0) throw new Error(`run exited ${r.status}: ${r.stderr.slice(-2000)}`);
  return (units / ms) * 1000;
}

const redis = await startRedis();
try {
  const raw = await rawBullmq(redis.url);
  const tasks = await dagwrightRun(redis.url, project(tasksSpec()), N);
  const items = await dagwrightRun(
    redis.url,
    project(FAN_OUT, { "items.py": `def items():\n    return list(range(${N}))\n` }),
    N,
  );
  const row = (what, perS) =>
    `| ${what} | ${perS.toFixed(0)}/s | ${raw.toFixed(0)}/s | ${((perS / raw) * 100).toFixed(1)}% |`;
  console.log(`| ${N.toLocaleString("en")} units, 2 workers | dagwright | raw BullMQ | ratio |`);
  console.log("|---|---|---|---|");
  console.log(row("no-op shell tasks", tasks));
  console.log(row("fan-out items (bundle_size 100)", items));
} finally {
  redis.stop();
}
