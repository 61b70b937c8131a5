import type {
  AttemptBegin,
  AttemptCompletion,
  AttemptFailure,
  AttemptOutcome,
  StateStore,
} from "../../src/state/state-store.js";

/**
 * One-purpose calls over `StateStore.writeAttempts`, so that tests read as the behaviour they
 * check (begin, complete, fail, record) rather than as write lists. Each is one `writeAttempts`
 * call; a boolean result is whether the attempt is (or became) its task/item's current attempt.
 */
export function attemptCalls(store: StateStore) {
  const outcomes = async (
    list: readonly { attemptId: number; outcome: AttemptOutcome }[],
  ): Promise<boolean[]> =>
    (
      await store.writeAttempts(
        list.map(({ attemptId, outcome }) => ({ kind: "outcome" as const, attemptId, outcome })),
      )
    ).map((r) => r.verdict === "current");
  const records = async (
    list: readonly { attempt: AttemptBegin & { startedAt: number }; outcome: AttemptOutcome }[],
    lockToken: string,
  ): Promise<boolean[]> =>
    (
      await store.writeAttempts(
        list.map((x) => ({ kind: "record" as const, ...x })),
        { lockToken },
      )
    ).map((r) => r.verdict === "current");
  const begins = async (list: readonly AttemptBegin[], lockToken?: string): Promise<number[]> =>
    (
      await store.writeAttempts(
        list.map((attempt) => ({ kind: "begin" as const, attempt })),
        lockToken === undefined ? {} : { lockToken },
      )
    ).map((r) => r.attemptId!);
  return {
    beginAttempt: async (a: AttemptBegin): Promise<number> => (await begins([a]))[0]!,
    beginAttempts: begins,
    completeAttempt: async (attemptId: number, completion: AttemptCompletion) =>
      (await outcomes([{ attemptId, outcome: { completion } }]))[0]!,
    completeAttempts: (list: readonly { attemptId: number; completion: AttemptCompletion }[]) =>
      outcomes(list.map(({ attemptId, completion }) => ({ attemptId, outcome: { completion } }))),
    failAttempt: async (attemptId: number, failure: AttemptFailure): Promise<void> => {
      await outcomes([{ attemptId, outcome: { failure } }]);
    },
    failAttempts: async (
      list: readonly { attemptId: number; failure: AttemptFailure }[],
    ): Promise<void> => {
      await outcomes(list.map(({ attemptId, failure }) => ({ attemptId, outcome: { failure } })));
    },
    recordAttempt: async (
      attempt: AttemptBegin & { startedAt: number },
      outcome: AttemptOutcome,
      lockToken: string,
    ) => (await records([{ attempt, outcome }], lockToken))[0]!,
    recordAttempts: records,
  };
}
