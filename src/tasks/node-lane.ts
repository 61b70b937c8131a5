import { usesProjectDatabase } from "../spec/duckdb-database.js";
import type { TaskSpec } from "../spec/types.js";
import { type LaunchRequest, type LaunchResult, launchNodeTasks } from "./launch-task.js";
import { poolsOf } from "./worker-pools.js";

// Short function tasks cost a worker round trip each, far more than the call; so a lane task
// (kind node, no timeout, one cpu, no memory claim) takes no slot of its own: it is planned as
// soon as it is ready and queued here, and the queue is sent to the workers in messages of
// several tasks. Each message holds one cpu slot and its tasks run one after another in one
// worker, so -j still bounds how many run at once. How many go in one message follows how long
// that function's calls took so far (a function not seen yet goes alone), so that tasks queued
// behind one another in a worker wait at most LANE_BUDGET_MS or so.

/** How long the calls of a function wait for its first one to tell how long it takes. */
const PROBE_WAIT_MS = 50;
/**
 * About what starting a TS/JS worker thread costs. A batch of short tasks waits for a busy worker
 * due back sooner than this instead of starting a new one.
 */
const WORKER_START_MS = 40;
/** At most this many tasks in one message to a worker… */
const LANE_MAX = 128;
/** … and only as many as the calls so far say take this long in all. */
const LANE_BUDGET_MS = 5;

/** The cpu slots a lane message holds one of while it is in flight (the executor's -j). */
export interface LaneSlots {
  /** Whether one more cpu slot is free now. */
  canTake(): boolean;
  /** Claims one cpu slot for a message about to be sent. */
  take(): void;
  /** Gives the slot back; the owner may start more work. */
  give(): void;
}

/**
 * Whether a task of this definition may go through the lane rather than take a slot of its own:
 * a TS/JS function without a timeout (a message's calls run one after another, so one call's
 * timeout would need its own worker) that claims one cpu and no memory (`claimsOneCpu`), and
 * does not use the project database.
 */
export function isLaneTask(spec: TaskSpec, claimsOneCpu: boolean): boolean {
  return (
    spec.kind === "node" &&
    spec.mapOver === undefined &&
    spec.timeoutSeconds === undefined &&
    spec.file !== undefined &&
    // A task on the project database takes its turn on it, which only launchTask does.
    !usesProjectDatabase(spec) &&
    claimsOneCpu
  );
}

interface LaneEntry {
  req: LaunchRequest;
  key: string;
  begin: () => void;
  resolve: (r: LaunchResult | undefined) => void;
}

/** One batch to send, or why nothing is sent now. */
type Pick =
  | { batch: LaneEntry[]; rest: LaneEntry[]; planned: number }
  | { wakeAt: number | undefined };

/**
 * The TS/JS batching lane of one run: queues lane tasks and sends them to the shared worker pool
 * in messages of several, within the run's cpu slots. Not shared between runs.
 */
export class NodeLane {
  private queue: LaneEntry[] = [];
  private scheduled = false;
  private cancelled = false;
  private readonly callMs = new Map<string, number>();
  // The first call of a function not seen yet is a probe: the others wait for it (up to
  // PROBE_WAIT_MS), as it tells how many fit a message; without it, each would go alone, each
  // to a worker of its own, and a run of short tasks would start a thread per -j for nothing.
  private readonly probes = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  /** Messages in flight, and when they are all expected back (∞ while a probe is out). */
  private inFlight = 0;
  private dueAt = 0;

  /** @param slots the run's cpu slots, which each message in flight holds one of. */
  constructor(private readonly slots: LaneSlots) {}

  /**
   * Launches one lane task; `begin` runs right before its message is sent. Resolves undefined
   * when it never started, since the lane was cancelled meanwhile.
   */
  launch(req: LaunchRequest, begin: () => void): Promise<LaunchResult | undefined> {
    return new Promise((resolve) => {
      if (this.cancelled) {
        resolve(undefined);
        return;
      }
      const key = `${req.task.file}\0${req.task.function ?? req.task.name}`;
      this.queue.push({ req, key, begin, resolve });
      this.schedule();
    });
  }

