import type { StateStore } from "../state/state-store.js";

type Begin = Parameters<StateStore["beginAttempt"]>[0];
/** How one attempt ended, as the state store records it. */
export type AttemptOutcome = Parameters<StateStore["recordAttempt"]>[1];

/** A local attempt's "running" record is written once it has run this long. */
export const BEGIN_AFTER_MS = 100;

/**
 * The state-store records of attempts that start together (one task, or the items of a bundle).
 * Their "running" records are written only once they have run for {@link BEGIN_AFTER_MS}: attempts
 * that end sooner are written once, begin and outcome together (`recordAttempts`), which halves the
 * writes of short tasks and items. A crash before the begin is written leaves the previous state,
 * so those attempts still rerun. `immediate` (pods: the orchestrator may run the same task
 * elsewhere, and must see it running) writes the begins at once.
 */
export function startAttempts(
  store: StateStore,
  begins: readonly Begin[],
  immediate: boolean,
): { finish: (outcomes: readonly AttemptOutcome[]) => Promise<boolean[]> } {
  let ids: Promise<number[]> | undefined;
  const write = () => {
    ids = store.beginAttempts(begins);
    ids.catch(() => {}); // awaited, and so rethrown, in finish()
  };
  const timer = immediate ? undefined : setTimeout(write, BEGIN_AFTER_MS);
  if (immediate) write();
  return {
    /**
     * Records each attempt's outcome (same order as the begins). Resolves to whether each was
     * recorded: false for a success that a newer attempt superseded (see `completeAttempt`).
     */
    async finish(outcomes) {
      clearTimeout(timer);
      if (ids === undefined)
        return store.recordAttempts(
          begins.map((attempt, i) => ({ attempt, outcome: outcomes[i]! })),
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
