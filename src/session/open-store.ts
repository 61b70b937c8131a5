import { mkdirSync } from "node:fs";
import path from "node:path";
import { FsReads } from "../fingerprint/fs-reads.js";
import { openSqliteStore } from "../state/sqlite-store.js";
import type { StateStore } from "../state/state-store.js";
import { parseStateUrl } from "../state/state-url.js";

/**
 * Opens the state store named by `DAGWRIGHT_STATE_URL` in `env` (parsed by
 * {@link parseStateUrl}): `postgres://...` (PostgreSQL, for teams and rendered targets; the driver
 * is loaded only then), a SQLite path or `sqlite:PATH`; else `<root>/.dagwright/state.db`.
 *
 * @throws DagwrightError `E_USAGE` for an unsupported scheme (nothing is created), `E_ENV` when the
 *   store cannot be opened.
 */
export async function openStore(
  root: string,
  reads: FsReads = new FsReads(),
  env: NodeJS.ProcessEnv = process.env,
): Promise<StateStore> {
  const url = reads.env("DAGWRIGHT_STATE_URL", env);
  if (url !== undefined && url !== "") {
    const location = parseStateUrl(url, root);
    if (location.kind === "postgres") {
      const { openPostgresStore } = await import("../state/postgres-store.js");
      return openPostgresStore(location.url);
    }
    return openSqliteStore(location.file);
  }
  const dir = path.join(root, ".dagwright");
  mkdirSync(dir, { recursive: true });
  return openSqliteStore(path.join(dir, "state.db"));
}