  /**
   * Sends what the queue holds soon. Tasks planned in the same burst reach the queue one microtask
   * chain after another: they are sent once all have (a tick runs after the promise jobs queued
   * so far). Call it whenever a slot may have come free.
   */
  schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    process.nextTick(() => {
      this.scheduled = false;
      this.dispatch();
    });
  }

  /** Every queued task resolves undefined (never started); later launches too. */
  cancel(): void {
    this.cancelled = true;
    for (const e of this.queue.splice(0)) e.resolve(undefined);
  }

  /** Stops the lane's timer (the run is over). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(at: number, now: number): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.dispatch();
      },
      Math.max(1, at - now),
    );
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      if (this.cancelled) {
        this.cancel();
        return;
      }
      if (!this.slots.canTake()) return;
      const now = performance.now();
      const picked = this.pick(now);
      if ("wakeAt" in picked) {
        // Everything waits for a probe: look again when it is due (or when it returns).
        if (picked.wakeAt !== undefined) this.arm(picked.wakeAt, now);
        return;
      }
      if (this.waitForBusyWorker(picked.batch, picked.planned, now)) return;
      this.queue = picked.rest;
      this.send(picked.batch, picked.planned, now);
    }
  }

  /** The next message: as many queued tasks as fit the budget, in queue order. */
  private pick(now: number): Pick {
    const batch: LaneEntry[] = [];
    const rest: LaneEntry[] = [];
    let planned = 0;
    let full = false;
    let wakeAt = Number.POSITIVE_INFINITY;
    for (const e of this.queue) {
      const est = this.callMs.get(e.key);
      if (est === undefined) {
        const probe = this.probes.get(e.key);
        if (probe !== undefined && now - probe < PROBE_WAIT_MS) {
          wakeAt = Math.min(wakeAt, probe + PROBE_WAIT_MS);
          rest.push(e);
        } else if (batch.length === 0) {
          this.probes.set(e.key, now);
          batch.push(e);
          full = true; // its duration is unknown: it goes alone
        } else rest.push(e);
        continue;
      }
      // As many as fit the budget: splitting short tasks across workers buys nothing (the
      // main thread is what they wait for) and costs a message (and a thread wake-up) each.
      if (full || (batch.length > 0 && planned + est > LANE_BUDGET_MS)) {
        full = true;
        rest.push(e);
        continue;
      }
      batch.push(e);
      planned += est;
      if (batch.length >= LANE_MAX) full = true;
    }
    if (batch.length === 0)
      return { wakeAt: wakeAt === Number.POSITIVE_INFINITY ? undefined : wakeAt };
    return { batch, rest, planned };
  }

  /**
   * Short work while a warm worker is due back within a worker's start-up: starting another
   * thread would make these tasks (and everything after them) wait longer than that worker.
   * Looked at again when it returns, or once it is overdue.
   */
  private waitForBusyWorker(batch: LaneEntry[], planned: number, now: number): boolean {
    const dueIn = this.dueAt - now;
    const probe = !this.callMs.has(batch[0]!.key);
    if (
      this.inFlight > 0 &&
      !probe &&
      planned < WORKER_START_MS &&
      dueIn < WORKER_START_MS &&
      dueIn > -WORKER_START_MS &&
      !poolsOf(batch[0]!.req).node(batch[0]!.req.root).hasIdleWorker()
    ) {
      this.arm(this.dueAt + WORKER_START_MS, now);
      return true;
    }
    return false;
  }

  private send(batch: LaneEntry[], planned: number, now: number): void {
    const probe = !this.callMs.has(batch[0]!.key);
    this.slots.take();
    this.inFlight++;
    this.dueAt = Math.max(this.dueAt, probe ? Number.POSITIVE_INFINITY : now + planned);
    for (const e of batch) e.begin();
    launchNodeTasks(
      batch.map((e) => e.req),
      (i, r, ms) => {
        const e = batch[i]!;
        if (ms !== undefined) {
          const before = this.callMs.get(e.key);
          this.callMs.set(
            e.key,
            before === undefined || ms > before ? ms : before * 0.7 + ms * 0.3,
          );
        }
        e.resolve(r);
      },
    )
      .catch((err: unknown) => {
        for (const e of batch)
          e.resolve({
            status: "failed",
            error: (err as Error).message,
            durationMs: 0,
            logTail: [],
          });
      })
      .then(() => {
        if (--this.inFlight === 0) this.dueAt = 0;
        this.slots.give();
      });
  }
}
