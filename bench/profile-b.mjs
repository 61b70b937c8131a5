#!/usr/bin/env node
// Where dagwright's main thread spends benchmark (b) (bench/run-bench.mjs; issue 14): runs the
// 1,000 `touch o/<task>` tasks under `node --cpu-prof` and splits the main thread's time into
// start-up, idle (waiting on the launcher and the tasks), and the per-task steps, by the innermost
// dagwright function on each sampled stack. Usage: npm run build && node bench/profile-b.mjs
// (BENCH_REPEAT runs, median per row; BENCH_JOBS for -j, default 2).
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { project } from "./graph.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(REPO, "bin", "dagwright.cjs");
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const JOBS = process.env.BENCH_JOBS ?? "2";
const TASKS = 1000;

/** Per-task steps, named by the dagwright functions (as bundled) that do them. */
const STEPS = [
  [
    "task log files: mkdir, open, header, tail, prune",
    ["openTaskLog", "closeTaskLog", "readTaskLogTail", "pruneAttemptLogs", "newAttemptLogPath"],
  ],
  ["launcher request: env copy, JSON, pipe write", ["baseEnv", "scriptEnv", "spawnViaHelper"]],
  ["launcher replies: parse, handlers", ["onData", "onLine"]],
  ["outputs: move earlier copies aside", ["moveOutputsAside"]],
  ["outputs: hash (async reads) and collect", ["collectOutputs", "hashFile", "readFileHandle"]],
  [
    "state records: SQLite writes",
    ["sqliteTransaction", "transaction", "recordMany", "fence", "insertFinished", "insertSuccess"],
  ],
  ["fingerprint and decide", ["fingerprintTask", "fingerprintTaskNow", "decideTaskNow"]],
  ["progress lines to stderr", ["SyncWriteStream._write"]],
  ["V8: garbage collection, (program)", ["(garbage collector)", "(program)"]],
];
const STEP_OF = new Map(STEPS.flatMap(([label, fns]) => fns.map((f) => [f, label])));
const HASH = STEPS[4][0];
const IDLE = "idle: waiting for the launcher, tasks, I/O";
const OTHER = "other per-task work (scheduler, events, promises)";
const BEFORE = "start-up, loading, planning (before the first launch)";
const AFTER = "after the last task (end of run, exit)";

/** Milliseconds per row of one profile, and the profile's wall time. */
function split(file) {
  const p = JSON.parse(readFileSync(file, "utf8"));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stack = (id) => {
    const frames = [];
    for (let x = id; x !== undefined; x = parent.get(x)) frames.push(byId.get(x).callFrame);
    return frames;
  };
  const ownStep = (frames) => {
    for (const f of frames) {
      // fs/promises continuations lose their caller; on this path only output hashing uses it.
      const step =
        STEP_OF.get(f.functionName) ?? (f.url.includes("fs/promises") ? HASH : undefined);
      if (step) return step;
    }
    return undefined;
  };
  const launches = p.samples.map((id) => stack(id).some((f) => f.functionName === "launchTask"));
  const first = launches.indexOf(true);
  const last = launches.lastIndexOf(true);
  const rows = new Map();
  for (let i = 0; i < p.samples.length; i++) {
    const ms = (p.timeDeltas[i + 1] ?? 0) / 1000;
    const frames = stack(p.samples[i]);
    let row;
    if (i < first) row = BEFORE;
    else if (i > last) row = AFTER;
    else if (frames[0].functionName === "(idle)") row = IDLE;
    else row = ownStep(frames) ?? OTHER;
    rows.set(row, (rows.get(row) ?? 0) + ms);
  }
  return { rows, wallMs: (p.endTime - p.startTime) / 1000 };
}

function run(dir, profDir) {
  rmSync(path.join(dir, ".dagwright", "state.db"), { force: true });
  for (const f of ["state.db-wal", "state.db-shm", "logs"])
    rmSync(path.join(dir, ".dagwright", f), { recursive: true, force: true });
  rmSync(path.join(dir, "o"), { recursive: true, force: true });
  mkdirSync(path.join(dir, "o"));
  const args = profDir ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : [];
  const r = spawnSync(process.execPath, [...args, BIN, "run", "-j", JOBS], {
    cwd: dir,
    stdio: "ignore",
  });
  if (r.status !== 0) throw new Error(`dagwright run exited ${r.status}`);
}

const dir = project("sh");
spawnSync(process.execPath, [BIN, "run", "--dry-run"], { cwd: dir, stdio: "ignore" });
run(dir); // warms the code cache and the compiled spec, as a user's earlier runs would
const results = [];
for (let k = 0; k < REPEAT; k++) {
  const profDir = mkdtempSync(path.join(os.tmpdir(), "dagwright-profile-b-"));
  run(dir, profDir);
  const [file] = readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile"));
  results.push(split(path.join(profDir, file)));
  rmSync(profDir, { recursive: true, force: true });
}
const mid = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const order = [BEFORE, ...STEPS.map(([label]) => label), OTHER, IDLE, AFTER];
console.log(
  `dagwright main thread on (b), -j ${JOBS} (median of ${REPEAT} profiled runs, load average ${os.loadavg()[0].toFixed(1)}): wall ${mid(results.map((r) => r.wallMs)).toFixed(0)} ms`,
);
const busy = mid(
  results.map((r) => {
    const inRun = [...r.rows].filter(([row]) => row !== BEFORE && row !== AFTER);
    const all = inRun.reduce((t, [, ms]) => t + ms, 0);
    return (100 * (all - (r.rows.get(IDLE) ?? 0))) / all;
  }),
);
console.log(`main thread busy ${busy.toFixed(0)}% of the time from the first launch to the last`);
for (const row of order) {
  const ms = mid(results.map((r) => r.rows.get(row) ?? 0));
  const perTask =
    row === BEFORE || row === AFTER ? "" : `${((ms * 1000) / TASKS).toFixed(0)} µs/task`;
  console.log(`${row.padEnd(56)} ${ms.toFixed(0).padStart(6)} ms  ${perTask}`);
}
