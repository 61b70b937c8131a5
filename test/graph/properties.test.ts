import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkGraph } from "../../src/graph/build-graph.js";
import { findCycles } from "../../src/graph/find-cycles.js";
import type { Diagnostic } from "../../src/spec/diagnostic.js";
import type { Spec, TaskSpec } from "../../src/spec/types.js";
import { makeTask } from "../helpers.js";

const loc = { file: "dagwright.yaml", line: 1, column: 1 };

function specOf(adjacency: Record<string, string[]>): Spec {
  const task = (name: string): TaskSpec =>
    makeTask({ name, kind: "command", command: { argv: ["true"] } });
  const names = Object.keys(adjacency);
  return {
    file: "/p/dagwright.yaml",
    root: "/p",
    format: "dagwright",
    outputsBase: "root",
    settings: { name: "p", scratchDir: "scratch", pyTasksDirs: [], rTasksDirs: [], raw: {} },
    config: {},
    environments: {},
    tasks: Object.fromEntries(names.map((n) => [n, task(n)])),
    graphs: {
      g: {
        name: "g",
        extends: [],
        config: {},
        location: loc,
        entries: names.map((n) => ({ task: n, deps: adjacency[n]!, args: {}, location: loc })),
      },
    },
  };
}

/** Random DAGs: node i may only depend on nodes with a smaller index, then names are shuffled. */
const dagArb = fc.integer({ min: 1, max: 40 }).chain((n) =>
  fc
    .tuple(
      fc.array(fc.array(fc.nat(), { maxLength: 4 }), { minLength: n, maxLength: n }),
      fc.shuffledSubarray(
        Array.from({ length: n }, (_, i) => `t${i}`),
        { minLength: n, maxLength: n },
      ),
    )
    .map(([edges, names]) => {
      const adjacency: Record<string, string[]> = {};
      for (let i = 0; i < n; i++) {
        adjacency[names[i]!] = i === 0 ? [] : [...new Set(edges[i]!.map((e) => names[e % i]!))];
      }
      return adjacency;
    }),
);

describe("graph properties", () => {
  it("validates every random DAG and orders each task after all its dependencies", () => {
    fc.assert(
      fc.property(dagArb, (adjacency) => {
        const diagnostics: Diagnostic[] = [];
        const graph = checkGraph(specOf(adjacency), "g", diagnostics);
        expect(diagnostics).toEqual([]);
        const position = new Map(graph!.order.map((t, i) => [t, i]));
        expect(graph!.order.length).toBe(Object.keys(adjacency).length);
        for (const [t, deps] of Object.entries(adjacency))
          for (const d of deps) expect(position.get(d)!).toBeLessThan(position.get(t)!);
      }),
    );
  });

  it("gives the same order however often it is computed", () => {
    fc.assert(
      fc.property(dagArb, (adjacency) => {
        const a = checkGraph(specOf(adjacency), "g", []);
        const b = checkGraph(specOf(adjacency), "g", []);
        expect(a!.order).toEqual(b!.order);
      }),
    );
  });

  it("reports a real cycle for every graph with a back edge", () => {
    fc.assert(
      fc.property(dagArb, fc.nat(), fc.nat(), (adjacency, x, y) => {
        const names = Object.keys(adjacency);
        if (names.length < 2) return;
        // Add an edge that closes a loop: from a task to one of its (transitive) dependents, or to itself.
        const from = names[x % names.length]!;
        const dependents = names.filter((t) => reaches(adjacency, t, from));
        const to = dependents[y % dependents.length] ?? from;
        const cyclic = { ...adjacency, [from]: [...adjacency[from]!, to] };
        const diagnostics: Diagnostic[] = [];
        expect(checkGraph(specOf(cyclic), "g", diagnostics)).toBeUndefined();
        const cycles = findCycles(new Map(Object.entries(cyclic)));
        expect(cycles.length).toBeGreaterThan(0);
        for (const cycle of cycles) {
          expect(cycle[0]).toBe(cycle[cycle.length - 1]);
          // each step "a → b" means b depends on a
          for (let i = 0; i + 1 < cycle.length; i++)
            expect(cyclic[cycle[i + 1]!]).toContain(cycle[i]);
        }
        expect(diagnostics.some((d) => d.kind === "cycle" || d.kind === "self-dependency")).toBe(
          true,
        );
      }),
    );
  });
});

function reaches(adjacency: Record<string, string[]>, from: string, target: string): boolean {
  // does `from` (transitively) depend on `target`?
  const seen = new Set<string>();
  const stack = [from];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (t === target) return true;
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push(...(adjacency[t] ?? []));
  }
  return false;
}
