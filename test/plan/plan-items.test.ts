import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { FingerprintParts } from "../../src/fingerprint/fingerprint.js";
import { hashValue } from "../../src/fingerprint/hash-value.js";
import type { GraphTask } from "../../src/graph/graph.js";
import type { TaskItem } from "../../src/plan/expand-items.js";
import { itemParts, PlanFingerprint, planFingerprint } from "../../src/plan/plan-items.js";
import { makeTask } from "../helpers.js";

// Item fingerprints are stored: the shortcuts planItems takes for 100,000-item fan-outs must give
// exactly the hashes of the plain definitions, or every item of every project would rerun.
const base: FingerprintParts = {
  definition: "d",
  code: { "each.py": "c" },
  args: "",
  config: { region: "cfg" },
  env: { TZ: "e" },
  inputs: {},
  upstream: { items: { outputs: "o", result: null } },
  runtime: { python3: "3.11.7" },
};
const json = fc.jsonValue({ maxDepth: 3 });
const scalar = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null));

function graphTask(args: Record<string, unknown>): GraphTask {
  const spec = makeTask({ name: "each", kind: "python", args: args as never });
  return { name: "each", spec, deps: ["items"], args } as unknown as GraphTask;
}

describe("item fingerprints", () => {
  it("hash an item's args part as hashValue({ args, item }), with or without the precomputed args JSON", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), json),
        fc.dictionary(fc.string(), scalar, { minKeys: 1 }),
        (args, values) => {
          const task = graphTask(args);
          const item: TaskItem = { key: "k", values, outputs: [] };
          const expected = hashValue({ args: task.args, item: values });
          expect(itemParts(base, task, item).args).toBe(expected);
          expect(itemParts(base, task, item, JSON.stringify(null)).args).not.toBe(expected);
        },
      ),
    );
  });

  it("hash the plan as hashValue of its [key, fingerprint] pairs in item order, however it is paged", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string(), { maxLength: 20 }),
        fc.integer({ min: 1, max: 7 }),
        (keys, pageSize) => {
          const pairs = keys.map((key, i) => [key, hashValue(i)] as const);
          const paged = new PlanFingerprint();
          for (let i = 0; i < pairs.length; i += pageSize) paged.add(pairs.slice(i, i + pageSize));
          const expected = hashValue(pairs.map(([k, f]) => [k, f]));
          expect(planFingerprint(pairs)).toBe(expected);
          expect(paged.digest()).toBe(expected);
        },
      ),
    );
  });
});
