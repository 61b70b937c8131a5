#!/usr/bin/env node
// Fan-out benchmarks (issue 4), each next to its baseline measured in the same run:
// a 10,000-item Python fan-out on warm workers vs one python3 process per item vs Dask distributed
// (LocalCluster of 2 worker processes, client.map); a 100,000-item TS no-op fan-out with peak RSS;
// the rerun of the 10,000-item fan-out after one item changed; and, with BENCH_BIG_ITEMS, the
// run, no-change rerun and status of a fan-out of that many items with their peak RSS.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(REPO, "bin", "dagwright.cjs");
const N = Number(process.env.BENCH_ITEMS ?? 10_000);
const N_PROCESS = Number(process.env.BENCH_PROCESS_ITEMS ?? 300);
const N_TS = Number(process.env.BENCH_TS_ITEMS ?? 100_000);

function timed(cmd, args, cwd) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "%M", cmd, ...args], {
    cwd,
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const rssKb = Number(r.stderr.trim().split("\n").pop());
  return { ms, rssMb: rssKb / 1024 };
}

const WORK = "def work(n):\n    return n * n\n";

function pythonProject(items, kind) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `dagwright-fanout-${kind}-`));
  const each =
    kind === "warm"
      ? "  each: {file: each.py, map_over: n, bundle_size: 100}"
      : '  each: {command: ["python3", "each_script.py"], map_over: n}';
  writeFileSync(
    path.join(dir, "dagwright.yaml"),
    `graphs:\n  g:\n    tasks:\n      items:\n      each: items\ntasks:\n  items: {file: items.py, cache_result: true, iterable_item: n}\n${each}\n`,
  );
  writeFileSync(path.join(dir, "items.py"), `def items():\n    return list(range(${items}))\n`);
  writeFileSync(path.join(dir, "each.py"), `${WORK}\ndef each(n):\n    return work(n)\n`);
  writeFileSync(
    path.join(dir, "each_script.py"),
    `import os\n${WORK}\nwork(int(os.environ["n"]))\n`,
  );
  return dir;
}

const rows = [];
const fmt = (ms) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);

// Warm workers, 10,000 items.
const warmDir = pythonProject(N, "warm");
const warm = timed(process.execPath, [BIN, "run", "-j", "2"], warmDir);
const warmPerItem = warm.ms / N;
rows.push([
  `Python fan-out, ${N} items, warm workers (bundle_size 100)`,
  fmt(warm.ms),
  `${(warmPerItem * 1000).toFixed(0)} µs/item`,
]);

// One python3 process per item (measured on fewer items; per-item cost compared).
const procDir = pythonProject(N_PROCESS, "process");
const proc = timed(process.execPath, [BIN, "run", "-j", "2"], procDir);
const procPerItem = proc.ms / N_PROCESS;
rows.push([
  `one python3 process per item (${N_PROCESS} items)`,
  fmt(proc.ms),
  `${(procPerItem * 1000).toFixed(0)} µs/item; warm is ${(procPerItem / warmPerItem).toFixed(1)}× faster per item (target ≥ 20×)`,
]);

// Dask distributed on the same function.
const daskScript = `
import time
from dask.distributed import Client, LocalCluster
${WORK}
if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        client.submit(work, 1).result()
        t0 = time.perf_counter()
        futures = client.map(work, range(${N}))
        client.gather(futures)
        print((time.perf_counter() - t0) * 1000)
`;
const daskFile = path.join(mkdtempSync(path.join(os.tmpdir(), "dagwright-dask-")), "bench.py");
writeFileSync(daskFile, daskScript);
const dask = spawnSync("/usr/bin/python3", [daskFile], { encoding: "utf8" });
if (dask.status === 0) {
  const daskMs = Number(dask.stdout.trim().split("\n").pop());
  rows.push([
    `Dask distributed, ${N} items (client.map, 2 worker processes)`,
    fmt(daskMs),
    `dagwright/Dask = ${(warm.ms / daskMs).toFixed(2)} (target ≤ 0.5; Dask's time excludes cluster start-up)`,
  ]);
} else {
  rows.push([
    "Dask distributed",
    "n/a",
    `not available (${dask.stderr.split("\n").filter(Boolean).pop() ?? "error"}); apt-get install python3-dask python3-distributed`,
  ]);
}

