/**
 * Topological order of an acyclic graph (`deps`: node → its dependencies). Among ready nodes the
 * one with the lowest `rank` (declaration order) goes first, so the order is deterministic and
 * reads like the spec where the edges allow. Throws if `deps` has a cycle (check first).
 */
export function topoOrder(
  deps: ReadonlyMap<string, readonly string[]>,
  rank: ReadonlyMap<string, number>,
): string[] {
  const remaining = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const [node, ds] of deps) {
    const unique = [...new Set(ds)].filter((d) => deps.has(d));
    remaining.set(node, unique.length);
    for (const d of unique) dependents.set(d, [...(dependents.get(d) ?? []), node]);
  }
  const heap = new MinHeap<string>(
    (a, b) => (rank.get(a) ?? 0) - (rank.get(b) ?? 0) || (a < b ? -1 : a > b ? 1 : 0),
  );
  for (const [node, n] of remaining) if (n === 0) heap.push(node);
  const order: string[] = [];
  while (heap.size > 0) {
    const node = heap.pop()!;
    order.push(node);
    for (const next of dependents.get(node) ?? []) {
      const left = remaining.get(next)! - 1;
      remaining.set(next, left);
      if (left === 0) heap.push(next);
    }
  }
  if (order.length !== deps.size) throw new Error("topoOrder: graph has a cycle");
  return order;
}

class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly cmp: (a: T, b: T) => number) {}
  get size(): number {
    return this.items.length;
  }
  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.cmp(a[i]!, a[p]!) >= 0) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.cmp(a[l]!, a[m]!) < 0) m = l;
        if (r < a.length && this.cmp(a[r]!, a[m]!) < 0) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}
