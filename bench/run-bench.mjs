#!/usr/bin/env node
// Benchmarks of local runs (issue 3). Every figure is measured in this run, next to its baseline:
// Node's own start-up (`node -e 0`), GNU make -j2 and Snakemake (--cores 2 --scheduler greedy)
// on equivalent 1,000-task graphs (10 layers of 100; task i of layer L depends on task i of L-1).
// In (b) both tools do the same work (issue 14): one `touch o/<task>` process per task, writing
// that task's declared output, so the ratio measures the tools and not the commands.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { LAYERS, makefile, name, project, WIDTH } from "./graph.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(REPO, "bin", "dagwright.cjs");
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);

function time(cmd, args, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"], ...opts });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const TREE_TIME = path.join(REPO, "bench", "tree-time.py");

/**
 * Wall time (ms) of one run of `cmd`, and the CPU time (user+sys, ms) of it and of every process
 * it started, including those it left to exit on their own (bench/tree-time.py says why).
 */
function timeCpu(cmd, args, opts = {}) {
  const r = spawnSync("python3", [TREE_TIME, cmd, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    encoding: "utf8",
    ...opts,
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  const [, ms, cpuMs] = r.stderr.trim().split("\n").pop().split(" ").map(Number);
  return { ms, cpuMs };
}

/** The median of numbers, or of `{ms, cpuMs}` measurements (each field on its own). */
const mid = (xs) => {
  const at = (ys) => ys.sort((p, q) => p - q)[Math.floor(ys.length / 2)];
  if (typeof xs[0] === "number") return at(xs);
  return { ms: at(xs.map((x) => x.ms)), cpuMs: at(xs.map((x) => x.cpuMs)) };
};

/** Median of REPEAT runs of `fn`, each after `prepare`. */
function median(prepare, fn) {
  const xs = [];
  for (let k = 0; k < REPEAT; k++) {
    prepare?.();
    xs.push(fn());
  }
  return mid(xs);
}

/**
 * Two measurements taken alternately (a, b, a, b, …), each after its `prepare`, REPEAT times each:
 * this machine's speed drifts between minutes, and a ratio of two figures measured minutes apart
 * says more about the drift than about the tools.
 */
function pairedRuns(prepA, fnA, prepB, fnB) {
  const xs = [];
  const ys = [];
  for (let k = 0; k < REPEAT; k++) {
    prepA?.();
    xs.push(fnA());
    prepB?.();
    ys.push(fnB());
  }
  return [xs, ys];
}

/** The medians of {@link pairedRuns}. */
function pairedMedians(prepA, fnA, prepB, fnB) {
  const [xs, ys] = pairedRuns(prepA, fnA, prepB, fnB);
  return [mid(xs), mid(ys)];
}

const has = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const fmt = (ms) => `${ms.toFixed(0)} ms`;
const rows = [];

const nodeStart = median(null, () => time(process.execPath, ["-e", "0"]));
rows.push(["node -e 0 (start-up baseline)", fmt(nodeStart), ""]);

// (a) 1,000 no-op TS tasks, fresh state each time.
const tsDir = project("ts");
time(process.execPath, [BIN, "validate"], { cwd: tsDir }); // not timed: warms nothing but the OS cache
time(process.execPath, [BIN, "run", "--dry-run"], { cwd: tsDir }); // writes the spec cache
// A fresh state for every timed run. The project's caches stay, as they do between a user's runs:
// the validated spec and the compiled TS module (neither changed), which one untimed run writes.
const wipe = (dir) => () => {
  for (const f of ["state.db", "state.db-wal", "state.db-shm", "logs"])
    rmSync(path.join(dir, ".dagwright", f), { recursive: true, force: true });
};
time(process.execPath, [BIN, "run", "-j", "2"], { cwd: tsDir });
const [a, nodeStartA] = pairedMedians(
  wipe(tsDir),
  () => time(process.execPath, [BIN, "run", "-j", "2"], { cwd: tsDir }),
  null,
  () => time(process.execPath, ["-e", "0"]),
);
rows.push([
  "(a) 1,000 TS no-op tasks",
  fmt(a),
  `node -e 0 + ${fmt(a - nodeStartA)} (node -e 0 alongside: ${fmt(nodeStartA)}; target ≤ +150 ms)`,
]);

// (b) 1,000 command tasks, alternating with GNU make -j2 on the same graph: in both, each task is
// one `touch o/<task>` process writing its declared output, and every timed run starts with no
// outputs (and, for dagwright, no state), so both run all 1,000.
const shDir = project("sh");
time(process.execPath, [BIN, "run", "--dry-run"], { cwd: shDir });
const mkDir = mkdtempSync(path.join(os.tmpdir(), "dagwright-bench-make-"));
writeFileSync(path.join(mkDir, "Makefile"), makefile());
const noOutputs = (dir) => () => {
  rmSync(path.join(dir, "o"), { recursive: true, force: true });
  mkdirSync(path.join(dir, "o"));
};
const freshDagwright = () => {
  wipe(shDir)();
  noOutputs(shDir)();
};
const [bs, makes] = pairedRuns(
  freshDagwright,
  () => timeCpu(process.execPath, [BIN, "run", "-j", "2"], { cwd: shDir }),
  noOutputs(mkDir),
  () => timeCpu("make", ["-s", "-j2", "-C", mkDir]),
);
const pairs = bs.map((x, k) => x.ms / makes[k].ms).sort((p, q) => p - q);
const [b, make] = [mid(bs), mid(makes)];
rows.push([
  "(b) 1,000 `touch o/<task>` tasks, wall",
  fmt(b.ms),
  `${(b.ms / make.ms).toFixed(2)}× make -j2 (${fmt(make.ms)}; each pair ${pairs[0].toFixed(2)}–${pairs[pairs.length - 1].toFixed(2)}×; target ≤ 1.5×: ${b.ms / make.ms <= 1.5 ? "met" : "NOT met"})`,
]);
rows.push([
  "(b) the same, CPU (user+sys, all processes)",
  fmt(b.cpuMs),
  `${(b.cpuMs / make.cpuMs).toFixed(2)}× make -j2 (${fmt(make.cpuMs)})`,
]);

// (c) the no-change rerun of (b), alternating with Node's start-up and Snakemake's no-op rerun.
// Each rerun sees a different unrelated environment variable (as hyperfine's randomized one, a
// terminal's session id or a CI job id would be): the memo must not depend on it.
time(process.execPath, [BIN, "run", "-j", "2"], { cwd: shDir });
let reruns = 0;
const rerun = () =>
  time(process.execPath, [BIN, "run", "-j", "2"], {
    cwd: shDir,
    env: { ...process.env, BENCH_UNRELATED_VARIABLE: String(reruns++) },
  });
const [c, nodeStartC] = pairedMedians(null, rerun, null, () => time(process.execPath, ["-e", "0"]));
let snakeRatio;
if (has("snakemake")) {
  const smDir = mkdtempSync(path.join(os.tmpdir(), "dagwright-bench-snake-"));
  const rules = [
    `rule all:\n    input: [${Array.from({ length: WIDTH }, (_, i) => `"${name(LAYERS - 1, i)}"`).join(", ")}]`,
  ];
  for (let l = 0; l < LAYERS; l++) {
    for (let i = 0; i < WIDTH; i++) {
      rules.push(
        `rule ${name(l, i)}:\n${l === 0 ? "" : `    input: "${name(l - 1, i)}"\n`}    output: "${name(l, i)}"\n    shell: "true; touch {output}"`,
      );
    }
  }
  writeFileSync(path.join(smDir, "Snakefile"), `${rules.join("\n\n")}\n`);
  const snake = () =>
    time("snakemake", ["--cores", "2", "--scheduler", "greedy", "--quiet"], { cwd: smDir });
  snake();
  const [cAgain, snakeNoop] = pairedMedians(null, rerun, null, snake);
  snakeRatio = snakeNoop / cAgain;
  rows.push(["Snakemake no-op rerun", fmt(snakeNoop), `dagwright alongside: ${fmt(cAgain)}`]);
}
rows.push([
  "(c) no-change rerun of (b)",
  fmt(c),
  `node -e 0 + ${fmt(c - nodeStartC)} (node -e 0 alongside: ${fmt(nodeStartC)}; target ≤ +60 ms)${snakeRatio ? `; ${snakeRatio.toFixed(1)}× faster than Snakemake (target ≥ 10×)` : "; snakemake not installed"}`,
]);

const w = [Math.max(...rows.map((r) => r[0].length)), Math.max(...rows.map((r) => r[1].length))];
console.log(
  `dagwright local-run benchmarks (median of ${REPEAT}, ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? "?"}, load average at the end ${os.loadavg()[0].toFixed(1)})`,
);
for (const r of rows) console.log(`${r[0].padEnd(w[0])}  ${r[1].padStart(w[1])}  ${r[2]}`);
mkdirSync(path.join(REPO, "bench", "results"), { recursive: true });
writeFileSync(
  path.join(REPO, "bench", "results", "latest.txt"),
  `${rows.map((r) => r.join("\t")).join("\n")}\n`,
);
