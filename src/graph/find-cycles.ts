/**
 * Finds dependency cycles in `deps` (node → the nodes it depends on). Returns one cycle per
 * strongly connected component, written in run order (`a → b` means a runs before b), starting at
 * the alphabetically first member so output is deterministic: `["a", "c", "b", "a"]`.
 * Self-loops are reported as `["a", "a"]`. Iterative, so deep graphs cannot overflow the stack.
 */
export function findCycles(deps: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;

  for (const start of deps.keys()) {
    if (index.has(start)) continue;
    const work: { node: string; next: number }[] = [{ node: start, next: 0 }];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const edges = (deps.get(frame.node) ?? []).filter((d) => deps.has(d));
      if (frame.next < edges.length) {
        const dep = edges[frame.next++]!;
        if (!index.has(dep)) {
          index.set(dep, counter);
          low.set(dep, counter++);
          stack.push(dep);
          onStack.add(dep);
          work.push({ node: dep, next: 0 });
        } else if (onStack.has(dep)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(dep)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        const selfLoop =
          component.length === 1 && (deps.get(frame.node) ?? []).includes(frame.node);
        if (component.length > 1 || selfLoop) components.push(component);
      }
    }
  }
  return components
    .map((c) => cycleWithin(new Set(c), deps))
    .sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** A shortest cycle through the first member of a strongly connected component (BFS). */
function cycleWithin(members: Set<string>, deps: ReadonlyMap<string, readonly string[]>): string[] {
  const first = [...members].sort()[0]!;
  // Walk "runs before" edges: x runs before y when y depends on x.
  const before = new Map<string, string[]>();
  for (const m of members) {
    for (const d of deps.get(m) ?? []) {
      if (!members.has(d)) continue;
      before.set(d, [...(before.get(d) ?? []), m]);
    }
  }
  for (const list of before.values()) list.sort();
  const prev = new Map<string, string>();
  const queue = [first];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    for (const next of before.get(node) ?? []) {
      if (next === first) {
        const path = [node];
        let cur = node;
        while (cur !== first) {
          cur = prev.get(cur)!;
          path.push(cur);
        }
        return [...path.reverse(), first];
      }
      if (!prev.has(next)) {
        prev.set(next, node);
        queue.push(next);
      }
    }
  }
  return [first, first];
}
