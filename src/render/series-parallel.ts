/**
 * A series-parallel ordering of DAG nodes: what Step Functions can express with `Parallel`
 * branches (`par`) and chains of states (`seq`). A node waits for every node of the earlier
 * items of each `seq` that encloses it, and for nothing else.
 */
export type SpTree =
  | { kind: "node"; index: number }
  | { kind: "seq"; items: SpTree[] }
  | { kind: "par"; items: SpTree[] };

/** An ordering of a DAG as a {@link SpTree}, with what it adds to the DAG's own dependencies. */
export interface SpOrdering {
  tree: SpTree;
  /**
   * Pairs `[x, y]`: y waits for x although x is not an ancestor of y, reduced to the ones not
   * implied by another (x is the latest such node for y, and no dependency of y already waits
   * for it), in order of y then x.
   */
  added: [number, number][];
  /** Every pair (x, y) where y waits for x without depending on it, transitively counted. */
  falseWaits: number;
}

type Bits = Uint32Array;

/** Pair checks {@link seriesParallel} spends on cuts (about a second). */
const PAIR_BUDGET = 100_000_000;

const has = (b: Bits, i: number) => (b[i >>> 5]! & (1 << (i & 31))) !== 0;
const set = (b: Bits, i: number) => {
  b[i >>> 5]! |= 1 << (i & 31);
};

/** Each node's ancestors as a bitset; `deps[i]` lists indices smaller than `i` (a topological order). */
function ancestors(deps: readonly (readonly number[])[]): Bits[] {
  const words = (deps.length + 31) >>> 5;
  const anc: Bits[] = [];
  for (const [i, ds] of deps.entries()) {
    const b = new Uint32Array(words);
    for (const d of ds) {
      if (!(d < i)) throw new Error(`seriesParallel: dependency ${d} of ${i} is not earlier`);
      const a = anc[d]!;
      for (let w = 0; w < words; w++) b[w]! |= a[w]!;
      set(b, d);
    }
    anc.push(b);
  }
  return anc;
}

/**
 * Orders the nodes of a DAG (`deps[i]`: the direct dependencies of node i, all smaller than i)
 * as a series-parallel tree that keeps every dependency. Exact (no added wait) when the DAG's
 * order is series-parallel. Otherwise a greedy heuristic: split into independent parts where
 * possible (`par`); else cut the part in two (`seq`) at the depth or height level whose cut
 * adds the fewest waits, and recurse. The result never adds more waits than ordering the whole
 * graph level by level (it falls back to that when the heuristic does worse). Pure and
 * deterministic. Throws an Error when a dependency is not an earlier node.
 */
export function seriesParallel(deps: readonly (readonly number[])[]): SpOrdering {
  const anc = ancestors(deps);
  const dependents: number[][] = deps.map(() => []);
  for (const [i, ds] of deps.entries()) for (const d of ds) dependents[d]!.push(i);
  const all = deps.map((_, i) => i);
  // Each cut costs the square of its part; a large irregular graph can need one per node, so
  // past this many pair checks the remaining parts are ordered level by level instead.
  let budget = PAIR_BUDGET;
  const greedy = all.length === 0 ? { kind: "seq" as const, items: [] } : solve(all);
  const levels = levelTree(deps);
  const mine = falseSets(greedy, anc, true);
  const byLevel = falseSets(levels, anc, false).falseWaits;
  const [tree, m] =
    mine.falseWaits <= byLevel ? [greedy, mine] : [levels, falseSets(levels, anc, true)];
  return { tree, falseWaits: m.falseWaits, added: reduce(m.falseOf, anc, deps) };

  function solve(nodes: number[]): SpTree {
    if (nodes.length === 1) return { kind: "node", index: nodes[0]! };
    const parts = components(nodes, deps);
    if (parts.length > 1) return { kind: "par", items: parts.map(solve) };
    budget -= nodes.length * nodes.length;
    if (budget < 0) return levelsOf(nodes, deps);
    return flatten("seq", seriesCut(nodes, deps, dependents, anc).map(solve));
  }
}

