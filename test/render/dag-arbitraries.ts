import fc from "fast-check";

/** Random DAGs for property tests of orderings (series-parallel.ts and the Step Functions render). */

export type Deps = number[][];

/** Random DAGs over 1..12 nodes: each node depends on some earlier ones. */
export const dag = fc
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
export const spTree: fc.Arbitrary<SpShape> = fc.letrec<{ t: SpShape }>((tie) => ({
  t: fc.oneof(
    { maxDepth: 4, withCrossShrink: true },
    fc.constant<SpShape>("leaf"),
    fc.record({
      kind: fc.constantFrom("seq", "par"),
      items: fc.array(tie("t"), { minLength: 2, maxLength: 3 }),
    }),
  ),
})).t;
export type SpShape = "leaf" | { kind: "seq" | "par"; items: SpShape[] };

/** The DAG of a shape: in a seq, each item's sources depend on the previous item's sinks. */
export function dagOfShape(shape: SpShape): Deps {
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
