import path from "node:path";
import { afterAll, beforeAll, describe } from "vitest";
import { describeRuns, type ExecutorCase } from "../exec/run-local-suite.js";
import { type PostgresService, startPostgres } from "../services/postgres.js";
import { hasRedisServer, type RedisService, startRedis } from "../services/redis.js";
import { startWorker, type WorkerProcess } from "./bullmq-service.js";

let redis: RedisService | undefined;
let pg: PostgresService | undefined;
const workers: WorkerProcess[] = [];
/** Filled with the server's URL once it is up, before any test runs. */
const cliArgs = ["--executor", "bullmq", "--redis"];

const bullmq: ExecutorCase = {
  name: "bullmq",
  cliArgs,
  create: (lib) => new lib.BullmqExecutor({ redis: redis!.url }),
};

// Workers know only the server: each temp project's branch comes with its jobs.
describe.skipIf(!hasRedisServer())("the BullMQ executor on PostgreSQL state", () => {
  beforeAll(async () => {
    pg = await startPostgres();
    redis = await startRedis();
    cliArgs.push(redis.url);
    const env = { DAGWRIGHT_STATE_URL: pg.url };
    workers.push(await startWorker(redis, ["--concurrency", "2"], env));
    workers.push(await startWorker(redis, ["--concurrency", "2"], env));
  }, 300_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.stop();
    await pg?.stop();
  }, 60_000);

  describeRuns(
    {
      name: "PostgreSQL",
      env: (dir) => ({ DAGWRIGHT_STATE_URL: pg!.url, DAGWRIGHT_BRANCH: path.basename(dir) }),
    },
    [bullmq],
  );
});
