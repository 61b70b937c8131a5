import { afterAll, beforeAll, describe } from "vitest";
import { describeRuns, type ExecutorCase } from "../exec/run-local-suite.js";
import { hasRedisServer, type RedisService, startRedis } from "../services/redis.js";
import { startWorker, type WorkerProcess } from "./bullmq-service.js";

let redis: RedisService | undefined;
const workers: WorkerProcess[] = [];
/** Filled with the server's URL once it is up, before any test runs. */
const cliArgs = ["--executor", "bullmq", "--redis"];

const bullmq: ExecutorCase = {
  name: "bullmq",
  cliArgs,
  create: (lib) => new lib.BullmqExecutor({ redis: redis!.url }),
};

describe.skipIf(!hasRedisServer())("the BullMQ executor with two worker processes", () => {
  beforeAll(async () => {
    redis = await startRedis();
    cliArgs.push(redis.url);
    workers.push(await startWorker(redis, ["--concurrency", "2"]));
    workers.push(await startWorker(redis, ["--concurrency", "2"]));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.stop();
  }, 60_000);

  describeRuns({ name: "the embedded SQLite store", env: () => ({}) }, [bullmq]);
});
