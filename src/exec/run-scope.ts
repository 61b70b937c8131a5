import { mkdirSync } from "node:fs";
import type { Graph } from "../graph/graph.js";
import { upstreamStatesOf } from "../plan/decide-mapped.js";
import type { UpstreamState } from "../plan/plan-task.js";
import { projectDatabasePath } from "../spec/duckdb-database.js";
import type { StateStore } from "../state/state-store.js";
import { DEFAULT_KEEP_LOGS } from "../tasks/attempt-logs.js";
import { restoreMissingDatabase } from "../tasks/duckdb/duckdb-checkpoint.js";
import { LogFollower } from "../tasks/log-follower.js";
import { startSpawnHelper } from "../tasks/spawn-helper.js";
import { AttemptRecorder } from "./attempt-records.js";
import { LaunchInputs } from "./launch-inputs.js";
import { OutputClaims } from "./output-claims.js";
import { type RunEmitter, stampEvents } from "./run-events.js";
import type { RunGraphOptions } from "./run-options.js";

/** Each task's last attempt and last success, as the run found them. */
export type PreviousStates = Awaited<ReturnType<StateStore["taskStates"]>>;

/**
 * What the tasks of one run share, whichever executor runs them: the options, the previous
 * states, what each finished task contributes to its dependents' fingerprints, output claims,
 * launch inputs and the log follower. Built once per run by {@link openRunScope}.
 */
export interface RunScope {
  o: RunGraphOptions;
  graph: Graph;
  /** Stamps each event with its time and hands it to the run's observer. */
  observer: RunEmitter;
  selected: ReadonlySet<string>;
  states: PreviousStates;
  /** Set as tasks finish (and, up front, for dependencies outside the selection). */
  upstream: Map<string, UpstreamState | undefined>;
  /** Which task declares which output pattern (built at the first task that needs it). */
  claims(): OutputClaims;
  inputs: LaunchInputs;
  /** Writes the run's attempt records (and decides when: deferred begins). */
  recorder: AttemptRecorder;
  keepLogs: number;
  /** Set when the run streams log lines (`run -v`). */
  follower?: LogFollower;
}

/**
 * Reads the previous state of every selected task and of their dependencies (in one query) and
 * prepares what the run's tasks share. Starts the process launcher now when some task will start
 * a process, so it is up by the first one. Rejects when the state store does.
 */
export async function openRunScope(o: RunGraphOptions): Promise<RunScope> {
  const { graph } = o.plan;
  const selected = new Set(o.selected);
  if (!o.dryRun) mkdirSync(o.scratchDir, { recursive: true });
  // Processes start through the posix_spawn launcher once it is up (~20-100 ms): start it now,
  // while the first tasks are planned, rather than at the first process.
  if (!o.dryRun && o.selected.some((t) => graph.tasks[t]!.spec.kind !== "node"))
    void startSpawnHelper();
  if (!o.dryRun && graph.order.some((t) => graph.tasks[t]!.spec.duckdbCheckpoint))
    await restoreMissingDatabase(
      projectDatabasePath(o.plan.spec.root, o.plan.spec.settings),
      graph.order.map((t) => graph.tasks[t]!.spec),
    );
  const needed = new Set<string>(o.selected);
  for (const t of o.selected) for (const d of graph.tasks[t]!.deps) needed.add(d);
  const states = await o.store.taskStates(o.namespace, [...needed]);
  const unselected = [...needed].filter((t) => !selected.has(t));
  const upstream = await upstreamStatesOf(o.store, o.namespace, graph, unselected, states);
  let claims: OutputClaims | undefined;
  const scope: RunScope = {
    o,
    graph,
    observer: stampEvents(o.observer),
    selected,
    states,
    upstream,
    claims: () => {
      claims ??= new OutputClaims(graph, o.plan.outputsDir);
      return claims;
    },
    inputs: new LaunchInputs(o),
    recorder: new AttemptRecorder(o.store),
    keepLogs: o.keepLogs ?? DEFAULT_KEEP_LOGS,
  };
  if (o.streamLogs && !o.dryRun) scope.follower = new LogFollower();
  return scope;
}
