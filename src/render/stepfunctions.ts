import type { Graph } from "../graph/graph.js";
import { type Diagnostic, formatDiagnostic } from "../spec/diagnostic.js";
import { SpecError } from "../spec/errors.js";
import { buildMachine, stateNameRequests } from "./asl-machine.js";
import { assignStateNames } from "./asl-names.js";
import { checkAslSecret, secretValueFrom } from "./asl-secrets.js";
import { type EnvEntry, isPlainAslString, type Launch, launchSize } from "./asl-task.js";
import {
  checkTargetFeatures,
  type DeploymentPlan,
  planDeployment,
  type Report,
  reportBadProcessArg,
  reportInto,
} from "./deployment-plan.js";
import type { RenderInput, RenderResult } from "./renderer.js";
import { falseWaitsOf, levelTree, type SpTree, seriesParallel } from "./series-parallel.js";

/** How to render a graph as an AWS Step Functions state machine. Every field is optional. */
export interface StepFunctionsOptions {
  /** Where units run: ECS on Fargate (default) or EC2, or AWS Batch. */
  launch?: Launch;
  /** An environment of the spec; every unit runs with `--env=NAME`. */
  env?: string;
  /** The state branch every unit records under (`DAGWRIGHT_BRANCH`). */
  branch?: string;
  /** Written into the params file as the image the task definition should run. */
  image?: string;
  /**
   * The Secrets Manager secret (name or ARN) and JSON key holding the state store URL, or an SSM
   * parameter ARN, named in the params file's `container.secrets` (default
   * `{name: dagwright-state, key: url}`; see `asl-secrets.ts`).
   */
  stateUrlSecret?: { name: string; key: string };
  /** Up to this many items a fan-out runs as an inline Map; above, a Distributed Map (default 1000). */
  inlineMapMax?: number;
}

/** The default of {@link StepFunctionsOptions.inlineMapMax}. */
export const INLINE_MAP_MAX = 1000;

/** Added waits printed one by one; the rest are counted (`--json` lists them all). */
const WARNED_WAITS = 20;

/** The largest definition Step Functions accepts (bytes). */
const DEFINITION_MAX = 2 ** 20;

const SAFE_FILE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * Renders one graph as Amazon States Language (`<graph>.asl.json`) plus the execution input a
 * deployer fills in (`<graph>.params.json`: cluster, task definition, network, artifact bucket,
 * Batch queue; the machine reads them as `$$.Execution.Input.*`). Each unit is a Task state
 * running `dagwright run-task …` (or `run --only=…`) like an Argo pod; dependencies are Parallel
 * states and chains from {@link seriesParallel}: exact for series-parallel graphs, otherwise
 * with the fewest added waits it finds, each reported as a warning and in `report.addedWaits`.
 * Pure and deterministic. User strings are JSON string values only, never under a `.$` key, so
 * Step Functions never reads them as paths; state names are generated (see `asl-names.ts`).
 * Throws {@link SpecError} with every problem (features ASL cannot express, sizes Fargate lacks).
 */
