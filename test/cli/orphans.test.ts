import { existsSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { describeOrphanRuns, type RecordedProcess } from "./orphans-suite.js";

describeOrphanRuns("SQLite", {
  env: () => ({}),
  recorded: async (dir) => {
    const file = path.join(dir, ".dagwright", "state.db");
    if (!existsSync(file)) return [];
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return db
        .prepare<[], RecordedProcess>(
          "SELECT task, item, pid FROM task_processes ORDER BY since, pid",
        )
        .all();
    } catch {
      return []; // no table yet
    } finally {
      db.close();
    }
  },
});
