import type { StateStore, TaskProcessKey, TaskProcessRecord } from "../state/state-store.js";
import { currentBootId, processStartMarker, processTableId } from "../tasks/process-marker.js";
import { groupIsAlive, stopGroup } from "../tasks/run-process.js";

/** As for a task's own timeout or cancel: SIGTERM, this long, then SIGKILL. */
const DEFAULT_GRACE_MS = 5000;

/**
 * Finds the processes that runners of `namespace` on this host recorded (src/exec/process-ledger.ts)
 * and that outlived their runner, and stops each one's process group: SIGTERM, then SIGKILL after
 * `graceMs` (default 5 s) if a member is left. Resolves once they are stopped, to the records of
 * the processes it stopped, oldest first.
 *
 * Never touches a process whose runner still runs (a `dagwright run` holding the namespace's lock,
 * or a lockless one inside a rendered workflow), a process on another host (a shared PostgreSQL
 * store), or a process that only has a recorded one's pid (the start marker differs). Records
 * of processes that are gone, or whose runner is gone, are forgotten. Call it holding the
 * namespace's lock, before starting any task: a task it stops must not be the one about to be run
 * again. Rejects only when the store does.
 */
export async function stopOrphans(
  store: StateStore,
  namespace: string,
  options: { graceMs?: number } = {},
): Promise<TaskProcessRecord[]> {
  const records = await store.taskProcesses(namespace, processTableId());
  if (records.length === 0) return [];
  const settled: TaskProcessKey[] = [];
  const orphans: TaskProcessRecord[] = [];
  for (const r of records) {
    if (processStartMarker(r.runnerPid) === r.runnerMarker) continue;
    settled.push({ host: r.host, pid: r.pid, startMarker: r.startMarker });
    if (stillRuns(r)) orphans.push(r);
  }
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  await Promise.all(orphans.map((r) => stopGroup(r.pgid, graceMs)));
  if (settled.length > 0) await store.updateTaskProcesses({ ended: settled });
  return orphans;
}

/**
 * Whether anything of the recorded process's group runs: its leader (same start marker), or,
 * once the leader is gone, members left in its group during this boot. No process has the
 * leader's pid then, so no other group can have taken its id.
 */
function stillRuns(r: TaskProcessRecord): boolean {
  const marker = processStartMarker(r.pid);
  if (marker !== undefined) return marker === r.startMarker && groupIsAlive(r.pgid);
  const boot = currentBootId();
  return boot !== undefined && r.startMarker.startsWith(`${boot}:`) && groupIsAlive(r.pgid);
}

/** The line `run` prints for a process {@link stopOrphans} stopped. */
export function describeOrphan(r: TaskProcessRecord): string {
  const item = r.item === "" ? "" : ` item ${r.item}`;
  return `stopped an orphaned process of ${r.task}${item} (pid ${r.pid}) left by a crashed run`;
}
