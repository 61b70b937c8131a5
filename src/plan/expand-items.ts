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
 * The items of mapped `task` from its producer's cached result: one per list element, combos
 * (`a,b`) from tuples. Rejects, before anything runs: a result that is not a list, a tuple of the
 * wrong length, an empty-string item, two items with the same key, two items that would write the same output path, and
 * an item value that steers an output path outside its directory (DESIGN.md invariant 5).
 */
export function expandItems(task: GraphTask, producer: string, result: unknown): TaskItem[] {
  const names = task.spec.mapOver ?? [];
  if (!Array.isArray(result)) {
    throw new DagwrightError(
      "E_TASK",
      `task "${task.name}" maps over the result of "${producer}", which is ${result === null ? "null" : typeof result}, not a list`,
      {
        hint: `make "${producer}" return a list (it is stored because of cache_result: true)`,
      },
    );
  }
  const items: TaskItem[] = [];
  const byKey = new Map<string, number>();
  const byOutput = new Map<string, string>();
  result.forEach((element, index) => {
    let values: ItemValues;
    if (names.length === 1) values = { [names[0]!]: scalar(task.name, index, element) };
    else {
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
    }
    const key = names.map((n) => String(values[n])).join(",");
    if (key === "") {
      // The empty key is the whole task's own record in the state store, and `--item ""`
      // could not address it.
      throw new DagwrightError(
        "E_TASK",
        `task "${task.name}": item ${index} of "${producer}" is the empty string; an item needs a non-empty value`,
        { hint: `leave empty values out of the list "${producer}" returns` },
      );
    }
    const seen = byKey.get(key);
    if (seen !== undefined) {
      throw new DagwrightError(
        "E_TASK",
        `task "${task.name}": items ${seen} and ${index} of "${producer}" have the same key "${key}"`,
        {
          hint: "each item must be unique; remove duplicates from the list",
        },
      );
    }
    byKey.set(key, index);
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
      if (!/\$\{/.test(task.spec.outputs[i]!)) continue; // the same fixed path for every item is shared, not a clash
      const other = byOutput.get(norm);
      if (other !== undefined && other !== key) {
        throw new DagwrightError(
          "E_TASK",
          `task "${task.name}": items "${other}" and "${key}" would both write ${norm}`,
          {
            hint: `use every iterable name (${names.map((n) => `\${${n}}`).join(", ")}) in the output pattern`,
          },
        );
      }
      byOutput.set(norm, key);
    }
    items.push({ key, values, outputs });
  });
  return items;
}

/** Fills `${name}` in a pattern with an item's values; other `${VAR}` stay (globbed later). */
export function fillItem(pattern: string, values: ItemValues): string {
  return pattern.replace(/\$\{([^}]+)\}/g, (whole, name: string) =>
    name in values ? String(values[name]) : whole,
  );
}

/** Picks items by key for `run-task --item`, with a suggestion for a near miss. */
export function pickItem(task: string, items: readonly TaskItem[], key: string): TaskItem {
  const found = items.find((i) => i.key === key);
  if (found) return found;
  throw new DagwrightError(
    "E_USAGE",
    `task "${task}" has no item "${key}".${didYouMean(
      key,
      items.map((i) => i.key),
    )}`.replace(/\.$/, ""),
    {
      hint:
        items.length > 0
          ? `items: ${items
              .slice(0, 10)
              .map((i) => i.key)
              .join(" | ")}${items.length > 10 ? ` … (${items.length})` : ""}`
          : "the list is empty",
    },
  );
}
