import path from "node:path";
import type { GraphTask } from "../graph/graph.js";
import { didYouMean } from "../spec/did-you-mean.js";
import { DagwrightError } from "../spec/errors.js";

/** Values of one item, by `iterable_item` name. */
export type ItemValues = Record<string, string | number | boolean | null>;

/** One item of a mapped task: its key (kptn's `"v1,v2"`), its values and its resolved outputs. */
export interface TaskItem {
  key: string;
  values: ItemValues;
  /** Output patterns with this item's `${name}` filled in. */
  outputs: string[];
}

function scalar(task: string, index: number, v: unknown): string | number | boolean | null {
  if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean")
    return v;
  throw new DagwrightError(
    "E_TASK",
    `task "${task}": item ${index} is ${Array.isArray(v) ? "a list" : typeof v}, but map_over needs strings, numbers or booleans`,
    {
      hint: "return a list of scalars, or a list of tuples for a combo iterable_item like `a,b`",
    },
  );
}

/**
 * The items of a mapped task, in list order. A plain `TaskItem[]` is one; {@link listItems}
 * returns one that builds each item when asked, so a 1,000,000-item list is held once (the
 * producer's result), not again as item objects.
 */
export interface ItemList {
  readonly length: number;
  /** The item at `index` (0 ≤ index < length); undefined outside. */
  at(index: number): TaskItem | undefined;
}

/**
 * The items of mapped `task` from its producer's cached result: one per list element, combos
 * (`a,b`) from tuples. Rejects, before anything runs: a result that is not a list, a tuple of the
 * wrong length, an empty-string item, two items with the same key, two items that would write the
 * same output path, and an item value that steers an output path outside its directory
 * (DESIGN.md invariant 5). The whole list is checked here; its items are built again on each
 * `at`, which costs less than keeping them.
 */
export function listItems(task: GraphTask, producer: string, result: unknown): ItemList {
  if (!Array.isArray(result)) {
    throw new DagwrightError(
      "E_TASK",
      `task "${task.name}" maps over the result of "${producer}", which is ${result === null ? "null" : typeof result}, not a list`,
      {
        hint: `make "${producer}" return a list (it is stored because of cache_result: true)`,
      },
    );
  }
  const list: readonly unknown[] = result;
  const byKey = new Map<string, number>();
  const byOutput = new Map<string, string>();
  for (let index = 0; index < list.length; index++) {
    const item = expandItem(task, producer, list[index], index);
    const seen = byKey.get(item.key);
    if (seen !== undefined) {
      throw new DagwrightError(
        "E_TASK",
        `task "${task.name}": items ${seen} and ${index} of "${producer}" have the same key "${item.key}"`,
        {
          hint: "each item must be unique; remove duplicates from the list",
        },
      );
    }
    byKey.set(item.key, index);
    checkOutputClash(task, item, byOutput);
  }
  return {
    length: list.length,
    at: (index) =>
      index >= 0 && index < list.length
        ? expandItem(task, producer, list[index], index)
        : undefined,
  };
}

/** {@link listItems} as an array of every item. */
export function expandItems(task: GraphTask, producer: string, result: unknown): TaskItem[] {
  const list = listItems(task, producer, result);
  return Array.from({ length: list.length }, (_, i) => list.at(i)!);
}

