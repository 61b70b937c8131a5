/**
 * Group commit for a driver's writes: the calls submitted in one turn of the event loop (tasks
 * finishing together, a finish and the next begin, the items of many bundles) are committed by
 * one call of `commit` over all their entries, so they share one transaction. When that fails,
 * each call is committed alone, so only the call holding the bad entry sees the error.
 *
 * `commit` must be all-or-nothing over the entries it is given and return one result per entry,
 * in order. Each submit's promise settles only after the commit holding its entries did.
 */
export class GroupCommit<W, R> {
  private pending: {
    entries: readonly W[];
    resolve: (results: R[]) => void;
    reject: (error: unknown) => void;
  }[] = [];

  constructor(private readonly commit: (entries: readonly W[]) => R[] | Promise<R[]>) {}

  /**
   * Queues `entries` for the next group commit; resolves to their results, in order. With `now`,
   * commits at once, together with what is queued: with a synchronous `commit` the entries are
   * committed when this returns (other processes may need to see them before the next turn).
   */
  submit(entries: readonly W[], opts: { now?: boolean } = {}): Promise<R[]> {
    if (entries.length === 0) return Promise.resolve([]);
    const result = new Promise<R[]>((resolve, reject) => {
      this.pending.push({ entries, resolve, reject });
      if (this.pending.length === 1 && opts.now !== true) setImmediate(() => void this.flush());
    });
    if (opts.now === true) void this.flush();
    return result;
  }

  /** Commits running now (started by a turn, `now` or {@link flush}). */
  private readonly inFlight = new Set<Promise<void>>();

  /**
   * Commits what is queued now, without waiting for the next turn. Resolves once those calls
   * have settled.
   */
  flush(): Promise<void> {
    const commit = this.commitQueued();
    this.inFlight.add(commit);
    const done = () => this.inFlight.delete(commit);
    commit.then(done, done);
    return commit;
  }

  /**
   * Commits what is queued and waits for every commit in flight, including those of calls
   * submitted meanwhile: what a store about to close must do before its connection goes.
   */
  async drain(): Promise<void> {
    while (this.pending.length > 0 || this.inFlight.size > 0) {
      if (this.pending.length > 0) void this.flush();
      await Promise.allSettled([...this.inFlight]);
    }
  }

  private async commitQueued(): Promise<void> {
    const calls = this.pending;
    this.pending = [];
    if (calls.length > 1) {
      try {
        const all: W[] = [];
        for (const c of calls) for (const e of c.entries) all.push(e);
        const results = await this.commit(all);
        let at = 0;
        for (const c of calls) {
          c.resolve(results.slice(at, at + c.entries.length));
          at += c.entries.length;
        }
        return;
      } catch {
        // fall through: each call alone, so only its caller sees its error
      }
    }
    for (const c of calls) {
      try {
        c.resolve(await this.commit(c.entries));
      } catch (error) {
        c.reject(error);
      }
    }
  }
}
