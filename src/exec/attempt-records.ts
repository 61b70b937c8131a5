import type {
  AttemptBegin,
  AttemptOutcome,
  AttemptWriteResult,
  StateStore,
} from "../state/state-store.js";

export type { AttemptOutcome } from "../state/state-store.js";

/** A local attempt's "running" record is written once it has run this long. */
export const BEGIN_AFTER_MS = 100;

/** An attempt whose begin is not written yet. */
interface Waiting {
  due: number;
  write: () => void;
  /** Finished (or its begin written): nothing left to do at its deadline. */
  done: boolean;
}

/** The records of attempts started together, as {@link AttemptRecorder.start} returns them. */
export interface StartedAttempts {
  /**
   * Records each attempt's outcome (same order as the begins). Resolves to whether each is its
   * task/item's current attempt once recorded: false for a success that a newer attempt
   * superseded or that fencing refused (see `StateStore.writeAttempts`), and for a failure kept
   * only as history; a second call after such a refusal records the failure the caller reports.
   */
  finish(outcomes: readonly AttemptOutcome[]): Promise<boolean[]>;
}

/**
 * The state-store records of one run's attempts (one per run: see `openRunScope`), and when they
 * are written.
 *
 * With a lock token (the namespace lock the run holds), an attempt's "running" record is written
 * only once it has run for {@link BEGIN_AFTER_MS}: attempts that end sooner are written once,
 * begin and outcome together (a `record` write), which halves the writes of short tasks and
 * items. A crash before the begin is written leaves the previous state, so those attempts still
 * rerun. The store fences these deferred writes by the token and the attempts' start, so a late
 * one never displaces an attempt another runner began after it. Without a lock (pods, `run`
 * inside a rendered workflow: another runner may run the same task, and must see this one
 * running) the begins are written at once.
 *
 * Batching writes that happen together is the store's (group commit); this class only decides
 * what to write and when.
 */
export class AttemptRecorder {
  /**
   * Waiting begins in start order, so their deadlines (start + BEGIN_AFTER_MS) are in order too:
   * one timer serves all of them, armed for the first one still waiting and cleared once none
   * waits (an idle process must not wait for it to fire).
   */
  private readonly waiting: Waiting[] = [];
  private head = 0;
  private live = 0;
  private timer: NodeJS.Timeout | undefined;

  /** `worker` is recorded as who runs each attempt (default: this process's `HOST:PID`). */
  constructor(
    private readonly store: StateStore,
    private readonly worker?: string,
  ) {}

  /**
   * Starts the records of attempts that start together (one task, or the items of a bundle).
   * `lockToken` is the token of the namespace lock the run holds, if it holds one.
   */
  start(begins: readonly AttemptBegin[], lockToken: string | undefined): StartedAttempts {
    const startedAt = Date.now();
    const stamped = begins.map((b) => ({
      ...b,
      startedAt,
      ...(this.worker === undefined || b.worker !== undefined ? {} : { worker: this.worker }),
    }));
    const opts = lockToken === undefined ? {} : { lockToken };
    let begun: Promise<AttemptWriteResult[]> | undefined;
    const write = () => {
      begun = this.store.writeAttempts(
        stamped.map((attempt) => ({ kind: "begin", attempt })),
        opts,
      );
      begun.catch(() => {}); // awaited, and so rethrown, in finish()
    };
    const waiter = lockToken === undefined ? undefined : this.wait(write);
    if (lockToken === undefined) write();
    return {
      finish: async (outcomes) => {
        if (waiter !== undefined) this.stopWaiting(waiter);
        const results =
          begun === undefined
            ? await this.store.writeAttempts(
                stamped.map((attempt, i) => ({ kind: "record", attempt, outcome: outcomes[i]! })),
                opts,
              )
            : await this.finishBegun(await begun, outcomes);
        return results.map((r) => r.verdict === "current");
      },
    };
  }

  /** The outcomes of attempts whose begins were written (a begin always gets a row and an id). */
  private finishBegun(
    begun: readonly AttemptWriteResult[],
    outcomes: readonly AttemptOutcome[],
  ): Promise<AttemptWriteResult[]> {
    return this.store.writeAttempts(
      outcomes.map((outcome, i) => ({
        kind: "outcome",
        attemptId: begun[i]!.attemptId!,
        outcome,
      })),
    );
  }

  private wait(write: () => void): Waiting {
    const w: Waiting = { due: Date.now() + BEGIN_AFTER_MS, write, done: false };
    this.waiting.push(w);
    this.live++;
    if (this.timer === undefined) this.arm();
    return w;
  }

  private stopWaiting(w: Waiting): void {
    if (w.done) return;
    w.done = true;
    this.live--;
    if (this.live === 0 && this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.waiting.length = 0;
      this.head = 0;
    }
  }

  private arm(): void {
    while (this.head < this.waiting.length && this.waiting[this.head]!.done) this.head++;
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
      return;
    }
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
    this.timer = setTimeout(
      () => this.fire(),
      Math.max(0, this.waiting[this.head]!.due - Date.now()),
    );
  }

  private fire(): void {
    this.timer = undefined;
    const now = Date.now();
    while (
      this.head < this.waiting.length &&
      (this.waiting[this.head]!.done || this.waiting[this.head]!.due <= now)
    ) {
      const w = this.waiting[this.head++]!;
      if (!w.done) {
        w.done = true;
        this.live--;
        w.write();
      }
    }
    this.arm();
  }
}

/**
 * Writes the "running" record of an attempt now (a begin that is not deferred, so it becomes the
 * task/item's current attempt) and resolves to its id.
 */
export async function beginAttemptNow(store: StateStore, begin: AttemptBegin): Promise<number> {
  const [r] = await store.writeAttempts([{ kind: "begin", attempt: begin }]);
  return r!.attemptId!;
}

/**
 * Records how a begun attempt ended; resolves to whether it is its task/item's current attempt
 * (false for a superseded success, which is not recorded: see `StateStore.writeAttempts`).
 */
export async function finishAttempt(
  store: StateStore,
  attemptId: number,
  outcome: AttemptOutcome,
): Promise<boolean> {
  const [r] = await store.writeAttempts([{ kind: "outcome", attemptId, outcome }]);
  return r!.verdict === "current";
}

/**
 * `new AttemptRecorder(store).start(begins, lockToken)`: the records of attempts started outside a
 * run's recorder (tests, one-off callers). A run shares one recorder between its attempts.
 */
export function startAttempts(
  store: StateStore,
  begins: readonly AttemptBegin[],
  lockToken: string | undefined,
): StartedAttempts {
  return new AttemptRecorder(store).start(begins, lockToken);
}
