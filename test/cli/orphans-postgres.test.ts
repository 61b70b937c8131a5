import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { type PostgresService, startPostgres } from "../services/postgres.js";
import { describeOrphanRuns, type RecordedProcess } from "./orphans-suite.js";

let service: PostgresService | undefined;
let client: pg.Client | undefined;
beforeAll(async () => {
  service = await startPostgres();
  client = new pg.Client({ connectionString: service.url });
  await client.connect();
}, 300_000);
afterAll(async () => {
  await client?.end();
  await service?.stop();
});

// One shared server; each temp project is its own state branch, so tests never see each other.
describeOrphanRuns("PostgreSQL", {
  env: (dir) => ({ DAGWRIGHT_STATE_URL: service!.url, DAGWRIGHT_BRANCH: path.basename(dir) }),
  recorded: async (dir) => {
    try {
      const { rows } = await client!.query<RecordedProcess>(
        `SELECT task, item, pid FROM dagwright.task_processes
         WHERE namespace = $1 ORDER BY since, pid`,
        [`g@${path.basename(dir)}`],
      );
      return rows;
    } catch {
      return []; // no schema yet
    }
  },
});