/** Nodes of `nodes` (sorted) in weakly connected components of their induced edges. */
function components(nodes: number[], deps: readonly (readonly number[])[]): number[][] {
  const parent = new Map<number, number>(nodes.map((n) => [n, n]));
  const find = (x: number): number => {
    let r = x;
    while (parent.get(r)! !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  for (const n of nodes) for (const d of deps[n]!) if (parent.has(d)) parent.set(find(n), find(d));
  const groups = new Map<number, number[]>();
  for (const n of nodes) {
    const r = find(n);
    const g = groups.get(r);
    if (g === undefined) groups.set(r, [n]);
    else g.push(n);
  }
  return [...groups.values()];
}

/**
 * Cuts a connected, convex set of nodes into consecutive blocks: at every exact depth cut (each
 * node after it depends on each node before it) when there is one, else in two at the depth or
 * height cut adding the fewest waits.
 */
function seriesCut(
  nodes: number[],
  deps: readonly (readonly number[])[],
  dependents: readonly (readonly number[])[],
  anc: Bits[],
): number[][] {
  const inSet = new Set(nodes);
  const depth = new Map<number, number>();
  for (const n of nodes)
    depth.set(
      n,
      Math.max(0, ...deps[n]!.filter((d) => inSet.has(d)).map((d) => depth.get(d)! + 1)),
    );
  const height = new Map<number, number>();
  for (const n of [...nodes].reverse())
    height.set(
      n,
      Math.max(0, ...dependents[n]!.filter((d) => inSet.has(d)).map((d) => height.get(d)! + 1)),
    );
  const maxDepth = Math.max(...depth.values());
  const maxHeight = Math.max(...height.values());
  // byDepth[k]: waits added by cutting before depth k; byHeight[k]: after height k (top is A).
  const byDepth = new Array<number>(maxDepth + 2).fill(0);
  const byHeight = new Array<number>(maxHeight + 2).fill(0);
  // Typed copies: this pair loop is the renderer's hot spot on large non-series-parallel graphs.
  const m = nodes.length;
  const ids = Int32Array.from(nodes);
  const dep = Int32Array.from(nodes, (n) => depth.get(n)!);
  const hei = Int32Array.from(nodes, (n) => height.get(n)!);
  for (let j = 0; j < m; j++) {
    const ab = anc[ids[j]!]!;
    const db = dep[j]!;
    const hb = hei[j]!;
    for (let i = 0; i < m; i++) {
      const a = ids[i]!;
      if (i === j || (ab[a >>> 5]! & (1 << (a & 31))) !== 0) continue;
      const da = dep[i]!;
      if (da < db) {
        byDepth[da + 1]!++;
        byDepth[db + 1]!--;
      }
      const ha = hei[i]!;
      if (hb < ha) {
        byHeight[hb + 1]!++;
        byHeight[ha + 1]!--;
      }
    }
  }
  for (let k = 1; k < byDepth.length; k++) byDepth[k]! += byDepth[k - 1]!;
  for (let k = 1; k < byHeight.length; k++) byHeight[k]! += byHeight[k - 1]!;
  const exact: number[] = [];
  for (let k = 1; k <= maxDepth; k++) if (byDepth[k] === 0) exact.push(k);
  if (exact.length > 0) {
    const bounds = [0, ...exact, maxDepth + 1];
    return bounds
      .slice(1)
      .map((hi, i) => nodes.filter((n) => depth.get(n)! >= bounds[i]! && depth.get(n)! < hi));
  }
  let best = { cost: Number.POSITIVE_INFINITY, top: [] as number[] };
  for (let k = 1; k <= maxDepth; k++)
    if (byDepth[k]! < best.cost)
      best = { cost: byDepth[k]!, top: nodes.filter((n) => depth.get(n)! < k) };
  for (let k = 1; k <= maxHeight; k++)
    if (byHeight[k]! < best.cost)
      best = { cost: byHeight[k]!, top: nodes.filter((n) => height.get(n)! >= k) };
  const top = new Set(best.top);
  return [best.top, nodes.filter((n) => !top.has(n))];
}

function flatten(kind: "seq" | "par", items: SpTree[]): SpTree {
  const flat = items.flatMap((t) => (t.kind === kind ? t.items : [t]));
  return flat.length === 1 ? flat[0]! : { kind, items: flat };
}

/** Level-by-level ordering: every node waits for every node of a smaller depth. */
export function levelTree(deps: readonly (readonly number[])[]): SpTree {
  return deps.length === 0
    ? { kind: "seq", items: [] }
    : levelsOf(
        deps.map((_, i) => i),
        deps,
      );
}

/** Level-by-level ordering of `nodes` (sorted), by depth within them. */
function levelsOf(nodes: number[], deps: readonly (readonly number[])[]): SpTree {
  const depth = new Map<number, number>();
  const levels: number[][] = [];
  for (const n of nodes) {
    let d = 0;
    for (const p of deps[n]!) {
      const dp = depth.get(p);
      if (dp !== undefined && dp + 1 > d) d = dp + 1;
    }
    depth.set(n, d);
    const level = levels[d];
    if (level === undefined) levels[d] = [n];
    else level.push(n);
  }
  return flatten(
    "seq",
    levels.map((l) =>
      flatten(
        "par",
        l.map((index) => ({ kind: "node", index })),
      ),
    ),
  );
}

/**
 * The waits `tree` adds to the DAG `deps` (as in {@link seriesParallel}): for each node, its
 * predecessors in the tree that are not its ancestors, counted. Does not check that the tree
 * keeps every dependency.
 */
export function falseWaitsOf(tree: SpTree, deps: readonly (readonly number[])[]): number {
  return falseSets(tree, ancestors(deps), false).falseWaits;
}

/**
 * Each node's false waits, counted; with `keep`, also as bitsets (an empty one is shared, as
 * most nodes of a good ordering have none).
 */
function falseSets(
  tree: SpTree,
  bits: Bits[],
  keep: boolean,
): { falseWaits: number; falseOf: Bits[] } {
  const n = bits.length;
  const words = (n + 31) >>> 5;
  const none = new Uint32Array(words);
  const falseOf: Bits[] = new Array(n);
  let falseWaits = 0;
  const visit = (t: SpTree, before: Bits) => {
    if (t.kind === "node") {
      const a = bits[t.index]!;
      let count = 0;
      for (let w = 0; w < words; w++) count += popcount(before[w]! & ~a[w]!);
      falseWaits += count;
      if (keep) falseOf[t.index] = count === 0 ? none : before.map((b, w) => b & ~a[w]!);
      return;
    }
    if (t.kind === "par") {
      for (const item of t.items) visit(item, before);
      return;
    }
    const acc = before.slice();
    for (const item of t.items) {
      visit(item, acc);
      addNodes(item, acc);
    }
  };
  visit(tree, new Uint32Array(words));
  return { falseWaits, falseOf };
}

function addNodes(t: SpTree, b: Bits): void {
  if (t.kind === "node") set(b, t.index);
  else for (const item of t.items) addNodes(item, b);
}

/**
 * For each y, the x of its false set that nothing else implies: not inherited from a dependency
 * (waiting for d, which falsely waits for x), and not an ancestor of another such x. The tree's
 * order is transitive, so direct dependencies suffice for the first test and the remaining
 * candidates for the second. Ancestors have smaller indices, so the candidates are taken from the
 * largest down, each implied one skipped (its ancestors are already in `implied`).
 */
function reduce(
  falseOf: Bits[],
  anc: Bits[],
  deps: readonly (readonly number[])[],
): [number, number][] {
  const out: [number, number][] = [];
  const n = anc.length;
  const words = (n + 31) >>> 5;
  const own = new Uint32Array(words);
  const implied = new Uint32Array(words);
  for (let y = 0; y < n; y++) {
    const f = falseOf[y]!;
    if (f.every((w) => w === 0)) continue;
    own.set(f);
    for (const d of deps[y]!) {
      const fd = falseOf[d]!;
      for (let w = 0; w < words; w++) own[w]! &= ~fd[w]!;
    }
    implied.fill(0);
    const kept: number[] = [];
    for (let w = words - 1; w >= 0; w--) {
      let bits = own[w]! & ~implied[w]!;
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits);
        const x = (w << 5) | b;
        bits &= ~(1 << b);
        if (has(implied, x)) continue;
        kept.push(x);
        const a = anc[x]!;
        for (let v = 0; v <= w; v++) implied[v]! |= a[v]!;
        bits &= ~implied[w]!;
      }
    }
    for (let k = kept.length - 1; k >= 0; k--) out.push([kept[k]!, y]);
  }
  return out;
}

function popcount(v: number): number {
  let x = v - ((v >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}
