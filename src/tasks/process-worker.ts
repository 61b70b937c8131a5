import { type ChildProcess, fork } from "node:child_process";
import { EventEmitter } from "node:events";
import { fileURLToPath } from "node:url";
import { NODE_WORKER_URL } from "./prestart-workers.js";

/** What {@link NodeWorkerPool} needs of a worker: a worker thread, or a {@link ProcessWorker}. */
export interface PoolWorker {
  postMessage(message: unknown): void;
  /** "message" (a protocol message), "error" (an Error), "exit" (the exit code). */
  // biome-ignore lint/suspicious/noExplicitAny: the listener's argument depends on the event, as in EventEmitter
  on(event: "message" | "error" | "exit", listener: (...args: any[]) => void): unknown;
  ref(): void;
  unref(): void;
  terminate(): Promise<unknown>;
}

/** Bytes of a worker's stderr kept, to say why it died. */
const STDERR_TAIL = 4096;

/**
 * The TS/JS task worker (runtime/node-task-worker.mjs) as a child process started in `cwd`, for
 * a project whose root is not this process's working directory: a worker thread shares the
 * process's directory and cannot change it, and a task's relative paths must resolve against its
 * own project root. It speaks the thread's protocol over the IPC channel and mirrors what the
 * thread would write into the progress buffer (`progress` messages: which item runs since when,
 * and console output waiting to be written), so the pool treats both kinds alike.
 */
export class ProcessWorker extends EventEmitter implements PoolWorker {
  private readonly child: ChildProcess;
  private readonly ids: Int32Array;
  private readonly start: Float64Array;
  private readonly logPending: Int32Array;
  private stderr = "";
  private exited: Promise<void>;

  constructor(cwd: string, progress: SharedArrayBuffer) {
    super();
    this.ids = new Int32Array(progress, 0, 2);
    this.start = new Float64Array(progress, 8, 1);
    this.logPending = new Int32Array(progress, 16, 1);
    this.child = fork(fileURLToPath(NODE_WORKER_URL), [], {
      cwd,
      execArgv: [],
      serialization: "advanced",
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      // Its own process group: a Ctrl-C at the terminal is for dagwright, which stops its tasks
      // itself (a thread would not get the signal either).
      detached: true,
    });
    this.child.stderr?.setEncoding("utf8");
    this.child.stderr?.on("data", (text: string) => {
      this.stderr = (this.stderr + text).slice(-STDERR_TAIL);
    });
    this.child.on("message", (msg: { type: string; id: number; index: number; start: number }) =>
      this.receive(msg),
    );
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        const err = this.fatal ?? (code !== 0 && signal === null ? this.stderrError() : undefined);
        if (err !== undefined) this.emit("error", err);
        this.emit("exit", code ?? 1);
        resolve();
      });
      this.child.on("error", (err) => {
        this.emit("error", err);
        // Never started (fork failed): no 'exit' follows.
        if (this.child.pid === undefined) resolve();
      });
    });
  }

  /** The error an uncaught exception or rejection ended the worker with, as it reported it. */
  private fatal: Error | undefined;

  /** The last line the worker wrote to stderr before it died, past Node's version footer. */
  private stderrError(): Error | undefined {
    const lines = this.stderr.trim().split("\n");
    const last = lines.filter((l) => l.trim() !== "" && !/^Node\.js v\d/.test(l)).pop();
    return last === undefined ? undefined : new Error(last);
  }

  private receive(msg: {
    type: string;
    id: number;
    index: number;
    start: number;
    text?: string;
    name?: string;
    message?: string;
    stack?: string;
  }) {
    if (msg.type === "fatal") {
      const err = new Error(msg.message ?? "worker crashed");
      err.name = msg.name ?? "Error";
      if (msg.stack !== undefined) err.stack = msg.stack;
      this.fatal = err;
      return;
    }
    if (msg.type === "progress") {
      this.start[0] = msg.start;
      Atomics.store(this.ids, 1, msg.index);
      Atomics.store(this.ids, 0, msg.id);
      return;
    }
    // The pool subtracts what it writes; the child cannot count it in a buffer it cannot share.
    if (msg.type === "log") Atomics.add(this.logPending, 0, msg.text?.length ?? 0);
    this.emit("message", msg);
  }

  postMessage(message: unknown): void {
    if (this.child.connected) this.child.send(message as never);
  }

  ref(): void {
    this.child.ref();
    this.child.channel?.ref();
    (this.child.stderr as { ref?: () => void } | null)?.ref?.();
  }

  unref(): void {
    this.child.unref();
    this.child.channel?.unref();
    (this.child.stderr as { unref?: () => void } | null)?.unref?.();
  }

  /** Stops the process now (a hung task cannot be asked); resolves once it is gone. */
  terminate(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    return this.exited;
  }
}