// Rerun after one item changed: replace item 5000 with a new value.
writeFileSync(
  path.join(warmDir, "items.py"),
  `def items():\n    xs = list(range(${N}))\n    xs[${Math.floor(N / 2)}] = -1\n    return xs\n`,
);
const rerun = timed(process.execPath, [BIN, "run", "-j", "2", "--json"], warmDir);
rows.push([
  `rerun of the ${N}-item fan-out with one item changed`,
  fmt(rerun.ms),
  "only the changed item runs",
]);

// 100,000-item TS no-op fan-out.
const tsDir = mkdtempSync(path.join(os.tmpdir(), "dagwright-fanout-ts-"));
writeFileSync(
  path.join(tsDir, "dagwright.yaml"),
  "graphs:\n  g:\n    tasks:\n      items:\n      each: items\ntasks:\n  items: {file: items.ts, cache_result: true, iterable_item: n}\n  each: {file: each.ts, map_over: n, bundle_size: 1000}\n",
);
writeFileSync(
  path.join(tsDir, "items.ts"),
  `export function items(): number[] {\n  return Array.from({ length: ${N_TS} }, (_, i) => i);\n}\n`,
);
writeFileSync(path.join(tsDir, "each.ts"), "export function each(): void {}\n");
const ts = timed(process.execPath, [BIN, "run", "-j", "2"], tsDir);
rows.push([
  `TS no-op fan-out, ${N_TS} items (bundle_size 1000)`,
  fmt(ts.ms),
  `peak RSS ${ts.rssMb.toFixed(0)} MiB (target < 3 s)`,
]);

// Issue 13: a BENCH_BIG_ITEMS-item fan-out (e.g. 1000000; off by default, it takes minutes): a
// Python producer returning strings, a TS no-op mapped over them. The first run, a no-change rerun
// that plans every item (memo off), and `status`, each with its peak RSS (target < 1 GiB).
const N_BIG = Number(process.env.BENCH_BIG_ITEMS ?? 0);
if (N_BIG > 0) {
  const bigDir = mkdtempSync(path.join(os.tmpdir(), "dagwright-fanout-big-"));
  writeFileSync(
    path.join(bigDir, "dagwright.yaml"),
    "graphs:\n  g:\n    tasks:\n      lst:\n      f: lst\ntasks:\n  lst: {file: lst.py, cache_result: true, iterable_item: item}\n  f: {file: f.ts, map_over: item, bundle_size: 1000}\n",
  );
  writeFileSync(
    path.join(bigDir, "lst.py"),
    `def lst():\n    return [str(i) for i in range(${N_BIG})]\n`,
  );
  writeFileSync(path.join(bigDir, "f.ts"), "export function f(): void {}\n");
  const steps = [
    ["first run", ["run"]],
    ["no-change rerun (every item planned)", ["run"]],
    ["status", ["status"]],
  ];
  process.env.DAGWRIGHT_NO_CHANGE_MEMO = "0";
  for (const [label, args] of steps) {
    const r = timed(process.execPath, [BIN, ...args], bigDir);
    rows.push([
      `${N_BIG}-item fan-out: ${label}`,
      fmt(r.ms),
      `peak RSS ${r.rssMb.toFixed(0)} MiB (target < 1024 MiB)`,
    ]);
  }
}

const w = Math.max(...rows.map((r) => r[0].length));
console.log(`dagwright fan-out benchmarks (${os.cpus().length} cores)`);
for (const r of rows) console.log(`${r[0].padEnd(w)}  ${r[1].padStart(8)}  ${r[2]}`);
