import { type ChildProcess, spawn } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { signalGroup, startError, stopGroup, trackGroup, untrackGroup } from "./run-process.js";

const WORKER_SCRIPT = fileURLToPath(new URL("../../runtime/dagwright_worker.py", import.meta.url));
// The last bytes of a worker's own stderr (outside calls), for a worker that fails to start.
const STDERR_TAIL_BYTES = 2048;

/** One call of a Python function over the items of one bundle, in one warm worker. */
export interface PythonCall {
  /** The interpreter; workers are shared only between calls naming the same one. */
  python: string;
  /** Absolute path of the task file; a call goes to a worker that imported it when one is idle. */
  file: string;
  /** Project root: the worker's directory while it starts (each call chdirs to its own root). */
  cwd: string;
  /**
   * Everything the worker's protocol asks for except `id` (see runtime/dagwright_worker.py):
   * task, file, display, function, function_explicit, root, env, inputs, pipeline_config, items,
   * log_path. Serialized as JSON.
   */
  request: Record<string, unknown> & { items: readonly unknown[] };
  /**
   * Per item: how long one item may run, from the end of the previous one (the first item's
   * time starts when the worker is ready, and includes importing the module).
   */
  timeoutMs?: number;
  /** SIGTERM → this many ms → SIGKILL, for timeouts and cancellation. */
  killGraceMs: number;
  signal?: AbortSignal;
}

/** One item's reply, as the worker sent it. */
export interface PythonItemReply {
  ok: boolean;
  result?: unknown;
  error?: string;
  ms: number;
}

/**
 * How a call ended. `items` holds the replies of the first `items.length` items, in order.
 * - `done`: every item replied, or `error` failed the whole call before any item ran (import).
 * - `script`: the file does not define the function; nothing ran (run the items as scripts).
 * - `crashed`: the worker died (`error`: "worker crashed (exit code 1)"); the item after the last
 *   reply was running. `timeout` / `cancelled`: the worker was stopped while that item ran.
 * - `not-started`: the interpreter could not be started (`error` says why).
 */
export interface PythonCallOutcome {
  ended: "done" | "script" | "crashed" | "timeout" | "cancelled" | "not-started";
  items: PythonItemReply[];
  error?: string;
  /** How long the unfinished item had been running (crashed, timeout, cancelled). */
  inFlightMs?: number;
  peakRssKb?: number;
  cpuMs?: number;
}

interface Slot {
  child: ChildProcess;
  pid: number;
  python: string;
  /** Task files this worker has imported. */
  warm: Set<string>;
  ready: boolean;
  call?: Running;
  partial: string;
  stderrTail: string;
  closed: boolean;
  /** Set once the worker is being stopped on purpose (timeout, cancel, shutdown). */
  stopping?: "timeout" | "cancelled";
}

interface Running {
  id: number;
  call: PythonCall;
  items: PythonItemReply[];
  lastItemAt: number;
  resolve: (outcome: PythonCallOutcome) => void;
  timer?: NodeJS.Timeout;
  onAbort?: () => void;
}

interface Reply {
  ready?: boolean;
  id?: number;
  i?: number;
  ok?: boolean;
  result?: unknown;
  error?: string;
  ms?: number;
  done?: boolean;
  script?: boolean;
  rusage?: { maxrss_kb?: number; cpu_ms?: number };
}

type Unrefable = { ref?: () => void; unref?: () => void } | null | undefined;

/**
 * Long-lived `python3 runtime/dagwright_worker.py` processes, each serving one call at a time
 * over newline-delimited JSON on its stdin/stdout. A worker imports a task module once and keeps
 * it until the file changes, so an item costs a function call, not an interpreter start.
 *
 * The pool grows on demand up to `size` workers and queues beyond that; a call goes to an idle
 * worker that already imported its file when there is one. Each worker leads its own process
 * group: a timeout or cancel stops the whole group (SIGTERM, then SIGKILL after the grace period)
 * and the worker is replaced on the next call. A worker that dies on its own ends its call as
 * `crashed`. Idle workers are unref'd (child and pipes), so an idle pool never keeps the process
 * alive; they exit when their stdin closes, and are SIGKILLed if this process exits first.
 */
