import { splitSqlStatements } from "../spec/sql-statements.js";
import type { ConfigKeys } from "./python-config-keys.js";

/**
 * The config keys a SQL task's result can depend on: the `$name` parameters its statements use
 * (sorted), since those are all it receives from config. Pure.
 */
export function sqlConfigKeys(source: string): ConfigKeys {
  return [...new Set(splitSqlStatements(source).flatMap((s) => s.params))].sort();
}
