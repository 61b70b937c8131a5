import { appendFileSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { type RunEvent, stampEvents } from "../../src/exec/run-events.js";
import {
  followRunEvents,
  latestRun,
  openRunEventLog,
  runEventsPath,
} from "../../src/session/run-events-log.js";

const counts = { total: 0, done: 0, fresh: 0, failed: 0, skipped: 0, cancelled: 0 };

function tempRoot(): string {
  return mkdtempSync(path.join(os.tmpdir(), "dagwright-events-"));
}

/** Resolves once `check` holds, looking every few milliseconds. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 5));
}

describe("followRunEvents", () => {
  it("hands on whole lines only, waits for the file, and stops after run-end", async () => {
    const root = tempRoot();
    const file = runEventsPath(root, "r1");
    const seen: string[] = [];
    const following = followRunEvents(file, (e) => seen.push(e.type), { intervalMs: 5 });
    await new Promise((r) => setTimeout(r, 20)); // the log does not exist yet
    const start = JSON.stringify({ type: "run-start", runId: "r1", time: "t" });
    // A line written in two pieces is handed on once it is whole.
    mkdirSync(path.dirname(file), { recursive: true });
    appendFileSync(file, start.slice(0, 10));
    await new Promise((r) => setTimeout(r, 30));
    expect(seen).toEqual([]);
    appendFileSync(file, `${start.slice(10)}\n`);
    await until(() => seen.length === 1);
    appendFileSync(
      file,
      `${JSON.stringify({ type: "run-end", status: "succeeded", counts, durationMs: 1, time: "t" })}\n`,
    );
    expect(await following).toBe("ended");
    expect(seen).toEqual(["run-start", "run-end"]);
  });

  it("stops when its signal aborts, for a run that never ends", async () => {
    const root = tempRoot();
    const log = openRunEventLog(root, "r2", 20);
    stampEvents(log.observer)({
      type: "run-start",
      runId: "r2",
      graph: "g",
      namespace: "g@default",
      tasks: [],
      jobs: 1,
    });
    const controller = new AbortController();
    const seen: RunEvent[] = [];
    const following = followRunEvents(runEventsPath(root, "r2"), (e) => seen.push(e), {
      signal: controller.signal,
      intervalMs: 5,
    });
    await until(() => seen.length === 1);
    controller.abort();
    expect(await following).toBe("aborted");
    log.close();
    expect(seen[0]?.type).toBe("run-start");
    expect(seen[0]?.time).toMatch(/Z$/);
  });
});

describe("openRunEventLog", () => {
  it("writes an event-loop turn's events with one write, and run-end at once", async () => {
    const root = tempRoot();
    const log = openRunEventLog(root, "r3", 20);
    const emit = stampEvents(log.observer);
    const file = runEventsPath(root, "r3");
    emit({ type: "task-fresh", task: "a" });
    emit({ type: "task-fresh", task: "b" });
    expect(readFileSync(file, "utf8")).toBe("");
    await new Promise((r) => setImmediate(r));
    expect(readFileSync(file, "utf8").split("\n")).toHaveLength(3);
    emit({ type: "run-end", status: "succeeded", counts, durationMs: 1 });
    expect(readFileSync(file, "utf8")).toContain('"type":"run-end"');
    log.close();
  });

  it("latestRun is the run started last, whichever log was written last", () => {
    const root = tempRoot();
    const first = openRunEventLog(root, "zzz-older", 20);
    first.observer({
      type: "run-start",
      runId: "zzz-older",
      graph: "g",
      namespace: "n",
      tasks: [],
      jobs: 1,
      time: "2026-01-01T00:00:00.000Z",
    });
    const second = openRunEventLog(root, "aaa-newer", 20);
    second.observer({
      type: "run-start",
      runId: "aaa-newer",
      graph: "g",
      namespace: "n",
      tasks: [],
      jobs: 1,
      time: "2026-01-01T00:00:01.000Z",
    });
    second.close();
    // The older run is still going and writes after the newer one started.
    first.observer({ type: "run-end", status: "succeeded", counts, durationMs: 1, time: "x" });
    first.close();
    expect(latestRun(root)?.runId).toBe("aaa-newer");
  });
});