export class PythonWorkerPool {
  private size: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Running[] = [];
  private nextId = 1;

  constructor(size = os.availableParallelism()) {
    this.size = Math.max(1, size);
  }

  /** Changes the most workers kept; idle workers beyond it are stopped. */
  resize(size: number): void {
    this.size = Math.max(1, size);
    const idle = this.slots.filter((s) => s.call === undefined);
    for (const slot of idle.slice(0, Math.max(0, this.slots.length - this.size))) {
      this.retire(slot);
    }
  }

  /** Runs one call. Never rejects: failures are outcomes. */
  run(call: PythonCall): Promise<PythonCallOutcome> {
    if (call.signal?.aborted) return Promise.resolve({ ended: "cancelled", items: [] });
    return new Promise((resolve) => {
      const running: Running = {
        id: this.nextId++,
        call,
        items: [],
        lastItemAt: 0,
        resolve,
      };
      let slot: Slot | undefined;
      try {
        slot = this.pickSlot(call);
      } catch (err) {
        resolve({
          ended: "not-started",
          items: [],
          error: startError({ command: call.python, cwd: call.cwd }, err as NodeJS.ErrnoException),
        });
        return;
      }
      if (slot === undefined) {
        running.onAbort = () => {
          const i = this.queue.indexOf(running);
          if (i >= 0) this.queue.splice(i, 1);
          resolve({ ended: "cancelled", items: [] });
        };
        call.signal?.addEventListener("abort", running.onAbort, { once: true });
        this.queue.push(running);
      } else {
        this.start(slot, running);
      }
    });
  }

  /** Stops every worker; running and queued calls end as cancelled. */
  async shutdown(): Promise<void> {
    for (const running of this.queue.splice(0)) {
      this.release(running);
      running.resolve({ ended: "cancelled", items: [], error: "the worker pool was shut down" });
    }
    const slots = this.slots.splice(0);
    await Promise.all(
      slots.map(async (slot) => {
        if (slot.call !== undefined) {
          await this.stop(slot, slot.call, "cancelled", 0);
        } else {
          this.retire(slot);
        }
        await this.closed(slot);
      }),
    );
  }

  /** Settles once the worker's process and pipes are closed; keeps the event loop alive till then. */
  private closed(slot: Slot): Promise<void> {
    if (slot.closed) return Promise.resolve();
    this.setRef(slot, true);
    return new Promise((resolve) => slot.child.once("close", () => resolve()));
  }

  /** Ends an idle worker: closing its stdin makes it exit; SIGTERM in case it does not read. */
  private retire(slot: Slot): void {
    this.drop(slot);
    slot.child.stdin?.end();
    if (!slot.closed) signalGroup(slot.pid, "SIGTERM");
    untrackGroup(slot.pid);
  }

  private pickSlot(call: PythonCall): Slot | undefined {
    let idle: Slot | undefined;
    let count = 0;
    for (const slot of this.slots) {
      if (slot.python !== call.python) continue;
      count++;
      if (slot.call !== undefined) continue;
      if (slot.warm.has(call.file)) return slot;
      idle ??= slot;
    }
    if (idle !== undefined) return idle;
    if (this.slots.length >= this.size) {
      // Full with workers of another interpreter that sit idle: replace one of them.
      const other = this.slots.find((s) => s.call === undefined);
      if (other === undefined || count >= this.size) return undefined;
      this.retire(other);
    }
    return this.spawn(call);
  }

