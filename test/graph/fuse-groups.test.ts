import { describe, expect, it } from "vitest";
import { fuseGroups } from "../../src/graph/fuse-groups.js";
import { graphOf } from "../render/fixtures.js";

const errors = (r: ReturnType<typeof fuseGroups>) =>
  r.diagnostics.filter((d) => d.severity === "error").map((d) => d.message);
const warnings = (r: ReturnType<typeof fuseGroups>) =>
  r.diagnostics.filter((d) => d.severity === "warning").map((d) => d.message);

describe("fuseGroups", () => {
  it("fuses tasks with the same group into one unit whose edges are the edges between units", () => {
    const g = graphOf(
      "g",
      { src: [], a: ["src"], b: ["a"], c: ["a"], sink: ["b", "c"] },
      { a: { group: "G" }, b: { group: "G" } },
    );
    const r = fuseGroups(g);
    expect(r.diagnostics).toEqual([]);
    expect(r.units.map((u) => [u.name, u.kind, u.tasks, u.deps])).toEqual([
      ["src", "task", ["src"], []],
      ["G", "group", ["a", "b"], ["src"]],
      ["c", "task", ["c"], ["G"]],
      ["sink", "task", ["sink"], ["G", "c"]],
    ]);
  });

  it("groups by tags with the configured prefix, and ignores them without one", () => {
    const g = graphOf(
      "g",
      { a: [], b: ["a"], c: ["b"] },
      { a: { tags: ["argo:prep", "nightly"] }, b: { group: "prep" } },
    );
    expect(fuseGroups(g, { tagPrefix: "argo:" }).units.map((u) => u.tasks)).toEqual([
      ["a", "b"],
      ["c"],
    ]);
    expect(fuseGroups(g).units.map((u) => u.tasks)).toEqual([["a"], ["b"], ["c"]]);
  });

  it("rejects a group that a path leaves and re-enters, naming the unit cycle and the task edges", () => {
    const g = graphOf("g", { a: [], x: ["a"], b: ["x"] }, { a: { group: "G" }, b: { group: "G" } });
    const r = fuseGroups(g);
    expect(r.units).toEqual([]);
    expect(r.diagnostics).toEqual([
      expect.objectContaining({
        severity: "error",
        path: "tasks.a.group",
        message: 'group "G" would depend on itself: G → x → G (a → x → b)',
        hint: 'a path between two tasks of a group must stay inside it: add "x" to group "G", or take "a" or "b" out of it',
      }),
    ]);
  });

  it("names every unit and task edge of a cycle through two groups", () => {
    const g = graphOf(
      "g",
      { a: [], h1: ["a"], h2: [], b: ["h2"] },
      { a: { group: "G" }, b: { group: "G" }, h1: { group: "H" }, h2: { group: "H" } },
    );
    expect(errors(fuseGroups(g))).toEqual([
      'group "G" would depend on itself: G → H → G (a → h1, h2 → b)',
    ]);
  });

  it("gives a group the largest of each resource among its members, machine types included", () => {
    const g = graphOf(
      "g",
      { a: [], b: ["a"], c: ["b"] },
      {
        a: { group: "G", compute: { cpu: 2, memoryMiB: 512 } },
        b: { group: "G", compute: { cpu: 0.5, memoryMiB: 4096 }, machineType: "small" },
        c: { group: "G", compute: { gpu: 1 } },
      },
    );
    const r = fuseGroups(g, { machineTypes: { small: { cpu: 1, memoryMiB: 1024 } } });
    expect(r.diagnostics).toEqual([]);
    expect(r.units[0]).toEqual({
      name: "G",
      kind: "group",
      tasks: ["a", "b", "c"],
      deps: [],
      compute: { cpu: 2, memoryMiB: 4096, gpu: 1 },
      machineType: "small",
    });
  });

  it("warns, naming the group and the tasks, when a group mixes machine types", () => {
    const g = graphOf(
      "g",
      { a: [], b: ["a"], c: ["b"] },
      {
        a: { group: "train", machineType: "cpu_small" },
        b: { group: "train", machineType: "gpu_small" },
        c: { group: "train", machineType: "cpu_small" },
      },
    );
    const r = fuseGroups(g, {
      machineTypes: {
        cpu_small: { cpu: 2, memoryMiB: 4096 },
        gpu_small: { cpu: 4, memoryMiB: 16384, gpu: 1 },
      },
    });
    expect(warnings(r)).toEqual([
      'group "train" mixes machine types: "a", "c" use "cpu_small"; "b" uses "gpu_small"; the group gets the largest of each resource (cpu 4, memory 16384 MiB, gpu 1)',
    ]);
    expect(r.units[0]!.machineType).toBeUndefined();
    expect(r.units[0]!.compute).toEqual({ cpu: 4, memoryMiB: 16384, gpu: 1 });
  });

  it("rejects a task put in two groups, and a group named like a task outside it", () => {
    const g = graphOf(
      "g",
      { a: [], b: ["a"], c: [] },
      { a: { group: "x", tags: ["argo:y"] }, b: { group: "c" } },
    );
    expect(errors(fuseGroups(g, { tagPrefix: "argo:" }))).toEqual([
      'task "a" is put in 2 groups: "x" (group), "y" (tag "argo:y")',
      'group "c" has the same name as task "c", which is not in it',
    ]);
  });

  it("rejects an undeclared machine type when machine types are given", () => {
    const g = graphOf("g", { a: [] }, { a: { machineType: "huge" } });
    expect(errors(fuseGroups(g, { machineTypes: { small: { cpu: 1 } } }))).toEqual([
      'task "a" uses machine type "huge", which is not declared',
    ]);
  });

  it("allows a fan-out task in a group, warning that its items share the group's unit", () => {
    const g = graphOf(
      "g",
      { list: [], each: ["list"] },
      {
        list: { group: "G", cacheResult: true, iterableItem: ["x"] },
        each: { group: "G", mapOver: ["x"] },
      },
    );
    const r = fuseGroups(g);
    expect(errors(r)).toEqual([]);
    expect(warnings(r)).toEqual([
      'fan-out task "each" is in group "G", so all its items run inside the group\'s one unit, not one unit per item',
    ]);
  });
});
