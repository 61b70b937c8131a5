import { fuseGroups, type Unit } from "../graph/fuse-groups.js";
import type { Graph, GraphTask } from "../graph/graph.js";
import type { Diagnostic } from "../spec/diagnostic.js";
import { didYouMean } from "../spec/did-you-mean.js";
import { usesProjectDatabase } from "../spec/duckdb-database.js";
import type { Compute, Spec } from "../spec/types.js";
import { readMachineTypes } from "./argo-config.js";
import { isWellFormedUnicode } from "./quote.js";

/**
 * What every target runs, target-neutral: units after grouping, their edges, resources, env
 * values and secret references, retries, timeouts and the exact `dagwright` command line of each
 * unit (fan-out as a listing command plus one command per item or bundle). Targets map it to
 * their own objects and quoting; nothing in it is escaped for any engine yet.
 */
export interface DeploymentPlan {
  /** The project image every unit runs. */
  image: string;
  /** The Kubernetes Secret holding the state store URL (`DAGWRIGHT_STATE_URL`). */
  stateSecret: SecretKey;
  /** Units, dependencies first. */
  units: PlanUnit[];
  /** `config.machine_types`, normalized. */
  machineTypes: Record<string, Compute>;
}

/** A key of a Kubernetes Secret. */
export interface SecretKey {
  name: string;
  key: string;
}

/** One unit of a {@link DeploymentPlan}. */
export interface PlanUnit extends Unit {
  /** The member tasks (one for a task unit), in topological order. */
  members: GraphTask[];
  /** Env values every member agrees on, in first-seen order. */
  env: [string, string][];
  /** Env variables read from Kubernetes Secrets, by reference. */
  secrets: (SecretKey & { env: string })[];
  /** The largest `retries` of the members. */
  retries: number;
  /** The task's timeout; for a group, the sum of its members' (unset when one has none). */
  timeoutSeconds?: number;
  /** Arguments after `dagwright` (`run-task … -- GRAPH TASK`, or `run --only=…` for a group). */
  command: string[];
  /** Set for a fan-out task: its items run one (or one bundle) per pod. */
  fanOut?: PlanFanOut;
}

/** How a fan-out unit lists and runs its items. */
export interface PlanFanOut {
  /** Arguments after `dagwright` that print the item keys (base64url) or bundle ids as JSON. */
  list: string[];
  /** Arguments after `dagwright` that run one listed key (inserted verbatim). */
  item: (key: string) => string[];
  /** At most this many items (or bundles) at once. */
  groupSize?: number;
  bundleSize?: number;
}

