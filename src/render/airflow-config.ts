import type { Diagnostic } from "../spec/diagnostic.js";
import { didYouMean } from "../spec/did-you-mean.js";
import { parseDuration } from "../spec/normalize-spec.js";
import { PyExpr } from "./python-literal.js";

/** One `config.airflow.init_tasks` entry: a command run before every unit. */
export interface AirflowInitTask {
  name: string;
  /** argv; runs in `image` (default: the project image). */
  command: string[];
  image?: string;
}

/** `config.airflow`, read and checked, with the DAG kwargs of one graph merged. */
export interface AirflowConfig {
  namespace?: string;
  serviceAccountName?: string;
  /** Tags with this prefix name a group (kedro-airflow style, e.g. `airflow:`). */
  groupTagPrefix?: string;
  /** Tags with this prefix name a machine type (e.g. `machine:`). */
  machineTagPrefix?: string;
  /** `node_selectors.MACHINE_TYPE`: node labels a unit of that machine type is scheduled on. */
  nodeSelectors: Record<string, Record<string, string>>;
  initTasks: AirflowInitTask[];
  /** DAG keyword arguments (Airflow 3 names), values as Python source-ready data. */
  dag: Record<string, unknown>;
}

const AIRFLOW_KEYS = [
  "namespace",
  "service_account_name",
  "group_tag_prefix",
  "machine_tag_prefix",
  "node_selectors",
  "init_tasks",
  "dag",
  "graphs",
] as const;
/** DAG kwargs dagwright passes through (Airflow 3 names). */
const DAG_KEYS = [
  "schedule",
  "start_date",
  "end_date",
  "catchup",
  "max_active_runs",
  "max_active_tasks",
  "tags",
  "default_args",
  "description",
  "dagrun_timeout",
  "doc_md",
  "is_paused_upon_creation",
] as const;
const DURATION_ARGS = ["retry_delay", "execution_timeout", "max_retry_delay", "sla"];
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?(?:Z|[+-]00:?00)?$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

type Problem = (path: string, message: string, hint?: string) => void;

/**
 * Reads `config.airflow` for graph `graph`: settings, init tasks and the DAG kwargs
 * (`dag`, with `graphs.<graph>` merged over it key by key). Durations (`dagrun_timeout`,
 * `default_args.retry_delay`, ...) become `timedelta`s and dates (`start_date`, `end_date`, UTC)
 * `datetime`s. Every problem is pushed to `diagnostics`.
 */
export function readAirflowConfig(
  config: Record<string, unknown>,
  graph: string,
  diagnostics: Diagnostic[],
): AirflowConfig {
  const problem: Problem = (path, message, hint) =>
    diagnostics.push({
      severity: "error",
      kind: "invalid-config",
      path,
      message,
      ...(hint ? { hint } : {}),
    });
  const out: AirflowConfig = { nodeSelectors: {}, initTasks: [], dag: {} };
  const raw = config.airflow;
  if (raw === undefined) return out;
  if (!isRecord(raw)) {
    problem("config.airflow", "expected a map", "e.g. `airflow: {dag: {schedule: '@daily'}}`");
    return out;
  }
  for (const key of Object.keys(raw)) {
    if (!(AIRFLOW_KEYS as readonly string[]).includes(key))
      problem(
        `config.airflow.${key}`,
        `unknown key "${key}".${didYouMean(key, AIRFLOW_KEYS)}`.replace(/\.$/, ""),
        `config.airflow keys: ${AIRFLOW_KEYS.join(", ")}`,
      );
  }
  for (const [key, field] of [
    ["namespace", "namespace"],
    ["service_account_name", "serviceAccountName"],
    ["group_tag_prefix", "groupTagPrefix"],
    ["machine_tag_prefix", "machineTagPrefix"],
  ] as const) {
    const v = raw[key];
    if (typeof v === "string") out[field] = v;
    else if (v !== undefined)
      problem(`config.airflow.${key}`, `expected a string, received ${JSON.stringify(v)}`);
  }
  out.nodeSelectors = readNodeSelectors(raw.node_selectors, problem);
  out.initTasks = readInitTasks(raw.init_tasks, problem);
  const graphs = raw.graphs;
  if (graphs !== undefined && !isRecord(graphs))
    problem("config.airflow.graphs", "expected a map of graph name → DAG kwargs");
  const over = isRecord(graphs) ? graphs[graph] : undefined;
  const dagPath = over === undefined ? "config.airflow.dag" : `config.airflow.graphs.${graph}`;
  const merged = { ...(isRecord(raw.dag) ? raw.dag : {}), ...(isRecord(over) ? over : {}) };
  if (raw.dag !== undefined && !isRecord(raw.dag))
    problem(
      "config.airflow.dag",
      "expected a map of DAG kwargs",
      "e.g. `dag: {schedule: '@daily'}`",
    );
  out.dag = readDagKwargs(merged, dagPath, problem);
  return out;
}

