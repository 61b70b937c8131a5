import { writeFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeProject, runCliAsync } from "../helpers.js";
import { hasRedisServer, type RedisService } from "../services/redis.js";
import { startRedis, startRun, startWorker, type WorkerProcess } from "./bullmq-service.js";

const SPEC = `graphs:
  g: {tasks: {slow: }}
tasks:
  slow:
    command: [sh, -c, "while [ ! -f go ]; do sleep 0.02; done; echo s > s.txt"]
    outputs: [s.txt]
`;

const FAN_OUT = `graphs:
  g:
    tasks:
      states:
      per_state: states
tasks:
  states:
    file: tasks/states.py
    cache_result: true
    iterable_item: state
  per_state:
    command: [sh, -c, 'while [ ! -f go ]; do sleep 0.02; done; echo "$state" >> calls.txt']
    map_over: state
`;

interface StatusJson {
  tasks: {
    task: string;
    state: string;
    running?: { worker: string | null };
    runningItems?: { count: number; workers: string[] };
  }[];
}

type Row = StatusJson["tasks"][number];

/**
 * Starts a BullMQ run in `dir` and polls `dagwright status --json` until `task`'s row passes
 * `ready`; the run is left waiting for the project's `go` file.
 */
async function statusWhileRunning(
  dir: string,
  redisUrl: string,
  task: string,
  ready: (row: Row | undefined) => boolean,
): Promise<{ row: Row; run: ReturnType<typeof startRun> }> {
  const run = startRun(dir, ["--executor", "bullmq", "--redis", redisUrl]);
  let ended = false;
  void run.exited.then(() => {
    ended = true;
  });
  let row: Row | undefined;
  while (!ready(row)) {
    if (ended) throw new Error(`the run ended first:\n${run.stderr()}`);
    const r = await runCliAsync(["status", "--json"], dir);
    if (r.code === 0) row = (JSON.parse(r.stdout) as StatusJson).tasks.find((t) => t.task === task);
  }
  return { row: row!, run };
}

describe.skipIf(!hasRedisServer())("dagwright status during a BullMQ run", () => {
  let redis: RedisService;
  let worker: WorkerProcess;
  beforeAll(async () => {
    redis = await startRedis();
    worker = await startWorker(redis);
  }, 120_000);
  afterAll(async () => {
    await worker?.stop();
    await redis?.stop();
  }, 60_000);

  it("names the worker process that runs the task, not the coordinator", async () => {
    const dir = makeProject({ "dagwright.yaml": SPEC });
    const { row, run } = await statusWhileRunning(dir, redis.url, "slow", (r) => !!r?.running);
    try {
      expect(row).toMatchObject({
        state: "running",
        running: { worker: `${hostname()}:${worker.child.pid}` },
      });
      expect(row.running?.worker).not.toBe(`${hostname()}:${run.child.pid}`);
    } finally {
      writeFileSync(path.join(dir, "go"), "");
    }
    expect(await run.exited).toBe(0);
  }, 120_000);

  it("counts a fan-out's running items and names their worker", async () => {
    const dir = makeProject({
      "dagwright.yaml": FAN_OUT,
      "tasks/states.py": "def states():\n    return ['AL', 'CA']\n",
    });
    const { row, run } = await statusWhileRunning(
      dir,
      redis.url,
      "per_state",
      (r) => !!r?.runningItems,
    );
    try {
      expect(row.runningItems).toEqual({
        count: 1,
        workers: [`${hostname()}:${worker.child.pid}`],
      });
      const human = await runCliAsync(["status"], dir);
      expect(human.stdout).toMatch(
        new RegExp(`per_state\\s+never ran\\s+1 item running on ${hostname()}:${worker.child.pid}`),
      );
    } finally {
      writeFileSync(path.join(dir, "go"), "");
    }
    expect(await run.exited).toBe(0);
  }, 120_000);
});
