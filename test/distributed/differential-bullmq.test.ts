import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO } from "../helpers.js";
import { hasRedisServer, type RedisService, startRedis } from "../services/redis.js";
import { startRun, startWorker, type WorkerProcess } from "./bullmq-service.js";

type Lib = typeof import("../../src/index.js");
const lib = (): Promise<Lib> => import(path.join(REPO, "dist", "index.js")) as Promise<Lib>;

/** A fresh copy of an example project. */
function copyExample(name: string): string {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), "dagwright-diff-")), name);
  cpSync(path.join(REPO, "examples", name), dir, { recursive: true });
  return dir;
}

/** Every file under `out/`, path → content. */
function outputs(dir: string): Record<string, string> {
  const out = path.join(dir, "out");
  if (!existsSync(out)) return {};
  return Object.fromEntries(
    readdirSync(out, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => {
        const file = path.join(e.parentPath, e.name);
        return [path.relative(dir, file), readFileSync(file, "utf8")];
      })
      .sort(([a], [b]) => (a! < b! ? -1 : 1)),
  );
}

/** What the state store recorded for each task: what a later run decides from. */
async function recordedState(dir: string, graph: string): Promise<unknown> {
  const l = await lib();
  const project = await l.openProject(dir);
  try {
    const { namespace, tasks } = await project.status({ graph });
    const states = await project.store.taskStates(
      namespace,
      tasks.map((t) => t.task),
    );
    return tasks.map(({ task, state }) => {
      const s = states.get(task)?.lastSuccess;
      return {
        task,
        state,
        status: s?.status,
        fingerprint: s?.fingerprint,
        outputs: s?.outputs.map((o) => [o.path, o.hash]),
        resultHash: s?.resultHash,
      };
    });
  } finally {
    await project.close();
  }
}

describe.skipIf(!hasRedisServer())("the examples run the same on local and bullmq", () => {
  let redis: RedisService;
  let worker: WorkerProcess;

  beforeAll(async () => {
    redis = await startRedis();
    // The argo example's tasks go to the queues of their machine types.
    const queues = ["dagwright", "cpu_small", "gpu_small"].flatMap((q) => ["--queue", q]);
    worker = await startWorker(redis, ["--concurrency", "2", ...queues]);
  }, 60_000);

  afterAll(async () => {
    await worker.stop();
    await redis.stop();
  }, 60_000);

  // quickstart: Python, TypeScript, R and shell tasks with outputs; argo: fan-out in bundles.
  for (const [example, graph] of [
    ["quickstart", "sales"],
    ["argo", "daily"],
  ] as const) {
    it(`${example}: the same outputs and the same recorded state, and each finds the other's run fresh`, async () => {
      const local = copyExample(example);
      const remote = copyExample(example);
      const bullmq = ["--executor", "bullmq", "--redis", redis.url];
      expect(await startRun(local, [graph]).exited).toBe(0);
      const run = startRun(remote, [graph, ...bullmq]);
      expect(await run.exited).toBe(0);
      expect(outputs(remote)).toEqual(outputs(local));
      expect(await recordedState(remote, graph)).toEqual(await recordedState(local, graph));
      // A local run after the bullmq one (and the reverse) has nothing to do.
      const localAfter = startRun(remote, [graph, "--json"]);
      expect(await localAfter.exited).toBe(0);
      expect(localAfter.stdout()).not.toContain('"task-start"');
      const remoteAfter = startRun(local, [graph, ...bullmq, "--json"]);
      expect(await remoteAfter.exited).toBe(0);
      expect(remoteAfter.stdout()).not.toContain('"task-start"');
    }, 120_000);
  }
});
