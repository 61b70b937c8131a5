// The 1,000-task graph of the local-run benchmarks (bench/run-bench.mjs, bench/profile-b.mjs):
// 10 layers of 100; task i of layer L depends on task i of layer L-1.
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export const LAYERS = 10;
export const WIDTH = 100;

/** The name of task `i` of layer `l`. */
export const name = (l, i) => `t${l}_${i}`;

/** The benchmarks' shape; tests use a smaller one. */
const SHAPE = { layers: LAYERS, width: WIDTH };

/**
 * The graph as a dagwright.yaml: `ts` tasks call a no-op TS function; `sh` tasks are each one
 * `touch o/<task>` process that writes the task's declared output (the same as the Makefile's).
 */
export function specYaml(kind, { layers, width } = SHAPE) {
  const task = (t) =>
    kind === "ts"
      ? `{file: "noop.ts:noop"}`
      : `{command: ["touch", "o/${t}"], outputs: ["o/${t}"]}`;
  const lines = ["graphs:", "  bench:", "    tasks:"];
  for (let l = 0; l < layers; l++)
    for (let i = 0; i < width; i++)
      lines.push(`      ${name(l, i)}: ${l === 0 ? "[]" : name(l - 1, i)}`);
  lines.push("tasks:");
  for (let l = 0; l < layers; l++) {
    for (let i = 0; i < width; i++) {
      lines.push(`  ${name(l, i)}: ${task(name(l, i))}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/** The same graph as a Makefile: each target is one `touch` of its file under o/. */
export function makefile({ layers, width } = SHAPE) {
  const mk = [
    `all: ${Array.from({ length: width }, (_, i) => `o/${name(layers - 1, i)}`).join(" ")}`,
    ".PHONY: all",
  ];
  for (let l = 0; l < layers; l++)
    for (let i = 0; i < width; i++)
      mk.push(`o/${name(l, i)}:${l === 0 ? "" : ` o/${name(l - 1, i)}`}\n\ttouch $@`);
  return `${mk.join("\n")}\n`;
}

/** A temp project holding the graph's dagwright.yaml (and the TS tasks' module). */
export function project(kind) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `dagwright-bench-${kind}-`));
  writeFileSync(path.join(dir, "dagwright.yaml"), specYaml(kind));
  writeFileSync(path.join(dir, "noop.ts"), "export function noop(): void {}\n");
  return dir;
}
