import { createHash } from "node:crypto";
import { readdirSync, readlinkSync, realpathSync, statSync } from "node:fs";
import path from "node:path";
import { type RecordedRead, racilyRecorded, readsStillHold } from "../fingerprint/fs-reads.js";
import type { Project } from "../session/project.js";

/** A project a worker opened for a job, with what its spec rests on. */
export interface OpenedProject {
  project: Project;
  /**
   * Every file-system read loading its spec made (the spec file, each probe along the way, code
   * read by validation), with what it saw: the project is reused only while all of them hold.
   */
  loadReads: readonly RecordedRead[];
}

/** Opens a job's project (`specFile` relative to `root`) in `env`. */
export type ProjectOpener = (
  root: string,
  specFile: string,
  env: NodeJS.ProcessEnv,
) => Promise<OpenedProject>;

/** A project lent to one job; {@link release} it when the job ends. */
export interface ProjectLease {
  project: Project;
  release(): Promise<void>;
}

interface Entry {
  opened: Promise<OpenedProject>;
  /** The state file the project's store has open (see {@link storeFileIdentity}), once opened. */
  storeFile?: string | undefined;
  /** Jobs holding it. */
  users: number;
  /** Replaced or evicted: closed when its last job releases it. */
  retired: boolean;
  lastUsed: number;
}

/** Projects kept open at most; the least recently used idle one is closed beyond it. */
const DEFAULT_KEEP = 8;

/**
 * The projects a worker keeps open across jobs, keyed on root, spec file and environment, so a
 * job does not reload the spec and reopen the state store that the job before it opened. A
 * shortcut, so it keeps only the inputs of the decision to reuse: a project is reused only while
 * every read its spec load made still looks the same (the rule of the CLI's spec cache,
 * src/cli/spec-cache-file.ts), and one whose load saw a file change in the same clock tick is
 * never kept. Anything else a job depends on (task code, inputs, state) is read by the job's own
 * scope and plan, as in a fresh process.
 */
export class WorkerProjects {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly open: ProjectOpener,
    private readonly keep = DEFAULT_KEEP,
  ) {}

  /**
   * The project for a job: the one kept for these arguments while its spec's reads hold, else a
   * newly opened one (kept when its load was not racy).
   *
   * @throws whatever opening the project throws (a bad spec, an unreachable store).
   */
  async acquire(root: string, specFile: string, env: NodeJS.ProcessEnv): Promise<ProjectLease> {
    const key = keyOf(root, specFile, env);
    let entry = this.entries.get(key);
    if (entry !== undefined) {
      const opened = await entry.opened.catch(() => undefined);
      if (
        opened === undefined ||
        entry.retired ||
        !readsStillHold(opened.loadReads) ||
        storeFileIdentity(opened.project) !== entry.storeFile
      ) {
        this.retire(key, entry);
        entry = undefined;
      }
    }
    let added = false;
    if (entry === undefined) {
      // Another job may have opened it while this one waited.
      entry = this.entries.get(key);
      if (entry === undefined) {
        entry = this.add(key, root, specFile, env);
        added = true;
      }
    }
    entry.users++;
    // Counted before evicting, so the project being lent is never the one evicted.
    if (added) this.evict();
    entry.lastUsed = performance.now();
    const lent = entry;
    let project: Project;
    try {
      project = (await lent.opened).project;
    } catch (err) {
      lent.users--;
      throw err;
    }
    return { project, release: () => this.release(lent) };
  }

  /** Closes every kept project (those still lent when their job releases them). */
  async closeAll(): Promise<void> {
    const all = [...this.entries];
    this.entries.clear();
    for (const [, entry] of all) entry.retired = true;
    await Promise.all(all.filter(([, e]) => e.users === 0).map(([, e]) => closeEntry(e)));
  }

  private add(key: string, root: string, specFile: string, env: NodeJS.ProcessEnv): Entry {
    const startedMs = Date.now();
    const entry: Entry = {
      opened: this.open(root, specFile, env),
      users: 0,
      retired: false,
      lastUsed: performance.now(),
    };
    this.entries.set(key, entry);
    entry.opened.then(
      // A file changed in the tick its load saw it could change again unseen: use once.
      (o) => {
        entry.storeFile = storeFileIdentity(o.project);
        if (racilyRecorded(o.loadReads, startedMs)) this.retire(key, entry);
      },
      () => this.retire(key, entry),
    );
    return entry;
  }

  private retire(key: string, entry: Entry): void {
    if (this.entries.get(key) === entry) this.entries.delete(key);
    if (entry.retired) return;
    entry.retired = true;
    if (entry.users === 0) void closeEntry(entry);
  }

  private async release(entry: Entry): Promise<void> {
    entry.users--;
    if (entry.retired && entry.users === 0) await closeEntry(entry);
  }

  private evict(): void {
    const idle = [...this.entries].filter(([, e]) => e.users === 0);
    idle.sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
    for (let i = 0; this.entries.size > this.keep && i < idle.length; i++)
      this.retire(idle[i]![0], idle[i]![1]);
  }
}

function keyOf(root: string, specFile: string, env: NodeJS.ProcessEnv): string {
  return createHash("sha256")
    .update(JSON.stringify([root, specFile, Object.entries(env).sort()]))
    .digest("hex");
}

async function closeEntry(entry: Entry): Promise<void> {
  const opened = await entry.opened.catch(() => undefined);
  await opened?.project.close().catch(() => {});
}

/**
 * Which state file a project's SQLite store has open: `dev:ino` of the file at its path, or
 * `replaced` when this process holds a deleted file of that path (Linux: `/proc/self/fd`; the
 * new file may reuse the old inode number), or undefined for a store without a file (PostgreSQL).
 * A state file deleted or replaced since the project was opened (a reset of `.dagwright/`) means a
 * new store: the kept connection would read and write the old one.
 */
function storeFileIdentity(project: Project): string | undefined {
  const file = (project.store as { file?: unknown }).file;
  if (typeof file !== "string") return undefined;
  try {
    const st = statSync(file);
    if (holdsDeleted(path.join(realpathSync(path.dirname(file)), path.basename(file))))
      return "replaced";
    return `${st.dev}:${st.ino}`;
  } catch {
    return "gone";
  }
}

/** Whether one of this process's open files is `file`, deleted (Linux only; else false). */
function holdsDeleted(file: string): boolean {
  if (process.platform !== "linux") return false;
  const deleted = `${file} (deleted)`;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === deleted) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}
