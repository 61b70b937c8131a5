import { assignNames, type LabelRequest, type NameRule } from "./names.js";

/** Airflow's longest task or DAG id (`ID_LEN`). */
export const AIRFLOW_ID_MAX = 250;

/** Airflow's rule for task and DAG ids (`KEY_REGEX`), kept to ASCII. */
export const AIRFLOW_ID = /^[A-Za-z0-9_.-]+$/;

/**
 * The readable Airflow id for `name`: every run of other characters becomes `_`, truncated to
 * `maxLength`; `exact` is false when anything changed (so a hash keeps distinct names distinct).
 */
export function toAirflowId(name: string, maxLength: number): { label: string; exact: boolean } {
  let s = name.replace(/[^A-Za-z0-9_.-]+/g, "_");
  if (s === "") s = "t";
  if (s.length > maxLength) s = s.slice(0, maxLength);
  return { label: s, exact: s === name };
}

/** Airflow task and DAG ids. */
export const AIRFLOW_ID_RULE: NameRule = { maxLength: AIRFLOW_ID_MAX, readable: toAirflowId };

/** Distinct Airflow ids for every request (see `assignNames`). */
export function assignAirflowIds(requests: readonly LabelRequest[]): Map<string, string> {
  return assignNames(requests, AIRFLOW_ID_RULE);
}
