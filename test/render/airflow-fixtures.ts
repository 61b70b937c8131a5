import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO } from "../helpers.js";

/** The loader that imports a DAG file against test/render/airflow-stubs (see load_dag.py). */
export const LOAD_DAG = path.join(REPO, "test", "render", "airflow-stubs", "load_dag.py");

/** One task of a loaded DAG, as load_dag.py dumps it. */
export interface LoadedTask {
  operator: string;
  mapped: boolean;
  kwargs: Record<string, unknown>;
  expand?: Record<string, { from: string; sample: unknown }>;
  rendered: Record<string, unknown>;
  argv?: string[];
  template_file_errors: string[];
}

/** Why the Airflow tests stop where python3 has no jinja2 (they would check less, silently). */
export const NO_JINJA =
  "python3 cannot import jinja2, which the Airflow tests need to check what Airflow's Jinja makes of each templated field: run `sh scripts/setup-runtimes.sh --test` (or `python3 -m pip install jinja2`)";

/** What load_dag.py prints. */
export interface LoadedFile {
  jinja: boolean;
  statements: string[];
  with_body: string[];
  dags: {
    dag_id: string;
    kwargs: Record<string, unknown>;
    tasks: Record<string, LoadedTask>;
    edges: [string, string][];
  }[];
}

/** Loads DAG source with python3 and the stubs; throws with Python's error when it fails. */
export function loadDag(source: string, airflow: 2 | 3 = 3): LoadedFile {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dagwright-airflow-"));
  const file = path.join(dir, "dag.py");
  writeFileSync(file, source);
  const r = spawnSync("python3", [LOAD_DAG, file, "--airflow", String(airflow)], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`load_dag.py failed (${r.status}):\n${r.stderr}`);
  const loaded = JSON.parse(r.stdout) as LoadedFile;
  if (!loaded.jinja) throw new Error(NO_JINJA);
  return loaded;
}
