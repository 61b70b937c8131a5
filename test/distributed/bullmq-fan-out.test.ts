import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonLines, makeProject } from "../helpers.js";
import { hasRedisServer, type RedisService, startRedis } from "../services/redis.js";
import { startRun, startWorker, type WorkerProcess } from "./bullmq-service.js";

const spec = (fail: string) => `graphs:
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
    command: ["sh", "-c", 'echo "$state" >> calls.txt && [ "$state" != "${fail}" ]']
    map_over: state
    bundle_size: 2
`;

const STATES = {
  "tasks/states.py": "def states():\n    return ['AL', 'CA', 'NC', 'SC', 'VA']\n",
};

interface Event {
  type: string;
  task?: string;
  error?: string;
}

describe.skipIf(!hasRedisServer())("dagwright run --executor bullmq: fan-out", () => {
  let redis: RedisService;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    workers.push(await startWorker(redis));
    workers.push(await startWorker(redis));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await redis.stop();
  }, 60_000);

  const bundleJobs = () =>
    workers.flatMap((w) => w.log().match(/per_state \[\d items\]: started/g) ?? []);

  it("queues one job per bundle of items, then records the task once, with one start and one outcome", async () => {
    const dir = makeProject({ "dagwright.yaml": spec("none"), ...STATES });
    const before = bundleJobs().length;
    const run = startRun(dir, ["--executor", "bullmq", "--redis", redis.url, "--json"]);
    expect(await run.exited).toBe(0);
    expect(bundleJobs().slice(before).sort()).toEqual([
      "per_state [1 items]: started",
      "per_state [2 items]: started",
      "per_state [2 items]: started",
    ]);
    const calls = readFileSync(path.join(dir, "calls.txt"), "utf8").trim().split("\n");
    expect(calls.sort()).toEqual(["AL", "CA", "NC", "SC", "VA"]);
    const events = jsonLines<Event>(run.stdout()).filter((e) => e.task === "per_state");
    expect(events.filter((e) => e.type === "task-start")).toHaveLength(1);
    expect(events.filter((e) => e.type === "task-done")).toHaveLength(1);
    const again = startRun(dir, ["--executor", "bullmq", "--redis", redis.url, "--json"]);
    expect(await again.exited).toBe(0);
    expect(again.stdout()).not.toContain('"task-start"');
    // --force runs every item once more: the whole-task job after the bundles runs none again.
    const forced = startRun(dir, ["--executor", "bullmq", "--redis", redis.url, "--force"]);
    expect(await forced.exited).toBe(0);
    const after = readFileSync(path.join(dir, "calls.txt"), "utf8").trim().split("\n");
    expect(after.sort()).toEqual(["AL", "AL", "CA", "CA", "NC", "NC", "SC", "SC", "VA", "VA"]);
  }, 90_000);

  it("fails the task naming the failed item, which ran once, and runs only it next time", async () => {
    const dir = makeProject({ "dagwright.yaml": spec("NC"), ...STATES });
    const run = startRun(dir, ["--executor", "bullmq", "--redis", redis.url, "--json"]);
    expect(await run.exited).toBe(1);
    const failed = jsonLines<Event>(run.stdout()).find((e) => e.type === "task-failed");
    expect(failed?.error).toBe("4/5 items done, 1 failed (NC: exit code 1)");
    const calls = () => readFileSync(path.join(dir, "calls.txt"), "utf8").trim().split("\n");
    expect(calls().filter((c) => c === "NC")).toHaveLength(1);
    const again = startRun(dir, ["--executor", "bullmq", "--redis", redis.url]);
    expect(await again.exited).toBe(1);
    expect(calls()).toHaveLength(6);
    expect(calls()[5]).toBe("NC");
  }, 90_000);
});
