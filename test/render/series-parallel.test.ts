import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  falseWaitsOf,
  levelTree,
  type SpTree,
  seriesParallel,
} from "../../src/render/series-parallel.js";

type Deps = number[][];

/** Random DAGs over 1..12 nodes: each node depends on some earlier ones. */
const dag = fc
  .integer({ min: 1, max: 12 })
  .chain((n) =>
    fc.tuple(
      ...Array.from({ length: n }, (_, i) =>
        fc.subarray(
          Array.from({ length: i }, (_, j) => j),
          { maxLength: Math.min(3, i) },
        ),
      ),
    ),
  )
  .map((ds) => ds.map((d) => [...d]) as Deps);

/** Random series-parallel trees, turned into the DAG they describe (a node depends on every sink before it). */
const spTree: fc.Arbitrary<SpShape> = fc.letrec<{ t: SpShape }>((tie) => ({
  t: fc.oneof(
    { maxDepth: 4, withCrossShrink: true },
    fc.constant<SpShape>("leaf"),
    fc.record({
      kind: fc.constantFrom("seq", "par"),
      items: fc.array(tie("t"), { minLength: 2, maxLength: 3 }),
    }),
  ),
})).t;
type SpShape = "leaf" | { kind: "seq" | "par"; items: SpShape[] };

/** The DAG of a shape: in a seq, each item's sources depend on the previous item's sinks. */
function dagOfShape(shape: SpShape): Deps {
  const deps: Deps = [];
  const build = (s: SpShape, after: number[]): { sources: number[]; sinks: number[] } => {
    if (s === "leaf") {
      deps.push([...after]);
      return { sources: [deps.length - 1], sinks: [deps.length - 1] };
    }
    if (s.kind === "par") {
      const parts = s.items.map((i) => build(i, after));
      return { sources: parts.flatMap((p) => p.sources), sinks: parts.flatMap((p) => p.sinks) };
    }
    let prev = after;
    let sources: number[] = [];
    for (const [k, item] of s.items.entries()) {
      const part = build(item, prev);
      if (k === 0) sources = part.sources;
      prev = part.sinks;
    }
    return { sources, sinks: prev };
  };
  build(shape, []);
  return deps;
}

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
