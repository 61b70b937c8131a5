import { describe, expect, it } from "vitest";
import { GroupCommit } from "../../src/state/group-commit.js";

/** A commit that records each batch it is given and fails any batch holding "bad". */
function recording() {
  const batches: string[][] = [];
  const group = new GroupCommit<string, string>((entries) => {
    batches.push([...entries]);
    if (entries.includes("bad")) throw new Error("bad entry");
    return entries.map((e) => e.toUpperCase());
  });
  return { batches, group };
}

describe("group commit", () => {
  it("commits the calls of one turn of the event loop in one batch, each getting its own results", async () => {
    const { batches, group } = recording();
    const [a, b] = await Promise.all([group.submit(["a", "b"]), group.submit(["c"])]);
    expect(a).toEqual(["A", "B"]);
    expect(b).toEqual(["C"]);
    expect(batches).toEqual([["a", "b", "c"]]);
    expect(await group.submit(["d"])).toEqual(["D"]);
    expect(batches.at(-1)).toEqual(["d"]);
  });

  it("retries each call alone when the batch fails, so only the bad call rejects", async () => {
    const { batches, group } = recording();
    const results = await Promise.allSettled([
      group.submit(["a"]),
      group.submit(["bad", "b"]),
      group.submit(["c"]),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(batches).toEqual([["a", "bad", "b", "c"], ["a"], ["bad", "b"], ["c"]]);
  });

  it("commits at once when asked, with whatever was queued", async () => {
    const { batches, group } = recording();
    const queued = group.submit(["a"]);
    const now = group.submit(["b"], { now: true });
    // A synchronous commit has run by the time submit returns.
    expect(batches).toEqual([["a", "b"]]);
    expect(await queued).toEqual(["A"]);
    expect(await now).toEqual(["B"]);
    expect(await group.submit([])).toEqual([]);
    expect(batches).toHaveLength(1);
  });

  it("drain waits for a commit already running and for calls submitted meanwhile", async () => {
    const started: string[][] = [];
    let release: (() => void) | undefined;
    const group = new GroupCommit<string, string>(async (entries) => {
      started.push([...entries]);
      if (started.length === 1) await new Promise<void>((r) => (release = r));
      return entries.map((e) => e.toUpperCase());
    });
    const first = group.submit(["a"]);
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([["a"]]);
    let drained = false;
    const draining = group.drain().then(() => (drained = true));
    const late = group.submit(["b"]);
    await new Promise((r) => setTimeout(r, 20));
    expect(drained).toBe(false);
    release!();
    await draining;
    expect(await first).toEqual(["A"]);
    expect(await late).toEqual(["B"]);
    expect(started).toEqual([["a"], ["b"]]);
  });
});
