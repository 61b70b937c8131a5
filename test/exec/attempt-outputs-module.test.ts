import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { moveOutputsAside } from "../../src/exec/attempt-outputs.js";
import type { PlanContext } from "../../src/plan/plan-task.js";
import { makeProject } from "../helpers.js";

/** The two fields moving outputs aside reads. */
const planAt = (root: string) => ({ spec: { root }, outputsDir: root }) as unknown as PlanContext;

const read = (root: string, rel: string) => readFileSync(path.join(root, rel), "utf8");
const asideOf = (root: string) => readdirSync(path.join(root, ".dagwright", "aside")).sort();

describe("moveOutputsAside", () => {
  it("moves nothing and costs nothing for in-place and duckdb outputs", async () => {
    const root = makeProject({ "db.duckdb": "old" });
    const plan = planAt(root);
    expect(await moveOutputsAside(plan, { task: "a" }, ["duckdb://x"], [])).toBeUndefined();
    expect(await moveOutputsAside(plan, { task: "a" }, ["db.duckdb"], ["db.duckdb"])).toBe(
      undefined,
    );
    expect(read(root, "db.duckdb")).toBe("old");
  });

  it("puts back a nested file, a long path and a whole directory after a failed attempt", async () => {
    const long = `deep/${"x".repeat(120)}/${"y".repeat(120)}.csv`;
    const root = makeProject({
      "out/sub/a.csv": "old a",
      [long]: "old long",
      "dir/one.txt": "old one",
    });
    const plan = planAt(root);
    const aside = await moveOutputsAside(plan, { task: "t" }, ["out/sub/a.csv", long, "dir"]);
    expect(existsSync(path.join(root, "out/sub/a.csv"))).toBe(false);
    expect(existsSync(path.join(root, "dir"))).toBe(false);
    // The attempt writes part of its outputs, then fails.
    writeFileSync(path.join(root, "out/sub/a.csv"), "partial");
    mkdirSync(path.join(root, "dir"));
    writeFileSync(path.join(root, "dir", "two.txt"), "partial");
    await aside!.restore();
    expect(read(root, "out/sub/a.csv")).toBe("old a");
    expect(read(root, long)).toBe("old long");
    expect(readdirSync(path.join(root, "dir"))).toEqual(["one.txt"]);
    expect(asideOf(root)).toEqual([]);
  });

  it("after a crash, puts back only the crashed owner's copies, at its next attempt", async () => {
    const root = makeProject({ "a.txt": "old a", "b/x.txt": "old bx" });
    const plan = planAt(root);
    const a = await moveOutputsAside(plan, { task: "a" }, ["a.txt"]);
    const b = await moveOutputsAside(plan, { task: "b", item: "x" }, ["b/x.txt"]);
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    // The runner dies here; task a's next attempt starts, exits 0 having written nothing.
    writeFileSync(path.join(root, "a.txt"), "partial");
    const again = await moveOutputsAside(plan, { task: "a" }, ["a.txt"]);
    expect(existsSync(path.join(root, "a.txt"))).toBe(false);
    expect(asideOf(root)).toEqual(["a=a.txt", "b@x=b%2Fx.txt"]);
    await again!.restore();
    expect(read(root, "a.txt")).toBe("old a");
    expect(asideOf(root)).toEqual(["b@x=b%2Fx.txt"]);
  });

  it("deletes the earlier copies once the attempt is recorded", async () => {
    const root = makeProject({ "o/r.csv": "old", "o/s.csv": "old" });
    const aside = await moveOutputsAside(planAt(root), { task: "t" }, ["o/*.csv"]);
    writeFileSync(path.join(root, "o/r.csv"), "new");
    aside!.discard();
    expect(readdirSync(path.join(root, "o"))).toEqual(["r.csv"]);
    expect(asideOf(root)).toEqual([]);
  });
});
