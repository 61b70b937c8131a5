import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { type PostgresService, startPostgres } from "../services/postgres.js";
import { describeRuns } from "./run-local-suite.js";

let pgService: PostgresService | undefined;
beforeAll(async () => {
  pgService = await startPostgres();
}, 300_000);
afterAll(async () => {
  await pgService?.stop();
});

// One shared server; each temp project is its own state branch, so tests never see each other.
describeRuns({
  name: "PostgreSQL",
  env: (dir) => ({ DAGWRIGHT_STATE_URL: pgService!.url, DAGWRIGHT_BRANCH: path.basename(dir) }),
});
