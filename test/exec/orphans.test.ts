import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { stopOrphans } from "../../src/exec/orphans.js";
import { ProcessLedger } from "../../src/exec/process-ledger.js";
import { openSqliteStore, type SqliteStateStore } from "../../src/state/sqlite-store.js";
import type { TaskProcessRecord } from "../../src/state/state-store.js";
import { processStartMarker, processTableId } from "../../src/tasks/process-marker.js";
import { groupIsAlive } from "../../src/tasks/run-process.js";

const NS = "g@main";
const ME = { runnerPid: process.pid, runnerMarker: processStartMarker(process.pid)! };
/** A runner that is gone: this pid, but another start. */
const GONE = { runnerPid: process.pid, runnerMarker: "boot:0" };

let store: SqliteStateStore;
const children: ChildProcess[] = [];

beforeEach(() => {
  store = openSqliteStore(":memory:");
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    try {
      process.kill(-c.pid!, "SIGKILL");
    } catch {}
  }
  await store.close();
});

/** A process leading its own group, as tasks run. */
function startGroup(script: string): ChildProcess {
  const child = spawn("sh", ["-c", script], {
    detached: true,
    stdio: ["ignore", "pipe", "ignore"],
  });
  children.push(child);
  return child;
}

function recordOf(
  child: ChildProcess,
  runner: { runnerPid: number; runnerMarker: string },
  extra: Partial<TaskProcessRecord> = {},
): TaskProcessRecord {
  const pid = child.pid!;
  return {
    namespace: NS,
    task: "slow",
    item: "",
    host: processTableId(),
    pid,
    pgid: pid,
    startMarker: processStartMarker(pid)!,
    ...runner,
    since: Date.now(),
    ...extra,
  };
}

describe("stopOrphans", () => {
  it("stops the group of a process whose runner is gone and forgets it", async () => {
    const child = startGroup("sleep 60");
    await store.updateTaskProcesses({ started: [recordOf(child, GONE)] });
    const stopped = await stopOrphans(store, NS, { graceMs: 2000 });
    expect(stopped.map((p) => p.pid)).toEqual([child.pid]);
    expect(groupIsAlive(child.pid!)).toBe(false);
    expect(await store.taskProcesses(NS, processTableId())).toEqual([]);
  });

  it("leaves alone the processes of a runner that still runs", async () => {
    const child = startGroup("sleep 60");
    const record = recordOf(child, ME);
    await store.updateTaskProcesses({ started: [record] });
    expect(await stopOrphans(store, NS)).toEqual([]);
    expect(groupIsAlive(child.pid!)).toBe(true);
    expect(await store.taskProcesses(NS, processTableId())).toEqual([record]);
  });

  it("never signals a process that only has a recorded pid (another start), nor one on another host", async () => {
    const recycled = startGroup("sleep 60");
    const elsewhere = startGroup("sleep 60");
    const remote = recordOf(elsewhere, GONE, { host: `not-${processTableId()}` });
    await store.updateTaskProcesses({
      started: [recordOf(recycled, GONE, { startMarker: "boot:1" }), remote],
    });
    expect(await stopOrphans(store, NS)).toEqual([]);
    expect(groupIsAlive(recycled.pid!)).toBe(true);
    expect(groupIsAlive(elsewhere.pid!)).toBe(true);
    expect(await store.taskProcesses(NS, processTableId())).toEqual([]);
    expect(await store.taskProcesses(NS, remote.host)).toEqual([remote]);
  });

  it("stops what is left of a group whose leader has ended", async () => {
    const child = startGroup("sleep 60 & echo started; wait");
    await once(child.stdout!, "data"); // its sleep runs
    const record = recordOf(child, GONE);
    process.kill(child.pid!, "SIGKILL"); // the leader only: its `sleep` stays in the group
    await once(child, "exit");
    expect(groupIsAlive(record.pgid)).toBe(true);
    await store.updateTaskProcesses({ started: [record] });
    expect((await stopOrphans(store, NS, { graceMs: 2000 })).map((p) => p.pid)).toEqual([
      child.pid,
    ]);
    expect(groupIsAlive(record.pgid)).toBe(false);
  });
});

describe("ProcessLedger", () => {
  it("records a process while it runs and forgets it when it ends; one that ends at once is never written", async () => {
    const ledger = new ProcessLedger(store, NS, 5);
    const hooks = ledger.hooks("f", "NC")!;
    const child = startGroup("sleep 60");
    hooks.started(child.pid!);
    await ledger.close();
    expect(await store.taskProcesses(NS, processTableId())).toMatchObject([
      { task: "f", item: "NC", pid: child.pid, pgid: child.pid, ...ME },
    ]);
    hooks.ended(child.pid!);
    const brief = startGroup("sleep 60");
    hooks.started(brief.pid!);
    hooks.ended(brief.pid!);
    await ledger.close();
    expect(await store.taskProcesses(NS, processTableId())).toEqual([]);
  });

  it("never judges a record of another PID namespace on the same host name (containers)", async () => {
    const child = startGroup("sleep 60");
    const sameName = `${processTableId().split(" ")[0]} pid:[1]`;
    const other = recordOf(child, GONE, { host: sameName });
    await store.updateTaskProcesses({ started: [other] });
    expect(await stopOrphans(store, NS)).toEqual([]);
    expect(await store.taskProcesses(NS, sameName)).toEqual([other]);
    expect(groupIsAlive(child.pid!)).toBe(true);
  });
});