  /** @throws the spawn error when the interpreter cannot be started at all. */
  private spawn(call: PythonCall): Slot {
    const child = spawn(call.python, ["-u", WORKER_SCRIPT], {
      cwd: call.cwd,
      env: { ...process.env, PYTHONUNBUFFERED: "1" },
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const slot: Slot = {
      child,
      pid: child.pid ?? -1,
      python: call.python,
      warm: new Set(),
      ready: false,
      partial: "",
      stderrTail: "",
      closed: false,
    };
    if (child.pid !== undefined) trackGroup(child.pid);
    child.stdin?.on("error", () => {
      // EPIPE: the worker died; 'close' reports it.
    });
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => this.onData(slot, chunk));
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      slot.stderrTail = (slot.stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
    });
    child.on("error", (err) => {
      // Only a spawn failure reaches here before 'close'.
      if (slot.closed) return;
      slot.closed = true;
      this.drop(slot);
      untrackGroup(slot.pid);
      const running = slot.call;
      if (running !== undefined) {
        this.finish(slot, {
          ended: "not-started",
          items: running.items,
          error: startError({ command: call.python, cwd: call.cwd }, err),
        });
      }
    });
    child.on("close", (code, sig) => this.onClose(slot, code, sig));
    this.slots.push(slot);
    return slot;
  }

  private onData(slot: Slot, chunk: string): void {
    const text = slot.partial + chunk;
    let from = 0;
    for (;;) {
      const nl = text.indexOf("\n", from);
      if (nl < 0) break;
      const line = text.slice(from, nl);
      from = nl + 1;
      if (line.trim() !== "") this.onReply(slot, line);
    }
    slot.partial = text.slice(from);
  }

  private onReply(slot: Slot, line: string): void {
    let reply: Reply;
    try {
      reply = JSON.parse(line) as Reply;
    } catch {
      return; // not ours: the protocol channel is private, so this does not happen
    }
    if (reply.ready) {
      slot.ready = true;
      // Starting the interpreter is not the first item's time; importing its module is.
      const running = slot.call;
      if (running !== undefined && running.items.length === 0 && slot.stopping === undefined) {
        running.lastItemAt = performance.now();
        this.armTimer(slot, running);
      }
      return;
    }
    const running = slot.call;
    if (running === undefined || reply.id !== running.id) return;
    // While the worker is being stopped, replies still in the pipe are of items that finished
    // before it was: they count. The call itself ends as stop() decides.
    if (slot.stopping !== undefined && reply.done) return;
    if (reply.done) {
      slot.warm.add(running.call.file);
      const outcome: PythonCallOutcome = {
        ended: reply.script ? "script" : "done",
        items: running.items,
      };
      if (reply.error !== undefined) outcome.error = reply.error;
      if (reply.rusage?.maxrss_kb !== undefined) outcome.peakRssKb = reply.rusage.maxrss_kb;
      if (reply.rusage?.cpu_ms !== undefined) outcome.cpuMs = reply.rusage.cpu_ms;
      this.finish(slot, outcome);
      return;
    }
    const item: PythonItemReply = { ok: reply.ok === true, ms: reply.ms ?? 0 };
    if (reply.ok) item.result = reply.result ?? null;
    else item.error = reply.error ?? "unknown error";
    running.items.push(item);
    if (slot.stopping !== undefined) return;
    running.lastItemAt = performance.now();
    this.armTimer(slot, running);
  }

  private onClose(slot: Slot, code: number | null, sig: NodeJS.Signals | null): void {
    if (slot.closed) return;
    slot.closed = true;
    this.drop(slot);
    untrackGroup(slot.pid);
    const running = slot.call;
    if (running === undefined) return;
    const inFlightMs = performance.now() - running.lastItemAt;
    if (slot.stopping !== undefined) {
      // stop() settles the call once the whole group is gone.
      return;
    }
    // Members the worker left behind (a task's own children) go too.
    if (signalGroup(slot.pid, 0)) void stopGroup(slot.pid, running.call.killGraceMs);
    const how = sig !== null ? `killed by ${sig}` : `exit code ${code}`;
    if (!slot.ready) {
      const last = slot.stderrTail.trim().split("\n").at(-1);
      this.finish(slot, {
        ended: "not-started",
        items: running.items,
        error: `python worker ${running.call.python} exited before starting (${how})${last ? `: ${last}` : ""}`,
      });
      return;
    }
    this.finish(slot, {
      ended: "crashed",
      items: running.items,
      error: `worker crashed (${how})`,
      inFlightMs,
    });
  }

