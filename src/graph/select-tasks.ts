import { didYouMean } from "../spec/did-you-mean.js";
import { UsageError } from "../spec/errors.js";
import type { Graph } from "./graph.js";

/** `--only`, `--from`, `--to`, `--tags`. Each given selector narrows the set (intersection). */
export interface Selection {
  /** Exactly these tasks. */
  only?: readonly string[];
  /** These tasks and everything downstream of them. */
  from?: readonly string[];
  /** These tasks and everything upstream of them. */
  to?: readonly string[];
  /** Tasks carrying at least one of these tags. */
  tags?: readonly string[];
}

function closure(start: readonly string[], next: (t: string) => readonly string[]): Set<string> {
  const seen = new Set<string>(start);
  const queue = [...start];
  for (let i = 0; i < queue.length; i++) {
    for (const n of next(queue[i]!)) {
      if (!seen.has(n)) {
        seen.add(n);
        queue.push(n);
      }
    }
  }
  return seen;
}

/**
 * The selected tasks of `graph`, in its topological order. Throws {@link UsageError} naming any
 * task or tag that does not exist (with "did you mean"), or when the selection is empty.
 */
export function selectTasks(graph: Graph, selection: Selection): string[] {
  const names = graph.order;
  const check = (flag: string, list: readonly string[] | undefined) => {
    for (const t of list ?? []) {
      if (graph.tasks[t] === undefined) {
        throw new UsageError(
          `${flag}: graph "${graph.name}" has no task "${t}".${didYouMean(t, names)}`.replace(
            /\.$/,
            "",
          ),
          `tasks: ${names.join(", ")}`,
        );
      }
    }
  };
  check("--only", selection.only);
  check("--from", selection.from);
  check("--to", selection.to);
  const allTags = new Set(names.flatMap((t) => graph.tasks[t]!.spec.tags));
  for (const tag of selection.tags ?? []) {
    if (!allTags.has(tag)) {
      throw new UsageError(
        `--tags: no task in graph "${graph.name}" has tag "${tag}".${didYouMean(tag, allTags)}`.replace(
          /\.$/,
          "",
        ),
        allTags.size > 0
          ? `tags in this graph: ${[...allTags].sort().join(", ")}`
          : "this graph's tasks have no tags",
      );
    }
  }
  let selected = new Set(names);
  const narrow = (s: Set<string>) => {
    selected = new Set([...selected].filter((t) => s.has(t)));
  };
  if (selection.only?.length) narrow(new Set(selection.only));
  if (selection.from?.length) narrow(closure(selection.from, (t) => graph.dependents[t] ?? []));
  if (selection.to?.length) narrow(closure(selection.to, (t) => graph.tasks[t]!.deps));
  if (selection.tags?.length) {
    const tags = new Set(selection.tags);
    narrow(new Set(names.filter((t) => graph.tasks[t]!.spec.tags.some((x) => tags.has(x)))));
  }
  if (selected.size === 0) {
    throw new UsageError(
      "the selection matches no task",
      "--from and --to together select the tasks between them; check that the --from task is upstream of the --to task",
    );
  }
  return names.filter((t) => selected.has(t));
}
