import type pg from "pg";
import {
  currentResult,
  type PreparedWrite,
  type Shards,
  type TaskStateRow,
} from "./attempt-writes.js";
import type { PostgresSql } from "./postgres-store.js";
import type {
  AttemptBegin,
  AttemptCompletion,
  AttemptFailure,
  AttemptRefusal,
  AttemptWriteResult,
} from "./state-store.js";

/**
 * The attempt writes of the PostgreSQL driver, entry by entry inside the transaction of a group
 * commit: begins (fenced when deferred), outcomes, and deferred records. Row locks on the
 * task/item pointers (`FOR UPDATE`) and on the lock row (`FOR SHARE`) order them against other
 * processes' writes.
 */
export class PostgresAttemptWrites {
  /** `lockClass`: the advisory-lock class of the store's namespace locks. */
  constructor(
    private readonly sql: PostgresSql,
    private readonly lockClass: string,
  ) {}

  /** One entry of a group commit, inside its transaction (the caller opens and commits it). */
  async apply(client: pg.PoolClient, e: PreparedWrite): Promise<AttemptWriteResult> {
    if (e.kind === "outcome") {
      const { attemptId, outcome } = e.write;
      if ("completion" in outcome)
        return this.completeIn(client, attemptId, outcome.completion, e.shards);
      return this.failIn(client, attemptId, outcome.failure);
    }
    if (e.kind === "begin" && e.lockToken === undefined) {
      // One statement: the attempt and the pointer to it commit together.
      const { rows } = await client.query<{ current_attempt: number }>(
        this.sql.beginAttempt,
        this.attemptValues(e.write.attempt, e.worker),
      );
      return currentResult(rows[0]!.current_attempt);
    }
    const lockToken = e.lockToken!;
    if (e.kind === "begin") {
      const begun = await this.beginFenced(client, e, lockToken, "history", "history");
      return begun.verdict === "refused" ? begun : begun.result;
    }
    const { outcome } = e.write;
    const success = "completion" in outcome;
    const begun = await this.beginFenced(
      client,
      e,
      lockToken,
      "refused",
      success ? "refused" : "history",
    );
    if (begun.verdict === "refused") return begun;
    if ("completion" in outcome)
      return this.completeIn(client, begun.result.attemptId, outcome.completion, e.shards);
    await client.query(this.sql.markFailed, failValues(begun.result.attemptId, outcome.failure));
    return begun.result;
  }

  /** Marks a running attempt failed or cancelled; says whether it is still current. */
  private async failIn(
    client: pg.PoolClient,
    attemptId: number,
    f: AttemptFailure,
  ): Promise<AttemptWriteResult> {
    const changed = await client.query(this.sql.markFailed, failValues(attemptId, f));
    if (changed.rowCount === 0) return { verdict: "refused", attemptId, reason: "not-running" };
    const pointer = (await client.query<TaskStateRow>(this.sql.pointerOfAttempt, [attemptId]))
      .rows[0];
    return pointer?.current_attempt === attemptId
      ? currentResult(attemptId)
      : { verdict: "history", attemptId, reason: "superseded" };
  }

  private attemptValues(a: AttemptBegin, worker: string): unknown[] {
    return [
      a.runId,
      a.namespace,
      a.task,
      a.item ?? "",
      a.fingerprint,
      a.partsJson ?? JSON.stringify(a.parts ?? null),
      a.startedAt ?? Date.now(),
      a.logPath ?? null,
      worker,
    ];
  }

