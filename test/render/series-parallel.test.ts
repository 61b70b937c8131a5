import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  falseWaitsOf,
  levelTree,
  type SpTree,
  seriesParallel,
} from "../../src/render/series-parallel.js";
import { type Deps, dag, dagOfShape, spTree } from "./dag-arbitraries.js";

/** Every dependency of the DAG is a predecessor in the tree; every node appears once. */
function respects(tree: SpTree, deps: Deps): boolean {
  const seen = new Map<number, Set<number>>();
  const visit = (t: SpTree, before: Set<number>): number[] => {
    if (t.kind === "node") {
      seen.set(t.index, new Set(before));
      return [t.index];
    }
    if (t.kind === "par") return t.items.flatMap((i) => visit(i, before));
    const acc = new Set(before);
    const nodes: number[] = [];
    for (const item of t.items) {
      for (const n of visit(item, acc)) {
        acc.add(n);
        nodes.push(n);
      }
    }
    return nodes;
  };
  visit(tree, new Set());
  return seen.size === deps.length && deps.every((ds, i) => ds.every((d) => seen.get(i)!.has(d)));
}

describe("seriesParallel", () => {
  it("adds no wait to a series-parallel graph", () => {
    fc.assert(
      fc.property(spTree, (shape) => {
        const deps = dagOfShape(shape);
        const o = seriesParallel(deps);
        expect(o.falseWaits).toBe(0);
        expect(o.added).toEqual([]);
        expect(respects(o.tree, deps)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("keeps every dependency and never adds more waits than level-by-level ordering", () => {
    fc.assert(
      fc.property(dag, (deps) => {
        const o = seriesParallel(deps);
        expect(respects(o.tree, deps)).toBe(true);
        expect(o.falseWaits).toBeLessThanOrEqual(falseWaitsOf(levelTree(deps), deps));
        expect(o.falseWaits === 0).toBe(o.added.length === 0);
      }),
      { numRuns: 500 },
    );
  });

  it("adds one wait to the N shape (A→C, B→C, B→D): D also waits for A", () => {
    // 0 = A, 1 = B, 2 = C, 3 = D
    const o = seriesParallel([[], [], [0, 1], [1]]);
    expect(o.added).toEqual([[0, 3]]);
    expect(o.falseWaits).toBe(1);
  });

  it("renders two independent chains as two parallel sequences", () => {
    const o = seriesParallel([[], [0], [], [2]]);
    expect(o.tree).toEqual({
      kind: "par",
      items: [
        {
          kind: "seq",
          items: [
            { kind: "node", index: 0 },
            { kind: "node", index: 1 },
          ],
        },
        {
          kind: "seq",
          items: [
            { kind: "node", index: 2 },
            { kind: "node", index: 3 },
          ],
        },
      ],
    });
  });
});
