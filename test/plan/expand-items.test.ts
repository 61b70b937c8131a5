import { describe, expect, it } from "vitest";
import type { GraphTask } from "../../src/graph/graph.js";
import { listItems, pickItems } from "../../src/plan/expand-items.js";
import { makeTask } from "../helpers.js";

function mapped(outputs: string[] = []): GraphTask {
  const spec = makeTask({ name: "each", kind: "python", mapOver: ["n"], outputs } as never);
  return { name: "each", spec, deps: ["items"], args: {} } as unknown as GraphTask;
}

describe("items of a mapped task", () => {
  it("builds each item from the producer's list when asked, with its key and filled outputs", () => {
    const items = listItems(mapped(["out/${n}.txt"]), "items", ["a", 2, true]);
    expect(items.length).toBe(3);
    expect(items.at(1)).toEqual({ key: "2", values: { n: 2 }, outputs: ["out/2.txt"] });
    expect(items.at(3)).toBeUndefined();
  });

  it("rejects the whole list up front when two items share a key", () => {
    expect(() => listItems(mapped(), "items", ["a", "b", "a"])).toThrow(
      'task "each": items 0 and 2 of "items" have the same key "a"',
    );
  });

  it("picks a bundle's items in the order asked, and names a key the list does not hold", () => {
    const items = listItems(
      mapped(),
      "items",
      Array.from({ length: 1000 }, (_, i) => `k${i}`),
    );
    expect(pickItems("each", items, ["k7", "k3", "k7"]).map((i) => i.key)).toEqual([
      "k7",
      "k3",
      "k7",
    ]);
    expect(() => pickItems("each", items, ["k3", "k10000"])).toThrow(
      'task "each" has no item "k10000"',
    );
  });
});
