#!/usr/bin/env node
// Render benchmark (issue 16): `dagwright render TARGET` of a 5,000-task graph (50 layers of 100,
// task i of layer L depending on task i of L-1, every task with cpu/memory), through the CLI as a
// user runs it, spec loading included. Target: under 2 s per target. The spec is loaded once
// untimed, so the timed runs use the validated-spec cache as a user's second render does; one
// row also shows the first render, which parses and validates the spec.
// Step Functions (issue 17) also gets the waits its series-parallel ordering adds compared with
// level-by-level ordering, on this graph and on seeded random DAGs (needs `npm run build`), and
// a render of a seeded random 5,000-task DAG (each task depends on up to 3 of the 100 before it),
// which is not series-parallel, timed like the others.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { falseWaitsOf, levelTree, seriesParallel } from "../dist/render/series-parallel.js";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(REPO, "bin", "dagwright.cjs");
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const LAYERS = 50;
const WIDTH = 100;
const TARGETS = ["argo", "airflow", "prefect", "stepfunctions"];

/** A seeded generator of numbers in [0, 1). */
function seeded(seed) {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
}

/** Each of `n` nodes depends on up to 3 of the `window` nodes before it. */
function randomDeps(n, window, random) {
  return Array.from({ length: n }, (_, i) => {
    const k = Math.floor(random() * 4);
    const ds = new Set();
    for (let j = 0; j < k && i > 0; j++) ds.add(i - 1 - Math.floor(random() * Math.min(i, window)));
    return [...ds].sort((a, b) => a - b);
  });
}

/** The random 5,000-task DAG as a spec (graph `random`), tasks sized like the layered graph's. */
function randomSpecYaml() {
  const deps = randomDeps(LAYERS * WIDTH, 100, seeded(5000));
  const lines = [
    "settings: {docker_image: registry.example/bench:1}",
    "graphs:",
    "  random:",
    "    tasks:",
  ];
  for (const [i, ds] of deps.entries())
    lines.push(`      r${i}: [${ds.map((d) => `r${d}`).join(", ")}]`);
  lines.push("tasks:");
  for (let i = 0; i < deps.length; i++)
    lines.push(`  r${i}: {command: [touch, "o/r${i}"], compute: {cpu: 1, memory: 512}}`);
  return `${lines.join("\n")}\n`;
}

function specYaml() {
  const name = (l, i) => `t${l}_${i}`;
  const lines = [
    "settings: {docker_image: registry.example/bench:1}",
    "graphs:",
    "  bench:",
    "    tasks:",
  ];
  for (let l = 0; l < LAYERS; l++)
    for (let i = 0; i < WIDTH; i++)
      lines.push(`      ${name(l, i)}: ${l === 0 ? "[]" : name(l - 1, i)}`);
  lines.push("tasks:");
  for (let l = 0; l < LAYERS; l++)
    for (let i = 0; i < WIDTH; i++)
      lines.push(
        `  ${name(l, i)}: {command: [touch, "o/${name(l, i)}"], compute: {cpu: 1, memory: 512}}`,
      );
  return `${lines.join("\n")}\n`;
}

function time(args, cwd) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    stdio: ["ignore", "ignore", "pipe"],
    maxBuffer: 256 << 20,
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0)
    throw new Error(`dagwright ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${Math.round(ms).toLocaleString("en")} ms`;

const dir = mkdtempSync(path.join(os.tmpdir(), "dagwright-render-bench-"));
writeFileSync(path.join(dir, "dagwright.yaml"), specYaml());
const out = path.join(dir, "out");
const rows = [];
try {
  const first = time(["render", "argo", "--out", out], dir); // parses and validates: the first render
  rows.push(["argo, first render (parses and validates the spec)", fmt(first), ""]);
  for (const target of TARGETS) {
    const ms = median(
      Array.from({ length: REPEAT }, () => time(["render", target, "--out", out], dir)),
    );
    rows.push([
      `${target}, 5,000 tasks`,
      fmt(ms),
      ms < 2000 ? "target < 2 s: met" : "target < 2 s: NOT met",
    ]);
  }
  const sfn = spawnSync(
    process.execPath,
    [BIN, "render", "stepfunctions", "--json", "--out", out],
    {
      cwd: dir,
      encoding: "utf8",
    },
  );
  const report = JSON.parse(sfn.stdout);
  rows.push([
    "stepfunctions, waits added to the 5,000-task graph",
    String(report.falseWaits),
    `level by level: ${report.levelOrderingFalseWaits.toLocaleString("en")}`,
  ]);
  rows.push(...randomGraphRows());
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** `render stepfunctions` of the random 5,000-task DAG: time, and waits added vs level ordering. */
function randomGraphRows() {
  const rdir = path.join(dir, "random");
  mkdirSync(rdir);
  writeFileSync(path.join(rdir, "dagwright.yaml"), randomSpecYaml());
  const rout = path.join(rdir, "out");
  time(["render", "stepfunctions", "--out", rout], rdir); // parses and validates the spec
  const ms = median(
    Array.from({ length: REPEAT }, () => time(["render", "stepfunctions", "--out", rout], rdir)),
  );
  const r = spawnSync(process.execPath, [BIN, "render", "stepfunctions", "--json", "--out", rout], {
    cwd: rdir,
    encoding: "utf8",
    maxBuffer: 256 << 20,
  });
  const report = JSON.parse(r.stdout);
  return [
    [
      "stepfunctions, random 5,000-task DAG",
      fmt(ms),
      ms < 2000 ? "target < 2 s: met" : "target < 2 s: NOT met",
    ],
    [
      "stepfunctions, waits added to the random 5,000-task DAG",
      report.falseWaits.toLocaleString("en"),
      `level by level: ${report.levelOrderingFalseWaits.toLocaleString("en")}; ${report.addedWaits.length.toLocaleString("en")} added waits listed (--json)`,
    ],
  ];
}
rows.push(...randomDagRows());

/**
 * Seeded random DAGs (each node depends on up to 3 of the 10 nodes before it): waits added by
 * the series-parallel ordering and by level-by-level ordering, summed over the DAGs.
 */
function randomDagRows() {
  const random = seeded(17);
  const out = [];
  for (const n of [10, 50, 200]) {
    let ours = 0;
    let levels = 0;
    let exact = 0;
    const count = 100;
    for (let g = 0; g < count; g++) {
      const deps = randomDeps(n, 10, random);
      const o = seriesParallel(deps);
      ours += o.falseWaits;
      levels += falseWaitsOf(levelTree(deps), deps);
      if (o.falseWaits === 0) exact++;
    }
    out.push([
      `stepfunctions, waits added on ${count} random ${n}-node DAGs`,
      ours.toLocaleString("en"),
      `level by level: ${levels.toLocaleString("en")}; exact on ${exact} DAGs`,
    ]);
  }
  return out;
}
const load = os.loadavg()[0].toFixed(1);
console.log(
  `dagwright render benchmarks (median of ${REPEAT}, ${os.cpus().length} cores, load average ${load})`,
);
const w = Math.max(...rows.map((r) => r[0].length));
for (const [what, ms, note] of rows) console.log(`${what.padEnd(w)}  ${ms.padStart(9)}  ${note}`);