  /**
   * A deferred begin, fenced (see Fencing on {@link StateStore.writeAttempts}) inside the caller's
   * transaction: the lock row is read FOR SHARE, so a takeover waits for this commit. Resolves to
   * the new row's result (current, or history with the reason), or to a refusal when the verdict
   * (`unlocked` when the token does not hold the lock, `older` when a later-started attempt is
   * current) is to write nothing.
   */
  private async beginFenced(
    client: pg.PoolClient,
    e: Extract<PreparedWrite, { kind: "begin" | "record" }>,
    lockToken: string,
    unlocked: "refused" | "history",
    older: "refused" | "history",
  ): Promise<
    | { verdict: "stored"; result: Exclude<AttemptWriteResult, { verdict: "refused" }> }
    | { verdict: "refused"; reason: AttemptRefusal }
  > {
    const a = e.write.attempt;
    const held = (
      await client.query<{ held: boolean }>(this.sql.holdsLock, [
        this.lockClass,
        a.namespace,
        lockToken,
      ])
    ).rows[0]?.held;
    if (held !== true && unlocked === "refused") return { verdict: "refused", reason: "lock-lost" };
    const values = this.attemptValues(a, e.worker);
    const id = (await client.query<{ attempt_id: number }>(this.sql.insertAttempt, values)).rows[0]!
      .attempt_id;
    if (held !== true)
      return {
        verdict: "stored",
        result: { verdict: "history", attemptId: id, reason: "lock-lost" },
      };
    if (await this.claimPointer(client, a, id, values[6] as number))
      return {
        verdict: "stored",
        result: currentResult(id) as { verdict: "current"; attemptId: number },
      };
    if (older === "history")
      return {
        verdict: "stored",
        result: { verdict: "history", attemptId: id, reason: "superseded" },
      };
    await client.query(this.sql.deleteAttempt, [id]);
    return { verdict: "refused", reason: "superseded" };
  }

  /** Points the task/item at attempt `id` unless its current attempt began after `startedAt`. */
  private async claimPointer(
    client: pg.PoolClient,
    a: AttemptBegin,
    id: number,
    startedAt: number,
  ): Promise<boolean> {
    const key = [a.namespace, a.task, a.item ?? ""];
    if ((await client.query(this.sql.createPointer, [...key, id])).rowCount === 1) return true;
    // The row exists: lock it (a concurrent begin waits), then read its attempt's start in a new
    // statement, whose snapshot sees whatever that pointer's last writer committed.
    const pointer = (await client.query<{ current_attempt: number }>(this.sql.lockPointer, key))
      .rows[0];
    if (pointer === undefined) return false;
    const latest = (
      await client.query<{ started_at: number }>(this.sql.startedAt, [pointer.current_attempt])
    ).rows[0]?.started_at;
    if (latest !== undefined && latest > startedAt) return false;
    return (await client.query(this.sql.setPointer, [...key, id])).rowCount === 1;
  }

  /**
   * Marks the attempt succeeded with its outputs and result, and its task/item's last success,
   * inside the caller's transaction, if it is current and still running.
   */
  private async completeIn(
    client: pg.PoolClient,
    attemptId: number,
    c: AttemptCompletion,
    shards: Shards | undefined,
  ): Promise<AttemptWriteResult> {
    const outputs = [...new Map(c.outputs.map((o) => [o.path, o])).values()];
    {
      // Locks the task's pointer row: a concurrent begin or completion of the same
      // task/item waits here, and we see the pointer as it is after theirs commits.
      const pointer = (await client.query<TaskStateRow>(this.sql.lockPointerOfAttempt, [attemptId]))
        .rows[0];
      if (pointer === undefined || pointer.current_attempt !== attemptId)
        return { verdict: "refused", attemptId, reason: "superseded" };
      const changed = await client.query(this.sql.markSucceeded, [
        attemptId,
        Date.now(),
        c.durationMs,
        c.exitCode ?? null,
        c.peakRssKb ?? null,
        c.cpuMs ?? null,
        c.resultHash ?? null,
        shards?.kind ?? null,
      ]);
      // Failed or cancelled meanwhile (invariant 6).
      if (changed.rowCount === 0) return { verdict: "refused", attemptId, reason: "not-running" };
      if (outputs.length > 0)
        await client.query(this.sql.insertOutputs, [
          attemptId,
          outputs.map((o) => o.path),
          outputs.map((o) => o.hash),
          outputs.map((o) => o.size),
          outputs.map((o) => o.mtimeMs),
        ]);
      if (shards !== undefined) await client.query(this.sql.insertShards, [attemptId, shards.json]);
      // Only the last success's result is ever read; drop the one it replaces.
      if (pointer.last_success !== null && pointer.last_success !== attemptId)
        await client.query(this.sql.deleteShards, [pointer.last_success]);
      await client.query(this.sql.setLastSuccess, [pointer.namespace, pointer.task, pointer.item]);
      return currentResult(attemptId);
    }
  }
}

/** `markFailed`'s parameters. */
function failValues(attemptId: number, f: AttemptFailure): unknown[] {
  return [
    attemptId,
    f.status,
    Date.now(),
    f.durationMs,
    f.exitCode ?? null,
    f.signal ?? null,
    f.error,
    f.peakRssKb ?? null,
    f.cpuMs ?? null,
  ];
}
