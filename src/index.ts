/**
 * dagwright as a library: what the CLI itself calls, with the same errors ({@link DagwrightError}
 * with a stable `code`, {@link SpecError} carrying every problem of a spec). Open a project and
 * run, check or explain a selection of it ({@link openProject}: no process-wide state, so several
 * projects and runs may share a process); load and validate a spec, pick a graph, draw or render
 * it; open the state store the CLI records runs in.
 *
 * Importing this module loads neither `pg` nor `@aws-sdk/client-s3`; those optional peer
 * dependencies are loaded when a PostgreSQL state URL or an S3 artifact location is opened.
 *
 * @packageDocumentation
 */

/** Opening the shared artifact location (a mounted volume or `s3://bucket/prefix`). */
export type { ArtifactStore, PullResult } from "./artifacts/artifact-store.js";
export {
  type ArtifactLocation,
  type ArtifactStoreOptions,
  openArtifactStore,
  parseArtifactLocation,
} from "./artifacts/open-artifact-store.js";
export { BullmqExecutor, type BullmqExecutorOptions } from "./exec/bullmq-executor.js";
/** The events a run emits to its observer, in order. */
/** The executor seam: what runs ready tasks, and the local one. */
export type { Executor, RunResult, TaskOutcome } from "./exec/executor.js";
export { LocalExecutor, type LocalExecutorOptions } from "./exec/local-executor.js";
export type {
  RunCounts,
  RunEvent,
  RunEventInit,
  RunObserver,
  RunStatus,
} from "./exec/run-events.js";
export type { RunGraphOptions } from "./exec/run-options.js";
/** Picking, checking, selecting and drawing one named graph. */
export { buildGraph, checkAllGraphs } from "./graph/build-graph.js";
export { drawGraph, type GraphFormat } from "./graph/draw-graph.js";
export type { Graph, GraphTask } from "./graph/graph.js";
export { type Selection, selectTasks } from "./graph/select-tasks.js";
/** What status and explain report per task. */
export type { TaskAssessment } from "./plan/assess-graph.js";
/** Rendering a graph as an Airflow DAG file (pure: no I/O). */
export {
  type AirflowOptions,
  type AirflowTemplateContext,
  renderAirflow,
} from "./render/airflow.js";
/** Rendering a graph as an Argo Workflows manifest (pure: no I/O). */
export {
  type ArgoInput,
  type ArgoOptions,
  type ArgoRender,
  type ArgoTemplateContext,
  renderArgo,
} from "./render/argo.js";
/** Rendering a graph as a Prefect flow (pure: no I/O). */
export {
  type PrefectOptions,
  type PrefectTemplateContext,
  renderPrefect,
} from "./render/prefect.js";
/** The renderer seam every target implements. */
export {
  RENDER_TARGETS,
  type Renderer,
  type RenderInput,
  type RenderResult,
} from "./render/renderer.js";
/** Rendering a graph as an AWS Step Functions state machine (pure: no I/O). */
export { renderStepFunctions, type StepFunctionsOptions } from "./render/stepfunctions.js";
/** Opening a project and running, checking, explaining or rendering a selection of it. */
export { type LoadedSpec, openProject, type ProjectOptions } from "./session/open-project.js";
/** The state store a project uses (`DAGWRIGHT_STATE_URL`, else `.dagwright/state.db`). */
export { openStore } from "./session/open-store.js";
export type {
  ExplainReport,
  Project,
  RunningAttempt,
  StatusReport,
  TaskStatusRow,
} from "./session/project.js";
export { decodeRenderedEnv } from "./session/project-env.js";
export type { ProjectRenderOptions, RenderTargetOptions } from "./session/render-spec.js";
/** A run's persisted event log (`.dagwright/runs/<runId>.jsonl`), read or tailed by another process. */
export {
  type FollowRunEventsOptions,
  followRunEvents,
  latestRun,
  listRuns,
  type RunLogEntry,
  readRunEvents,
  runEventsPath,
} from "./session/run-events-log.js";
export type { ProjectRunOptions, ProjectRunResult } from "./session/run-lifecycle.js";
export type { RunScope, ScopeSelection } from "./session/run-scope.js";
/** Diagnostics and errors: every problem carries its file:line:column and a fix. */
export {
  type Diagnostic,
  formatDiagnostic,
  type SourceLocation,
} from "./spec/diagnostic.js";
export { DagwrightError, type ErrorCode, SpecError, UsageError } from "./spec/errors.js";
/** The JSON Schema of `dagwright.yaml`, generated from the same schema validation uses. */
export { specJsonSchema } from "./spec/json-schema.js";
/** Loading and validating a spec (`dagwright.yaml`, or a kptn `kptn.yaml`). */
export {
  type LoadOptions,
  type LoadResult,
  loadSpec,
  loadSpecWithDiagnostics,
} from "./spec/load-spec.js";
export { type ConfigOptions, resolveConfig } from "./spec/resolve-config.js";
/** The normalized spec: plain data, every default filled. */
export type {
  Compute,
  GraphEntrySpec,
  GraphSpec,
  SecretRef,
  Settings,
  Spec,
  SpecFormat,
  TaskKind,
  TaskSpec,
} from "./spec/types.js";
/** What the state store records. */
export type {
  AttemptBegin,
  AttemptCompletion,
  AttemptFailure,
  AttemptOutcome,
  AttemptRefusal,
  AttemptWrite,
  AttemptWriteResult,
  ItemState,
  OutputRecord,
  RunRecord,
  StateStore,
  TaskRunRecord,
  TaskStatus,
} from "./state/state-store.js";
