import {
  closeSync,
  existsSync,
  openSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { WorkerProjects } from "../../src/distributed/worker-projects.js";
import { FsReads } from "../../src/fingerprint/fs-reads.js";
import type { Project } from "../../src/session/project.js";
import { makeProject } from "../helpers.js";

/** A stand-in project: what the cache does with it is open and close. */
interface FakeProject {
  id: number;
  closed: boolean;
  store: { file: string };
  close(): Promise<void>;
}

/** An opener whose projects rest on `spec` in each root, read when opened. */
function opener() {
  const opened: FakeProject[] = [];
  const open = async (root: string) => {
    const reads = new FsReads();
    reads.readText(path.join(root, "dagwright.yaml"));
    // Like SQLite, the store keeps its state file (when there is one) open.
    const file = path.join(root, "state.db");
    const fd = existsSync(file) ? openSync(file, "r") : undefined;
    const project: FakeProject = {
      id: opened.length,
      closed: false,
      store: { file },
      close: async () => {
        project.closed = true;
        if (fd !== undefined) closeSync(fd);
      },
    };
    opened.push(project);
    return { project: project as unknown as Project, loadReads: reads.reads() };
  };
  return { open, opened };
}

/**
 * A project dir whose spec changed before this clock tick: a load from now on is not racy (the
 * cache never keeps a project whose spec changed in the tick it was loaded).
 */
function projectDir(text = "a"): string {
  const dir = makeProject({ "dagwright.yaml": text });
  const spec = path.join(dir, "dagwright.yaml");
  const past = new Date(Date.now() - 60_000);
  utimesSync(spec, past, past);
  settle(spec);
  return dir;
}

function settle(file: string): void {
  const changed = statSync(file).ctimeMs;
  while (Date.now() <= changed + 1) {
    // a millisecond or two
  }
}

function edit(file: string, text: string): void {
  writeFileSync(file, text);
  settle(file);
}

const id = (p: Project) => (p as unknown as FakeProject).id;

describe("WorkerProjects", () => {
  it("lends the same project to the next job while its spec is unchanged, and a new one after an edit", async () => {
    const { open, opened } = opener();
    const projects = new WorkerProjects(open);
    const dir = projectDir();
    const first = await projects.acquire(dir, "dagwright.yaml", {});
    await first.release();
    const again = await projects.acquire(dir, "dagwright.yaml", {});
    expect(id(again.project)).toBe(id(first.project));
    await again.release();

    edit(path.join(dir, "dagwright.yaml"), "b");
    const edited = await projects.acquire(dir, "dagwright.yaml", {});
    expect(id(edited.project)).not.toBe(id(first.project));
    expect(opened[0]!.closed).toBe(true);
    await edited.release();
    await projects.closeAll();
    expect(opened.every((p) => p.closed)).toBe(true);
  });

  it("keeps projects apart by root, spec file and environment", async () => {
    const { open } = opener();
    const projects = new WorkerProjects(open);
    const dir = projectDir();
    const other = projectDir();
    const ids = [];
    for (const [root, env] of [
      [dir, { DAGWRIGHT_BRANCH: "main" }],
      [dir, { DAGWRIGHT_BRANCH: "feature" }],
      [other, { DAGWRIGHT_BRANCH: "main" }],
    ] as const) {
      const lease = await projects.acquire(root, "dagwright.yaml", env);
      ids.push(id(lease.project));
      await lease.release();
    }
    expect(new Set(ids).size).toBe(3);
    await projects.closeAll();
  });

  it("closes a replaced project only once the job holding it releases it", async () => {
    const { open, opened } = opener();
    const projects = new WorkerProjects(open);
    const dir = projectDir();
    const running = await projects.acquire(dir, "dagwright.yaml", {});
    edit(path.join(dir, "dagwright.yaml"), "changed");
    const next = await projects.acquire(dir, "dagwright.yaml", {});
    expect(id(next.project)).not.toBe(id(running.project));
    expect(opened[0]!.closed).toBe(false);
    await running.release();
    expect(opened[0]!.closed).toBe(true);
    await next.release();
    await projects.closeAll();
  });

  it("closes the least recently used idle project beyond the number it keeps, never a lent one", async () => {
    const { open, opened } = opener();
    const projects = new WorkerProjects(open, 2);
    const dirs = [projectDir(), projectDir(), projectDir()];
    const held = await projects.acquire(dirs[0]!, "dagwright.yaml", {});
    const b = await projects.acquire(dirs[1]!, "dagwright.yaml", {});
    await b.release();
    const c = await projects.acquire(dirs[2]!, "dagwright.yaml", {});
    await c.release();
    expect(opened.map((p) => p.closed)).toEqual([false, true, false]);
    await held.release();
    await projects.closeAll();
  });

  it("never closes the project it is lending, even when every project it keeps is busy", async () => {
    const { open, opened } = opener();
    const projects = new WorkerProjects(open, 2);
    const dirs = [projectDir(), projectDir(), projectDir()];
    const leases = [];
    for (const dir of dirs) leases.push(await projects.acquire(dir, "dagwright.yaml", {}));
    expect(opened.map((p) => p.closed)).toEqual([false, false, false]);
    for (const lease of leases) await lease.release();
    await projects.closeAll();
  });

  it("opens the project again when its state file was deleted or replaced (a reset of .dagwright)", async () => {
    const { open, opened } = opener();
    const projects = new WorkerProjects(open);
    const dir = projectDir();
    const db = path.join(dir, "state.db");
    writeFileSync(db, "one");
    const first = await projects.acquire(dir, "dagwright.yaml", {});
    await first.release();
    const same = await projects.acquire(dir, "dagwright.yaml", {});
    expect(id(same.project)).toBe(id(first.project));
    await same.release();

    rmSync(db);
    writeFileSync(db, "two");
    const reset = await projects.acquire(dir, "dagwright.yaml", {});
    expect(id(reset.project)).not.toBe(id(first.project));
    expect(opened[0]!.closed).toBe(true);
    await reset.release();
    await projects.closeAll();
  });
});
