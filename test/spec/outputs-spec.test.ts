import { describe, expect, it } from "vitest";
import { loadSpec } from "../../src/spec/load-spec.js";
import { makeProject } from "../helpers.js";

describe("outputs as written and normalized", () => {
  it("keeps every output pattern in outputs and lists the in_place ones apart", () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:
  g: {tasks: {a: }}
tasks:
  a:
    command: [x]
    outputs: ["out/a.csv", {path: db.duckdb, in_place: true}, {path: "out/b.csv"}, {path: c.log, in_place: false}]
`,
    });
    const task = loadSpec({ cwd: dir }).tasks.a!;
    expect(task.outputs).toEqual(["out/a.csv", "db.duckdb", "out/b.csv", "c.log"]);
    expect(task.inPlaceOutputs).toEqual(["db.duckdb"]);
  });

  it("defaults to no in-place outputs", () => {
    const dir = makeProject({
      "dagwright.yaml":
        "graphs:\n  g: {tasks: {a: }}\ntasks:\n  a: {command: [x], outputs: [o.txt]}\n",
    });
    expect(loadSpec({ cwd: dir }).tasks.a!.inPlaceOutputs).toEqual([]);
  });
});