  private start(slot: Slot, running: Running): void {
    slot.call = running;
    this.setRef(slot, true);
    running.lastItemAt = performance.now();
    this.armTimer(slot, running);
    const { call } = running;
    if (call.signal !== undefined) {
      running.onAbort = () => void this.stop(slot, running, "cancelled");
      call.signal.addEventListener("abort", running.onAbort, { once: true });
    }
    slot.child.stdin?.write(`${JSON.stringify({ id: running.id, ...call.request })}\n`);
  }

  private armTimer(slot: Slot, running: Running): void {
    const ms = running.call.timeoutMs;
    if (ms === undefined) return;
    clearTimeout(running.timer);
    running.timer = setTimeout(() => void this.stop(slot, running, "timeout"), ms);
  }

  private async stop(
    slot: Slot,
    running: Running,
    why: "timeout" | "cancelled",
    graceMs = running.call.killGraceMs,
  ): Promise<void> {
    if (slot.call !== running || slot.stopping !== undefined) return;
    slot.stopping = why;
    const inFlightMs = performance.now() - running.lastItemAt;
    this.drop(slot);
    this.release(running);
    await Promise.all([stopGroup(slot.pid, graceMs), this.closed(slot)]);
    this.finish(slot, { ended: why, items: running.items, inFlightMs });
  }

  private setRef(slot: Slot, on: boolean): void {
    const handles: Unrefable[] = [
      slot.child,
      slot.child.stdin as Unrefable,
      slot.child.stdout as Unrefable,
      slot.child.stderr as Unrefable,
    ];
    for (const h of handles) {
      if (on) h?.ref?.();
      else h?.unref?.();
    }
  }

  private drop(slot: Slot): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
  }

  private release(running: Running): void {
    clearTimeout(running.timer);
    running.timer = undefined;
    if (running.onAbort !== undefined) {
      running.call.signal?.removeEventListener("abort", running.onAbort);
    }
  }

  // Settles the slot's call; a live slot then takes the next queued call or goes idle.
  private finish(slot: Slot, outcome: PythonCallOutcome): void {
    const running = slot.call;
    if (running === undefined) return;
    slot.call = undefined;
    this.release(running);
    running.resolve(outcome);
    const live = !slot.closed && slot.stopping === undefined;
    const next = this.takeQueued(live ? slot : undefined);
    if (live && next !== undefined) {
      this.start(slot, next);
      return;
    }
    if (live) {
      const other = this.queue.shift();
      if (other === undefined) {
        this.setRef(slot, false);
        return;
      }
      // Only calls for another interpreter wait: this worker makes room for one of them.
      this.retire(slot);
      this.release(other);
      this.startFresh(other);
      return;
    }
    // The slot is gone; a queued call gets a new worker.
    if (next !== undefined) this.startFresh(next);
  }

  private startFresh(next: Running): void {
    try {
      this.start(this.spawn(next.call), next);
    } catch (err) {
      next.resolve({
        ended: "not-started",
        items: [],
        error: startError(
          { command: next.call.python, cwd: next.call.cwd },
          err as NodeJS.ErrnoException,
        ),
      });
    }
  }

  private takeQueued(slot: Slot | undefined): Running | undefined {
    let i = -1;
    if (slot !== undefined) {
      i = this.queue.findIndex((r) => r.call.python === slot.python && slot.warm.has(r.call.file));
      if (i < 0) i = this.queue.findIndex((r) => r.call.python === slot.python);
    } else {
      i = this.queue.length > 0 ? 0 : -1;
    }
    if (i < 0) return undefined;
    const [next] = this.queue.splice(i, 1);
    if (next !== undefined) this.release(next);
    return next;
  }
}