function readDagKwargs(
  raw: Record<string, unknown>,
  at: string,
  problem: Problem,
): Record<string, unknown> {
  const dag: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(raw)) {
    const path = `${at}.${key}`;
    if (!(DAG_KEYS as readonly string[]).includes(key)) {
      problem(
        path,
        `unknown DAG argument "${key}".${didYouMean(key, DAG_KEYS)}`.replace(/\.$/, ""),
        key === "schedule_interval"
          ? "write `schedule`; `render airflow --airflow 2` writes it as schedule_interval"
          : `supported: ${DAG_KEYS.join(", ")}`,
      );
      continue;
    }
    if (key === "start_date" || key === "end_date") dag[key] = pyDate(v, path, problem);
    else if (key === "dagrun_timeout") dag[key] = pyDuration(v, path, problem);
    else if (key === "default_args") {
      if (!isRecord(v)) {
        problem(path, "expected a map", "e.g. `default_args: {owner: data, retries: 1}`");
        continue;
      }
      dag[key] = Object.fromEntries(
        Object.entries(v).map(([k, x]) => [
          k,
          DURATION_ARGS.includes(k) ? pyDuration(x, `${path}.${k}`, problem) : x,
        ]),
      );
    } else dag[key] = v;
    if (!isPlainData(dag[key]))
      problem(path, "expected plain data (strings, numbers, booleans, lists, maps)");
  }
  return dag;
}

function isPlainData(v: unknown): boolean {
  if (v instanceof PyExpr || v === null || v === undefined) return true;
  if (typeof v === "string" || typeof v === "boolean") return true;
  if (typeof v === "number") return Number.isFinite(v);
  if (Array.isArray(v)) return v.every(isPlainData);
  return (
    isRecord(v) &&
    Object.getPrototypeOf(v) === Object.prototype &&
    Object.values(v).every(isPlainData)
  );
}

function pyDate(v: unknown, path: string, problem: Problem): PyExpr | undefined {
  const d = v instanceof Date ? v.toISOString().replace(/\.\d+Z$/, "Z") : v;
  const m = typeof d === "string" ? ISO_DATE.exec(d) : null;
  if (m === null) {
    problem(path, `expected a UTC date like 2024-01-01, received ${JSON.stringify(v)}`);
    return undefined;
  }
  const parts = m.slice(1).map((p) => (p === undefined ? 0 : Number(p)));
  return new PyExpr(`datetime.datetime(${parts.join(", ")}, tzinfo=datetime.timezone.utc)`);
}

function pyDuration(v: unknown, path: string, problem: Problem): PyExpr | undefined {
  try {
    if (typeof v !== "number" && typeof v !== "string") throw new Error();
    const s = parseDuration(v);
    if (!Number.isFinite(s) || s < 0) throw new Error();
    return new PyExpr(`datetime.timedelta(seconds=${s})`);
  } catch {
    problem(
      path,
      `expected a duration (seconds, or "90s", "15m", "2h"), received ${JSON.stringify(v)}`,
    );
    return undefined;
  }
}

function readNodeSelectors(raw: unknown, problem: Problem): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  if (raw === undefined) return out;
  const hint = "e.g. `node_selectors: {gpu_small: {cloud.google.com/gke-accelerator: nvidia-l4}}`";
  if (!isRecord(raw)) {
    problem("config.airflow.node_selectors", "expected a map of machine type → node labels", hint);
    return out;
  }
  for (const [name, labels] of Object.entries(raw)) {
    if (isRecord(labels) && Object.values(labels).every((l) => typeof l === "string"))
      out[name] = labels as Record<string, string>;
    else problem(`config.airflow.node_selectors.${name}`, "expected a map of label → value", hint);
  }
  return out;
}

function readInitTasks(raw: unknown, problem: Problem): AirflowInitTask[] {
  if (raw === undefined) return [];
  const hint = "e.g. `init_tasks: [{name: migrate, command: [dagwright, doctor]}]`";
  if (!Array.isArray(raw)) {
    problem("config.airflow.init_tasks", "expected a list of {name, command, image?}", hint);
    return [];
  }
  const out: AirflowInitTask[] = [];
  for (const [i, entry] of raw.entries()) {
    const ok =
      isRecord(entry) &&
      typeof entry.name === "string" &&
      entry.name !== "" &&
      Array.isArray(entry.command) &&
      entry.command.length > 0 &&
      entry.command.every((c) => typeof c === "string") &&
      (entry.image === undefined || typeof entry.image === "string") &&
      Object.keys(entry).every((k) => ["name", "command", "image"].includes(k));
    if (!ok) {
      problem(
        `config.airflow.init_tasks[${i}]`,
        "expected {name, command: [argv...], image?}",
        hint,
      );
      continue;
    }
    if (out.some((t) => t.name === entry.name)) {
      problem(
        `config.airflow.init_tasks[${i}].name`,
        `init task "${entry.name}" is declared twice`,
      );
      continue;
    }
    out.push({
      name: entry.name as string,
      command: entry.command as string[],
      ...(typeof entry.image === "string" ? { image: entry.image } : {}),
    });
  }
  return out;
}