/** What a target adds to {@link planDeployment}. */
export interface PlanOptions {
  /** How the target names its output in messages, e.g. `Argo manifest`. */
  output: string;
  image?: string;
  stateUrlSecret?: SecretKey;
  /** An environment of the spec; every unit runs with `--env=NAME`. */
  env?: string;
  /** Tags with this prefix name a group (default `settings.group_tag_prefix`). */
  groupTagPrefix?: string;
  /**
   * `numbered` (default): with `bundle_size`, the listing prints bundle numbers and each command
   * runs `--bundle=N`; `keys`: the target batches item keys itself (Step Functions' ItemBatcher),
   * so the listing always prints base64url keys and each command runs `--item-b64=KEY`.
   */
  bundles?: "numbered" | "keys";
  /** Called for every user string that enters a command line, where the target can refuse it. */
  checkArg?: (value: string, what: string, path: string, task?: GraphTask) => void;
  /** Checks a secret reference for the target's secret store (default {@link checkSecret}: Kubernetes). */
  checkSecret?: SecretCheck;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

/**
 * Reports `value` (a user string entering a command line) as an error when no process could
 * receive it as an argument (not well-formed Unicode, or a NUL); returns whether it did.
 */
export function reportBadProcessArg(
  report: Report,
  value: string,
  what: string,
  path: string,
  task?: GraphTask,
): boolean {
  if (isWellFormedUnicode(value) && !value.includes("\u0000")) return false;
  report(
    "error",
    path,
    `${what} ${JSON.stringify(value)} cannot be a process argument`,
    undefined,
    task,
  );
  return true;
}

/** Reports a problem of a render; `task` gives it a location. */
export type Report = (
  severity: Diagnostic["severity"],
  path: string,
  message: string,
  hint?: string,
  task?: GraphTask,
) => void;

/** A {@link Report} that adds each problem to `diagnostics`, of `kind`, at its task when given. */
export function reportInto(diagnostics: Diagnostic[], kind: string): Report {
  return (severity, path, message, hint, task) =>
    diagnostics.push({
      severity,
      kind,
      path,
      message,
      ...(task ? { location: task.spec.location } : {}),
      ...(hint ? { hint } : {}),
    });
}

/**
 * What a target cannot express, checked task by task: `check` gets each task of each unit and a
 * `fail(feature, hint)` that reports at that task that `target` cannot express `feature`; then
 * each unit whose cpu or memory the target does not apply gets a warning naming `runsOn`.
 */
export function checkTargetFeatures(
  plan: DeploymentPlan,
  target: string,
  report: Report,
  check: (task: GraphTask, unit: PlanUnit, fail: (feature: string, hint: string) => void) => void,
  resources?: { runsOn: string; hint: string },
): void {
  const sized: PlanUnit[] = [];
  for (const unit of plan.units) {
    for (const task of unit.members) {
      const fail = (feature: string, hint: string) =>
        report(
          "error",
          `tasks.${task.name}`,
          `task "${task.name}" uses ${feature}, which ${target} cannot express`,
          hint,
          task,
        );
      check(task, unit, fail);
    }
    if (resources && (unit.compute.cpu !== undefined || unit.compute.memoryMiB !== undefined))
      sized.push(unit);
  }
  if (resources === undefined) return;
  // One warning per unit up to a few; past that one line says how many more (a 5,000-task
  // graph would otherwise bury everything else).
  for (const unit of sized.slice(0, SHOWN_RESOURCE_WARNINGS))
    report(
      "warning",
      `tasks.${unit.members[0]!.name}.compute`,
      `${unit.kind} "${unit.name}": cpu and memory are not applied by ${target} (it runs on ${resources.runsOn})`,
      resources.hint,
      unit.members[0],
    );
  const more = sized.length - SHOWN_RESOURCE_WARNINGS;
  if (more > 0)
    report(
      "warning",
      "tasks",
      `and ${more} more task${more === 1 ? "" : "s"} whose cpu and memory ${target} does not apply`,
      resources.hint,
    );
}

/** How many units' "cpu and memory are not applied" warnings are shown one by one. */
const SHOWN_RESOURCE_WARNINGS = 20;

/**
 * Builds the {@link DeploymentPlan} of one graph. Pure. Every problem (missing image, invalid
 * secret names, groups whose members disagree on a secret, task names that cannot be listed in
 * `--only`, strings UTF-8 cannot carry, an unknown environment, cyclic grouping) goes to `report`
 * and the plan is still returned as far as it could be built: the caller throws when any
 * error was reported.
 */
export function planDeployment(
  input: { spec: Spec; graph: Graph; config: Record<string, unknown> },
  options: PlanOptions,
  report: Report,
  diagnostics: Diagnostic[],
): DeploymentPlan {
  const { spec, graph, config } = input;
  const fail = (path: string, message: string, hint?: string, task?: GraphTask) =>
    report("error", path, message, hint, task);
  const checkArg = options.checkArg ?? (() => {});

  const machineTypes = readMachineTypes(config, diagnostics);
  const tagPrefix = options.groupTagPrefix ?? spec.settings.groupTagPrefix;
  const fused = fuseGroups(graph, {
    ...(tagPrefix !== undefined ? { tagPrefix } : {}),
    machineTypes,
  });
  diagnostics.push(...fused.diagnostics);

  if (config.image !== undefined && typeof config.image !== "string")
    fail("config.image", `expected a string, received ${JSON.stringify(config.image)}`);
  const image =
    options.image ??
    (typeof config.image === "string" ? config.image : undefined) ??
    spec.settings.dockerImage ??
    "";
  if (image === "")
    fail(
      "settings.docker_image",
      `no container image for the ${options.output}`,
      "pass --image, or set config.image or settings.docker_image",
    );
  checkArg(image, "the image", "settings.docker_image");
  const stateSecret = options.stateUrlSecret ?? { name: "dagwright-state", key: "url" };
  (options.checkSecret ?? checkSecret)(stateSecret, "the state store URL", "stateUrlSecret", fail);
  return {
    image,
    stateSecret,
    machineTypes,
    units: warnParallelDatabaseWriters(
      planUnits(graph, fused.units, options, report, spec),
      report,
    ),
  };
}

/**
 * Units on the project database that no dependency orders: each pod pulls the database file,
 * writes its tables and pushes the whole file back, so the last push wins (docs/sql.md). One
 * warning names the first such pairs. Returns `units`.
 */
function warnParallelDatabaseWriters(units: PlanUnit[], report: Report): PlanUnit[] {
  const writers = units.filter((u) => u.members.some((t) => usesProjectDatabase(t.spec)));
  if (writers.length < 2) return units;
  const ancestors = new Map<string, Set<string>>();
  // Units come dependencies first, so each one's ancestors are known when it is reached.
  for (const u of units) {
    const set = new Set<string>();
    for (const d of u.deps) {
      set.add(d);
      for (const a of ancestors.get(d) ?? []) set.add(a);
    }
    ancestors.set(u.name, set);
  }
  const pairs: string[] = [];
  for (const [i, a] of writers.entries())
    for (const b of writers.slice(i + 1))
      if (!ancestors.get(b.name)!.has(a.name) && !ancestors.get(a.name)!.has(b.name))
        pairs.push(`"${a.name}" and "${b.name}"`);
  if (pairs.length > 0)
    report(
      "warning",
      "settings.db_path",
      `${pairs.slice(0, 3).join(", ")}${pairs.length > 3 ? ` (and ${pairs.length - 3} more pairs)` : ""} write the project database in parallel pods: with an artifact location each pushes the whole database file, and the last push wins`,
      "order them with a dependency, or put them in one group (`group:`) so one pod runs them",
      writers[0]!.members[0],
    );
  return units;
}

/**
 * Checks a secret reference `s` for a target's secret store, reporting through `fail` at `path`
 * and naming `where` (the task, or the state store URL).
 */
export type SecretCheck = (
  s: SecretKey,
  where: string,
  path: string,
  fail: (path: string, message: string, hint?: string, task?: GraphTask) => void,
  task?: GraphTask,
) => void;

/** Rejects names Kubernetes does not accept for a Secret or its key. */
export const checkSecret: SecretCheck = (s, where, path, fail, task) => {
  if (!(s.name.length <= 253 && DNS_SUBDOMAIN.test(s.name)))
    fail(
      path,
      `${where}: secret name ${JSON.stringify(s.name)} is not a valid Kubernetes Secret name`,
      "use lowercase letters, digits, '-' and '.'",
      task,
    );
  if (!SECRET_KEY.test(s.key))
    fail(
      path,
      `${where}: secret key ${JSON.stringify(s.key)} is not a valid key of a Kubernetes Secret`,
      "use letters, digits, '-', '_' and '.'",
      task,
    );
};

/** Every unit with its command line, env and settings; checks the names that enter commands. */
function planUnits(
  graph: Graph,
  units: Unit[],
  options: PlanOptions,
  report: Report,
  spec: Spec,
): PlanUnit[] {
  const fail = (path: string, message: string, hint?: string, task?: GraphTask) =>
    report("error", path, message, hint, task);
  const checkArg = options.checkArg ?? (() => {});
  if (options.env !== undefined && spec.environments[options.env] === undefined) {
    const names = Object.keys(spec.environments);
    fail(
      "environments",
      `unknown environment "${options.env}".${didYouMean(options.env, names)}`.replace(/\.$/, ""),
      names.length > 0 ? `environments in this spec: ${names.join(", ")}` : undefined,
    );
  }
  const arg = (s: string, what: string, path: string, task?: GraphTask): string => {
    checkArg(s, what, path, task);
    return s;
  };
  const runOpts = options.env === undefined ? [] : [arg(`--env=${options.env}`, "env", "env")];
  const graphArg = arg(graph.name, "graph name", `graphs.${graph.name}`);
  const taskArg = (t: GraphTask) => arg(t.name, "task name", `tasks.${t.name}`, t);

  return units.map((unit) => {
    const members = unit.tasks.map((t) => graph.tasks[t]!);
    const first = members[0]!;
    const { env, secrets } = unitEnv(unit, members, report, options.checkSecret ?? checkSecret);
    const planned: PlanUnit = {
      ...unit,
      members,
      env,
      secrets,
      retries: Math.max(...members.map((t) => t.spec.retries)),
      command: [],
    };
    const timeout =
      unit.kind === "task"
        ? first.spec.timeoutSeconds
        : members.every((t) => t.spec.timeoutSeconds !== undefined && t.spec.mapOver === undefined)
          ? members.reduce((sum, t) => sum + t.spec.timeoutSeconds!, 0)
          : undefined;
    if (timeout !== undefined) planned.timeoutSeconds = timeout;
    if (unit.kind === "group") {
      for (const t of members) {
        if (t.name.includes(","))
          fail(
            `tasks.${t.name}`,
            `task "${t.name}" has a comma in its name, so it cannot be listed in --only for group "${unit.name}"`,
            "rename the task",
            t,
          );
      }
      const only = `--only=${members.map(taskArg).join(",")}`;
      planned.command = ["run", only, ...runOpts, "--", graphArg];
      return planned;
    }
    const task = taskArg(first);
    planned.command = ["run-task", ...runOpts, "--", graphArg, task];
    if (first.spec.mapOver === undefined) return planned;
    const bundle = first.spec.bundleSize;
    // Keys go into command lines: base64url, so an item such as `$(SECRET)` is never expanded.
    const numbered = bundle !== undefined && options.bundles !== "keys";
    const listFlags = numbered ? [`--bundle-size=${bundle}`] : ["--b64"];
    const itemFlag = numbered ? "--bundle" : "--item-b64";
    planned.fanOut = {
      list: ["run-task", "--list-items", ...listFlags, ...runOpts, "--", graphArg, task],
      item: (key) => ["run-task", `${itemFlag}=${key}`, ...runOpts, "--", graphArg, task],
      ...(first.spec.groupSize !== undefined ? { groupSize: first.spec.groupSize } : {}),
      ...(bundle !== undefined ? { bundleSize: bundle } : {}),
    };
    return planned;
  });
}

/** A unit's env values (members must agree, else left out with a warning) and secrets. */
function unitEnv(
  unit: Unit,
  tasks: GraphTask[],
  report: Report,
  checkRef: SecretCheck,
): { env: [string, string][]; secrets: (SecretKey & { env: string })[] } {
  const fail = (path: string, message: string, hint?: string, task?: GraphTask) =>
    report("error", path, message, hint, task);
  const values = new Map<string, { value: string; task: string }>();
  const conflicts = new Set<string>();
  const secrets = new Map<string, { name: string; key: string; task: GraphTask }>();
  for (const task of tasks) {
    for (const [k, v] of Object.entries(task.spec.env)) {
      if (!isWellFormedUnicode(v))
        fail(
          `tasks.${task.name}.env.${k}`,
          `task "${task.name}": env ${k} is not valid Unicode (a lone surrogate)`,
          undefined,
          task,
        );
      const seen = values.get(k);
      if (seen === undefined) values.set(k, { value: v, task: task.name });
      else if (seen.value !== v && !conflicts.has(k)) {
        conflicts.add(k);
        report(
          "warning",
          `tasks.${task.name}.env.${k}`,
          `group "${unit.name}": tasks "${seen.task}" and "${task.name}" set ${k} differently, so the group's container leaves it out (each task still gets its own value from the spec)`,
          undefined,
          task,
        );
      }
    }
    for (const s of task.spec.secrets) {
      checkRef(s, `task "${task.name}"`, `tasks.${task.name}.secrets`, fail, task);
      const seen = secrets.get(s.env);
      if (seen === undefined) secrets.set(s.env, { name: s.name, key: s.key, task });
      else if (seen.name !== s.name || seen.key !== s.key)
        fail(
          `tasks.${task.name}.secrets`,
          `group "${unit.name}": tasks "${seen.task.name}" and "${task.name}" read ${s.env} from different secrets (${seen.name}/${seen.key} and ${s.name}/${s.key}), but share one container`,
          `use one secret for ${s.env}, or take one of the tasks out of the group`,
          task,
        );
    }
  }
  return {
    env: [...values].filter(([k]) => !conflicts.has(k)).map(([k, { value }]) => [k, value]),
    secrets: [...secrets].map(([env, s]) => ({ env, name: s.name, key: s.key })),
  };
}

/** Kubernetes requests = limits from normalized compute (cpu in vCPUs, memory in MiB). */
export function kubeQuantities(c: Compute): Record<string, string> | undefined {
  const q: Record<string, string> = {};
  if (c.cpu !== undefined && c.cpu > 0) q.cpu = String(Math.ceil(c.cpu * 1000 - 1e-9) / 1000);
  if (c.memoryMiB !== undefined && c.memoryMiB > 0) q.memory = `${Math.ceil(c.memoryMiB)}Mi`;
  if (c.gpu !== undefined && c.gpu > 0) q["nvidia.com/gpu"] = String(c.gpu);
  return Object.keys(q).length > 0 ? q : undefined;
}