export function renderStepFunctions(input: RenderInput<StepFunctionsOptions>): RenderResult {
  const { graph, options } = input;
  const launch = options.launch ?? "fargate";
  const diagnostics: Diagnostic[] = [];
  const report = reportInto(diagnostics, "stepfunctions");
  const plan = planDeployment(
    input,
    {
      output: "Step Functions state machine",
      ...(options.env !== undefined ? { env: options.env } : {}),
      ...(options.image !== undefined ? { image: options.image } : {}),
      ...(options.stateUrlSecret !== undefined ? { stateUrlSecret: options.stateUrlSecret } : {}),
      bundles: "keys",
      checkSecret: checkAslSecret,
      checkArg: (value, what, path, task) => {
        // The image only goes into the params file, as a suggestion.
        if (path === "settings.docker_image") return;
        if (reportBadProcessArg(report, value, what, path, task)) return;
        if (!isPlainAslString(value))
          report(
            "error",
            path,
            `${what} ${JSON.stringify(value)} cannot be a literal string of a state machine (empty, a line break, or JSONata's "{% ")`,
            "rename it",
            task,
          );
      },
    },
    // The task definition names the image; the params file only suggests one.
    (severity, path, message, hint, task) =>
      path === "settings.docker_image" ? undefined : report(severity, path, message, hint, task),
    diagnostics,
  );
  const secrets = checkFeatures(plan, launch, report);
  if (diagnostics.some((d) => d.severity === "error")) throw new SpecError(diagnostics);

  const { ordering, addedWaits, levelFalseWaits } = orderUnits(plan, graph, report);
  const warnings = diagnostics.filter((d) => d.severity === "warning").map(formatDiagnostic);

  const parallels = numberParallels(ordering.tree);
  const names = assignStateNames(stateNameRequests(plan, parallels.size));
  const baseEnv: EnvEntry[] =
    options.branch !== undefined ? [{ name: "DAGWRIGHT_BRANCH", value: options.branch }] : [];
  const machine = {
    Comment: `Generated by dagwright from graph ${JSON.stringify(graph.name)}; edit dagwright.yaml and render again.`,
    ...buildMachine(ordering.tree, {
      plan,
      launch,
      names,
      parallels,
      baseEnv,
      inlineMapMax: options.inlineMapMax ?? INLINE_MAP_MAX,
    }),
  };
  const bytes = new TextEncoder().encode(JSON.stringify(machine)).length;
  if (bytes > DEFINITION_MAX)
    warnings.push(
      formatDiagnostic({
        severity: "warning",
        kind: "stepfunctions",
        path: `graphs.${graph.name}`,
        message: `the state machine is ${(bytes / 2 ** 20).toFixed(1)} MiB even minified, over the 1 MiB Step Functions accepts for a definition: creating it would fail`,
        hint: "fuse tasks into fewer units with `group:`, or split the graph into several",
      }),
    );
  const base = fileBase(graph);
  return {
    files: {
      [`${base}.asl.json`]: `${JSON.stringify(machine, null, 2)}\n`,
      [`${base}.params.json`]: `${JSON.stringify(params(plan, launch, secrets), null, 2)}\n`,
    },
    warnings,
    report: {
      addedWaits,
      falseWaits: ordering.falseWaits,
      levelOrderingFalseWaits: levelFalseWaits,
    },
  };
}

/**
 * The series-parallel ordering of the plan's units, with a warning for each wait it adds, and
 * the waits level-by-level ordering would add (for `--json`).
 */
function orderUnits(plan: DeploymentPlan, graph: Graph, report: Report) {
  const index = new Map(plan.units.map((u, i) => [u.name, i]));
  const deps = plan.units.map((u) => u.deps.map((d) => index.get(d)!));
  const ordering = seriesParallel(deps);
  const addedWaits = ordering.added.map(([x, y]) => ({
    task: plan.units[y]!.name,
    waitsFor: plan.units[x]!.name,
  }));
  // One line each (the first with the hint), then one line counting the rest.
  for (const [i, w] of addedWaits.slice(0, WARNED_WAITS).entries())
    report(
      "warning",
      `graphs.${graph.name}`,
      `${w.task} also waits for ${w.waitsFor}: Step Functions cannot express this graph exactly`,
      i === 0
        ? "this only delays it; see docs/render-stepfunctions.md for how the waits are chosen"
        : undefined,
    );
  if (addedWaits.length > WARNED_WAITS)
    report(
      "warning",
      `graphs.${graph.name}`,
      `… and ${addedWaits.length - WARNED_WAITS} more added waits (--json lists them all)`,
    );
  return { ordering, addedWaits, levelFalseWaits: falseWaitsOf(levelTree(deps), deps) };
}

function fileBase(graph: Graph): string {
  return SAFE_FILE.test(graph.name)
    ? graph.name
    : `graph-${graph.name.replace(/[^A-Za-z0-9_.-]+/g, "-")}`;
}

