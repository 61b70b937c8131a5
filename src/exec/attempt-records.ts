import type { StateStore } from "../state/state-store.js";

type Begin = Parameters<StateStore["beginAttempt"]>[0];
/** How one attempt ended, as the state store records it. */
export type AttemptOutcome = Parameters<StateStore["recordAttempt"]>[1];
type Record_ = Parameters<StateStore["recordAttempts"]>[0][number];

/** A local attempt's "running" record is written once it has run this long. */
export const BEGIN_AFTER_MS = 100;

/** Attempts whose begin is not written yet, in start order (so deadlines are in order too). */
interface Waiting {
  due: number;
  write: () => void;
  /** Finished (or its begin written): nothing left to do at its deadline. */
  done: boolean;
}

/**
 * One timer for every waiting begin, not one per attempt: a thousand short tasks would otherwise
 * arm and clear a thousand timers. Deadlines are start + BEGIN_AFTER_MS, so they come in the
 * order attempts start; the timer is armed for the first one still waiting and is cleared once
 * no attempt waits (an idle process must not wait for it to fire).
 */
const waiting: Waiting[] = [];
let head = 0;
let live = 0;
let timer: NodeJS.Timeout | undefined;

function arm(): void {
  while (head < waiting.length && waiting[head]!.done) head++;
  if (head === waiting.length) {
    waiting.length = 0;
    head = 0;
    return;
  }
  if (head > 1024 && head * 2 > waiting.length) {
    waiting.splice(0, head);
    head = 0;
  }
  timer = setTimeout(fire, Math.max(0, waiting[head]!.due - Date.now()));
}

function fire(): void {
  timer = undefined;
  const now = Date.now();
  while (head < waiting.length && (waiting[head]!.done || waiting[head]!.due <= now)) {
    const w = waiting[head++]!;
    if (!w.done) {
      w.done = true;
      live--;
      w.write();
    }
  }
  arm();
}

function wait(write: () => void): Waiting {
  const w: Waiting = { due: Date.now() + BEGIN_AFTER_MS, write, done: false };
  waiting.push(w);
  live++;
  if (timer === undefined) arm();
  return w;
}

function stopWaiting(w: Waiting): void {
  if (w.done) return;
  w.done = true;
  live--;
  if (live === 0 && timer !== undefined) {
    clearTimeout(timer);
    timer = undefined;
    waiting.length = 0;
    head = 0;
  }
}

/**
 * Short attempts that ended in the same burst (the continuations that run before the next tick:
 * tasks whose results arrived together) are recorded with one `recordAttempts` call per store and
 * lock token, so their rows go in through a few multi-row statements instead of a few statements
 * each. A failing batch is retried caller by caller, so one bad entry fails only its own caller.
 */
interface Pending {
  list: Record_[];
  /** Each caller's entries are list[from, from + count). */
  callers: {
    from: number;
    count: number;
    resolve: (ok: boolean[]) => void;
    reject: (err: unknown) => void;
  }[];
}

const pendingRecords = new Map<StateStore, Map<string, Pending>>();

function recordSoon(
  store: StateStore,
  lockToken: string,
  list: readonly Record_[],
): Promise<boolean[]> {
  let byToken = pendingRecords.get(store);
  if (byToken === undefined) {
    byToken = new Map();
    pendingRecords.set(store, byToken);
  }
  let p = byToken.get(lockToken);
  if (p === undefined) {
    const fresh: Pending = { list: [], callers: [] };
    const tokens = byToken;
    tokens.set(lockToken, fresh);
    process.nextTick(() => {
      tokens.delete(lockToken);
      if (tokens.size === 0 && pendingRecords.get(store) === tokens) pendingRecords.delete(store);
      void flushRecords(store, lockToken, fresh);
    });
    p = fresh;
  }
  const pending = p;
  return new Promise<boolean[]>((resolve, reject) => {
    pending.callers.push({ from: pending.list.length, count: list.length, resolve, reject });
    for (const r of list) pending.list.push(r);
  });
}

/** One `recordAttempts` for the burst; if it fails, each caller's entries are retried alone. */
async function flushRecords(store: StateStore, lockToken: string, p: Pending): Promise<void> {
  try {
    const ok = await store.recordAttempts(p.list, lockToken);
    for (const c of p.callers) c.resolve(ok.slice(c.from, c.from + c.count));
    return;
  } catch (err) {
    if (p.callers.length === 1) {
      p.callers[0]!.reject(err);
      return;
    }
  }
  await Promise.all(
    p.callers.map(async (c) => {
      try {
        c.resolve(await store.recordAttempts(p.list.slice(c.from, c.from + c.count), lockToken));
      } catch (err) {
        c.reject(err);
      }
    }),
  );
}

/**
 * The state-store records of attempts that start together (one task, or the items of a bundle).
 *
 * With `lockToken` (the token of the namespace lock the caller holds), their "running" records are
 * written only once they have run for {@link BEGIN_AFTER_MS}: attempts that end sooner are written
 * once, begin and outcome together (`recordAttempts`), which halves the writes of short tasks and
 * items. A crash before the begin is written leaves the previous state, so those attempts still
 * rerun. The store fences these deferred writes by the token and the attempts' start (see
 * `StateStore`), so a late one never displaces an attempt another runner began after it.
 *
 * Without a lock (pods, `run` inside a rendered workflow: another runner may run the same task,
 * and must see this one running) the begins are written at once.
 */
export function startAttempts(
  store: StateStore,
  begins: readonly Begin[],
  lockToken: string | undefined,
): { finish: (outcomes: readonly AttemptOutcome[]) => Promise<boolean[]> } {
  const startedAt = Date.now();
  const stamped = begins.map((b) => ({ ...b, startedAt }));
  let ids: Promise<number[]> | undefined;
  const write = () => {
    ids = store.beginAttempts(stamped, lockToken);
    ids.catch(() => {}); // awaited, and so rethrown, in finish()
  };
  const waiter = lockToken === undefined ? undefined : wait(write);
  if (lockToken === undefined) write();
  return {
    /**
     * Records each attempt's outcome (same order as the begins). Resolves to whether each was
     * recorded as the current attempt: false for a success that a newer attempt superseded (see
     * `completeAttempt`) or that fencing refused; a second call after such a refusal records the
     * failure the caller reports instead.
     */
    async finish(outcomes) {
      if (waiter !== undefined) stopWaiting(waiter);
      if (ids === undefined)
        return recordSoon(
          store,
          lockToken!,
          stamped.map((attempt, i) => ({ attempt, outcome: outcomes[i]! })),
        );
      const attemptIds = await ids;
      const completions: { attemptId: number; completion: AttemptCompletion; at: number }[] = [];
      const failures: { attemptId: number; failure: AttemptFailure }[] = [];
      outcomes.forEach((o, i) => {
        if ("completion" in o)
          completions.push({ attemptId: attemptIds[i]!, completion: o.completion, at: i });
        else failures.push({ attemptId: attemptIds[i]!, failure: o.failure });
      });
      const recorded = outcomes.map(() => true);
      const ok = await store.completeAttempts(completions);
      completions.forEach((c, k) => {
        recorded[c.at] = ok[k]!;
      });
      await store.failAttempts(failures);
      return recorded;
    },
  };
}

type AttemptCompletion = Parameters<StateStore["completeAttempt"]>[1];
type AttemptFailure = Parameters<StateStore["failAttempt"]>[1];
