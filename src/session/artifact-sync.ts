import type { ArtifactStore } from "../artifacts/artifact-store.js";
import { artifactPathOf, usesProjectDatabase } from "../spec/duckdb-database.js";
import { DagwrightError } from "../spec/errors.js";
import type { RunScope } from "./run-scope.js";

/**
 * The artifact location named by `DAGWRIGHT_ARTIFACTS_URL` in `env`, if any (s3://bucket/prefix
 * or a volume path).
 */
export async function openArtifactsFromEnv(
  env: Readonly<NodeJS.ProcessEnv>,
): Promise<ArtifactStore | undefined> {
  const url = env.DAGWRIGHT_ARTIFACTS_URL;
  if (url === undefined || url === "") return undefined;
  const { openArtifactStore } = await import("../artifacts/open-artifact-store.js");
  return openArtifactStore(url);
}

const GLOB = /[*?[{]/;

/**
 * Before a pod decides and runs `tasks`: fetch what they read from the shared artifact location:
 * the recorded outputs of their dependencies, their own recorded outputs (so "fresh" can be
 * checked against real files) and their declared inputs. An upstream output that the state store
 * says exists but the location lacks is an environment error, never silently skipped.
 */
export async function pullForTasks(
  rc: RunScope,
  artifacts: ArtifactStore,
  tasks: readonly string[],
): Promise<void> {
  const wanted = new Set<string>();
  const required = new Set<string>();
  const fileOf = (recorded: string) => artifactPathOf(rc.spec.root, rc.spec.settings, recorded);
  for (const name of tasks) {
    const task = rc.graph.tasks[name]!;
    for (const dep of task.deps) {
      if (tasks.includes(dep)) continue; // produced in this pod
      for (const o of (await rc.store.lastSuccess(rc.namespace, dep))?.outputs ?? []) {
        wanted.add(fileOf(o.path));
        required.add(fileOf(o.path));
      }
    }
    for (const o of (await rc.store.lastSuccess(rc.namespace, name))?.outputs ?? [])
      wanted.add(fileOf(o.path));
    // It writes into the database: start from the shared copy, so its push keeps other tables.
    if (usesProjectDatabase(task.spec)) wanted.add(fileOf("duckdb://"));
    for (const pattern of task.spec.inputs) {
      if (!GLOB.test(pattern) && !pattern.includes("${")) {
        wanted.add(pattern);
        continue;
      }
      const cut = pattern.search(/[*?[{]|\$\{/);
      const prefix = pattern.slice(0, pattern.lastIndexOf("/", cut) + 1);
      for (const p of await artifacts.list(prefix)) wanted.add(p);
    }
  }
  if (wanted.size === 0) return;
  const { missing } = await artifacts.pull(rc.spec.root, [...wanted].sort());
  const lost = missing.filter((m) => required.has(m));
  if (lost.length > 0) {
    throw new DagwrightError(
      "E_ENV",
      `upstream outputs recorded as done are missing from ${artifacts.location}: ${lost.join(", ")}`,
      {
        hint: "rerun the upstream task with --force, or check that every pod uses the same DAGWRIGHT_ARTIFACTS_URL",
      },
    );
  }
}

/**
 * The runGraph options every command shares for a context: plan, store, namespace, run id,
 * directories, and, with an artifact location, publishing outputs before they are recorded.
 */
export function sharedRunOptions(
  rc: RunScope,
  runId: string,
  artifacts: ArtifactStore | undefined,
) {
  return {
    plan: rc.plan,
    store: rc.store,
    namespace: rc.namespace,
    runId,
    scratchDir: rc.scratchDir,
    logDir: rc.logDir,
    keepLogs: rc.keepLogs,
    env: rc.taskEnv,
    pools: rc.pools,
    ...(artifacts
      ? {
          // A duckdb:// table travels as the database file that holds it.
          beforeRecord: (paths: string[]) =>
            artifacts.push(rc.spec.root, [
              ...new Set(paths.map((p) => artifactPathOf(rc.spec.root, rc.spec.settings, p))),
            ]),
        }
      : {}),
  };
}
