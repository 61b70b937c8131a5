// Types of bench/graph.mjs for the tests that import it.

/** A graph of `layers` layers of `width` tasks; task i of layer L depends on task i of L-1. */
export interface Shape {
  layers: number;
  width: number;
}
/** The benchmarks' number of layers. */
export const LAYERS: number;
/** The benchmarks' tasks per layer. */
export const WIDTH: number;
/** The name of task `i` of layer `l`. */
export function name(l: number, i: number): string;
/** The graph as a dagwright.yaml (`ts`: no-op TS tasks; `sh`: one `touch o/<task>` each). */
export function specYaml(kind: "ts" | "sh", shape?: Shape): string;
/** The same graph as a Makefile, one `touch` per target. */
export function makefile(shape?: Shape): string;
/** A temp project holding the graph's dagwright.yaml. */
export function project(kind: "ts" | "sh"): string;