/** Parallel states in pre-order, numbered from 1. */
function numberParallels(tree: SpTree): Map<SpTree, number> {
  const out = new Map<SpTree, number>();
  const visit = (t: SpTree) => {
    if (t.kind === "node") return;
    if (t.kind === "par") out.set(t, out.size + 1);
    for (const item of t.items) visit(item);
  };
  visit(tree);
  return out;
}

/**
 * What ASL cannot express: Argo pod templates (a warning: the task definition shapes the
 * container); GPUs or sizes past the largest on Fargate; two
 * units reading one variable from different secrets (ECS and Batch cannot override secrets per
 * run, so every unit shares the task definition's). Returns the secrets the container needs.
 */
function checkFeatures(
  plan: DeploymentPlan,
  launch: Launch,
  report: Report,
): Map<string, { name: string; key: string }> {
  const secrets = new Map<string, { name: string; key: string; unit: string }>();
  secrets.set("DAGWRIGHT_STATE_URL", { ...plan.stateSecret, unit: "" });
  checkTargetFeatures(plan, "render stepfunctions", report, (task, unit, fail) => {
    if (task.spec.template !== undefined)
      report(
        "warning",
        `tasks.${task.name}.template`,
        `task "${task.name}": template "${task.spec.template}" (an Argo pod template) is not applied by render stepfunctions`,
        "put what it adds (sidecars, volumes, node placement) into the ECS task or Batch job definition",
        task,
      );
    if (launch === "fargate" && (unit.compute.gpu ?? 0) > 0)
      fail("a GPU (Fargate has none)", "render with --launch ec2 or --launch batch");
    for (const s of task.spec.secrets) {
      const seen = secrets.get(s.env);
      if (seen === undefined) secrets.set(s.env, { name: s.name, key: s.key, unit: unit.name });
      else if (seen.name !== s.name || seen.key !== s.key)
        fail(
          `${s.env} from secret ${s.name}/${s.key} while ${seen.unit ? `"${seen.unit}"` : "dagwright"} reads it from ${seen.name}/${seen.key}`,
          `every unit shares the task definition's secrets: use one secret for ${s.env}`,
        );
    }
  });
  for (const unit of plan.units) {
    if (launch !== "fargate" || launchSize(launch, unit.compute) !== undefined) continue;
    const first = unit.members[0]!;
    report(
      "error",
      `tasks.${first.name}.compute`,
      `${unit.kind} "${unit.name}" asks for ${unit.compute.cpu ?? 0} vCPU and ${unit.compute.memoryMiB ?? 0} MiB, more than the largest Fargate size (16 vCPU, 120 GiB)`,
      "lower its compute or machine_type, or render with --launch ec2 or --launch batch",
      first,
    );
  }
  return new Map([...secrets].map(([env, s]) => [env, { name: s.name, key: s.key }]));
}

/** The execution input a deployer fills in, with placeholders; see docs/render-stepfunctions.md. */
function params(
  plan: DeploymentPlan,
  launch: Launch,
  secrets: Map<string, { name: string; key: string }>,
): Record<string, unknown> {
  const where =
    launch === "batch"
      ? {
          job_queue: "arn:aws:batch:<region>:<account>:job-queue/<queue>",
          job_definition: "arn:aws:batch:<region>:<account>:job-definition/<name>:<revision>",
        }
      : {
          cluster: "arn:aws:ecs:<region>:<account>:cluster/<cluster>",
          task_definition: "arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>",
          container_name: "dagwright",
          ...(launch === "fargate"
            ? {
                subnets: ["subnet-<id>"],
                security_groups: ["sg-<id>"],
                assign_public_ip: "DISABLED",
              }
            : {}),
        };
  return {
    ...where,
    artifact_bucket: "<bucket>",
    container: {
      image: plan.image || "<image>",
      environment: [{ name: "DAGWRIGHT_ARTIFACTS_URL", value: "s3://<bucket>/<prefix>" }],
      secrets: [...secrets].map(([env, s]) => ({
        name: env,
        valueFrom: secretValueFrom(s),
      })),
    },
  };
}
