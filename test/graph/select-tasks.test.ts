import { describe, expect, it } from "vitest";
import { buildGraph } from "../../src/graph/build-graph.js";
import { drawGraph } from "../../src/graph/draw-graph.js";
import { selectTasks } from "../../src/graph/select-tasks.js";
import { loadSpec } from "../../src/spec/load-spec.js";
import { makeProject } from "../helpers.js";

const yaml = `graphs:
  g:
    tasks:
      extract:
      clean: extract
      features: clean
      report: [features, clean]
      audit: extract
tasks:
  extract: {command: [x], tags: [io]}
  clean: {command: [x]}
  features: {command: [x], tags: [ml]}
  report: {command: [x], tags: [io]}
  audit: {command: [x]}
`;
const graph = buildGraph(loadSpec({ cwd: makeProject({ "dagwright.yaml": yaml }) }), "g");

describe("task selection", () => {
  it("--only picks exactly the named tasks, in topological order", () => {
    expect(selectTasks(graph, { only: ["report", "extract"] })).toEqual(["extract", "report"]);
  });
  it("--from picks a task and everything downstream", () => {
    expect(selectTasks(graph, { from: ["clean"] })).toEqual(["clean", "features", "report"]);
  });
  it("--to picks a task and everything upstream", () => {
    expect(selectTasks(graph, { to: ["features"] })).toEqual(["extract", "clean", "features"]);
  });
  it("--from and --to together pick the tasks between them", () => {
    expect(selectTasks(graph, { from: ["clean"], to: ["features"] })).toEqual([
      "clean",
      "features",
    ]);
  });
  it("--tags picks tasks carrying any of the tags", () => {
    expect(selectTasks(graph, { tags: ["io", "ml"] })).toEqual(["extract", "features", "report"]);
  });
  it("names an unknown task with a suggestion", () => {
    expect(() => selectTasks(graph, { only: ["reprot"] })).toThrow(
      '--only: graph "g" has no task "reprot". Did you mean "report"?',
    );
    expect(() => selectTasks(graph, { from: ["nope"] })).toThrow(
      '--from: graph "g" has no task "nope"',
    );
  });
  it("names an unknown tag", () => {
    expect(() => selectTasks(graph, { tags: ["mll"] })).toThrow(
      '--tags: no task in graph "g" has tag "mll". Did you mean "ml"?',
    );
  });
  it("refuses an empty selection", () => {
    expect(() => selectTasks(graph, { from: ["report"], to: ["extract"] })).toThrow(
      "the selection matches no task",
    );
  });
});

describe("graph drawing", () => {
  it("escapes hostile task names in mermaid and dot labels", () => {
    const hostile = makeProject({
      "dagwright.yaml":
        "graphs:\n  g: {tasks: {a: , b: a}}\ntasks:\n  a: {command: [x]}\n  b: {command: [x]}\n",
    });
    const g = buildGraph(loadSpec({ cwd: hostile }), "g");
    // Names are restricted by the schema, but the drawer must not rely on that.
    const renamed = { ...g, name: 'g"];x', tasks: { ...g.tasks } };
    expect(drawGraph(renamed, "dot")).toContain('digraph "g\\"];x" {');
    expect(drawGraph(g, "mermaid")).toBe('flowchart TD\n  t0["a"]\n  t1["b"]\n  t0 --> t1\n');
  });
});