/** One element of the producer's list as an item; rejects what {@link listItems} says. */
function expandItem(task: GraphTask, producer: string, element: unknown, index: number): TaskItem {
  const names = task.spec.mapOver ?? [];
  let values: ItemValues;
  let key: string;
  if (names.length === 1) {
    const v = scalar(task.name, index, element);
    values = { [names[0]!]: v };
    // A string item's key is the list's own string, not a copy.
    key = String(v);
  } else {
    if (!Array.isArray(element) || element.length !== names.length) {
      throw new DagwrightError(
        "E_TASK",
        `task "${task.name}": item ${index} of "${producer}" should be a list of ${names.length} values (${names.join(", ")})`,
        {
          hint: `return tuples like ${JSON.stringify(names.map((n) => `<${n}>`))}`,
        },
      );
    }
    values = Object.fromEntries(names.map((n, i) => [n, scalar(task.name, index, element[i])]));
    key = names.map((n) => String(values[n])).join(",");
  }
  if (key === "") {
    // The empty key is the whole task's own record in the state store, and `--item ""`
    // could not address it.
    throw new DagwrightError(
      "E_TASK",
      `task "${task.name}": item ${index} of "${producer}" is the empty string; an item needs a non-empty value`,
      { hint: `leave empty values out of the list "${producer}" returns` },
    );
  }
  const outputs = task.spec.outputs.map((pattern) => fillItem(pattern, values));
  for (const [i, out] of outputs.entries()) {
    if (out.startsWith("duckdb://")) continue;
    const norm = path.posix.normalize(out.replaceAll("\\", "/"));
    if (
      norm === ".." ||
      norm.startsWith("../") ||
      path.posix.isAbsolute(norm) ||
      norm.includes("\0")
    ) {
      throw new DagwrightError(
        "E_TASK",
        `task "${task.name}", item "${key}": output ${JSON.stringify(task.spec.outputs[i])} becomes ${JSON.stringify(out)}, outside the project`,
        {
          hint: "item values used in output paths must not contain '..' or start with '/'",
        },
      );
    }
  }
  return { key, values, outputs };
}

/** Rejects an item writing a path an earlier item writes (`byOutput`: path → that item's key). */
function checkOutputClash(task: GraphTask, item: TaskItem, byOutput: Map<string, string>): void {
  for (const [i, out] of item.outputs.entries()) {
    // The same fixed path for every item is shared, not a clash; a `${VAR}` no item value
    // filled is a glob (kptn), which cannot be shown to clash.
    if (out.startsWith("duckdb://") || !/\$\{/.test(task.spec.outputs[i]!) || /\$\{/.test(out))
      continue;
    const norm = path.posix.normalize(out.replaceAll("\\", "/"));
    const other = byOutput.get(norm);
    if (other !== undefined && other !== item.key) {
      const names = task.spec.mapOver ?? [];
      throw new DagwrightError(
        "E_TASK",
        `task "${task.name}": items "${other}" and "${item.key}" would both write ${norm}`,
        {
          hint: `use every iterable name (${names.map((n) => `\${${n}}`).join(", ")}) in the output pattern`,
        },
      );
    }
    byOutput.set(norm, item.key);
  }
}

/** Fills `${name}` in a pattern with an item's values; other `${VAR}` stay (globbed later). */
export function fillItem(pattern: string, values: ItemValues): string {
  return pattern.replace(/\$\{([^}]+)\}/g, (whole, name: string) =>
    name in values ? String(values[name]) : whole,
  );
}

/**
 * {@link pickItem} for several keys in one pass over the list (a pod's bundle names a thousand
 * items of a list that may hold a million), in the order of `keys`. Throws for the first key
 * the list does not hold, as {@link pickItem} does.
 */
export function pickItems(task: string, items: ItemList, keys: readonly string[]): TaskItem[] {
  const found = new Map<string, TaskItem | undefined>(keys.map((k) => [k, undefined]));
  let missing = found.size;
  for (let i = 0; i < items.length && missing > 0; i++) {
    const item = items.at(i)!;
    if (found.has(item.key) && found.get(item.key) === undefined) {
      found.set(item.key, item);
      missing--;
    }
  }
  return keys.map((k) => found.get(k) ?? pickItem(task, items, k));
}

/** Picks items by key for `run-task --item`, with a suggestion for a near miss. */
export function pickItem(task: string, items: ItemList, key: string): TaskItem {
  for (let i = 0; i < items.length; i++) {
    const item = items.at(i)!;
    if (item.key === key) return item;
  }
  const keys = Array.from({ length: items.length }, (_, i) => items.at(i)!.key);
  throw new DagwrightError(
    "E_USAGE",
    `task "${task}" has no item "${key}".${didYouMean(key, keys)}`.replace(/\.$/, ""),
    {
      hint:
        keys.length > 0
          ? `items: ${keys.slice(0, 10).join(" | ")}${keys.length > 10 ? ` … (${keys.length})` : ""}`
          : "the list is empty",
    },
  );
}
