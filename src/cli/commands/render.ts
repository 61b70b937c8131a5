import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Argument, type Command, Option } from "commander";
import { isSecretsManagerArn } from "../../render/asl-secrets.js";
import { RENDER_TARGETS, type RenderTarget } from "../../render/renderer.js";
import { type ProjectRenderOptions, renderSpec } from "../../session/render-spec.js";
import { UsageError } from "../../spec/errors.js";
import type { CommandContext } from "../context.js";
import { loadForCommand } from "../load.js";
import { paint } from "../output.js";

/** The state URL's secret when `--state-secret` is not given (every target but Prefect). */
const DEFAULT_STATE_SECRET = "dagwright-state:url";

interface RenderOptions {
  out: string;
  env?: string;
  set?: string[];
  kind?: "Workflow" | "WorkflowTemplate";
  image?: string;
  namespace?: string;
  branch?: string;
  stateSecret?: string;
  serviceAccount?: string;
  template?: string;
  airflow?: "2" | "3";
  operator?: "kubernetes" | "bash";
  prefect?: "2" | "3";
  infra?: "process" | "work-pool";
  workPool?: string;
  launch?: "fargate" | "ec2" | "batch";
  inlineMapMax?: string;
  json?: boolean;
}

export function registerRender(program: Command, ctx: CommandContext): void {
  program
    .command("render")
    .description(
      `compile a graph for an orchestrator into files under --out (targets: ${RENDER_TARGETS.join(", ")})`,
    )
    .addArgument(
      new Argument(
        "<TARGET>",
        "argo: an Argo Workflow; airflow: one Airflow DAG file; prefect: one Prefect flow file; stepfunctions: an AWS Step Functions state machine and its params file",
      ).choices(RENDER_TARGETS),
    )
    .argument("[GRAPH]", "graph name (optional when the spec has one graph)")
    .requiredOption("--out <DIR>", "directory to write the rendered files to")
    .option(
      "--env <NAME>",
      "merge environments.NAME.config over config (and pass --env to the pods)",
    )
    .option(
      "--set <KEY=VALUE>",
      "override a config value at render time (repeatable)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .addOption(
      new Option("--kind <KIND>", "argo: what to write")
        .choices(["Workflow", "WorkflowTemplate"])
        .default("Workflow"),
    )
    .option(
      "--image <IMAGE>",
      "container image (default: config.image, else settings.docker_image)",
    )
    .option("--namespace <NS>", "Kubernetes namespace (default: config.argo.namespace)")
    .option("--branch <NAME>", "state branch the pods use (DAGWRIGHT_BRANCH)")
    .option(
      "--state-secret <NAME:KEY>",
      `Secret holding the PostgreSQL state URL (default: ${DEFAULT_STATE_SECRET}; stepfunctions: Secrets Manager secret name or ARN and JSON key, a whole secret's ARN, or an SSM parameter ARN; prefect: a Secret block name, no default)`,
    )
    .option("--service-account <NAME>", "service account of the pods")
    .addOption(
      new Option("--airflow <VERSION>", "airflow: the Airflow major version whose names to use")
        .choices(["2", "3"])
        .default("3"),
    )
    .addOption(
      new Option("--operator <OPERATOR>", "airflow: run each unit in a pod or on the worker")
        .choices(["kubernetes", "bash"])
        .default("kubernetes"),
    )
    .addOption(
      new Option("--prefect <VERSION>", "prefect: the Prefect major version prefect.yaml names")
        .choices(["2", "3"])
        .default("3"),
    )
    .addOption(
      new Option(
        "--infra <INFRA>",
        "prefect: run units where the flow runs, or each in its own container of a work pool (writes prefect.yaml); with --state-secret BLOCK, every unit reads DAGWRIGHT_STATE_URL from that Prefect Secret block at run time",
      )
        .choices(["process", "work-pool"])
        .default("process"),
    )
    .option(
      "--work-pool <NAME>",
      "prefect --infra work-pool: the work pool (default: config.prefect.work_pool)",
    )
    .option(
      "--template <FILE>",
      "a Nunjucks (Jinja-compatible) template for the whole file, fed the data the built-in file is made from (docs/render.md)",
    )
    .addOption(
      new Option(
        "--launch <TYPE>",
        "stepfunctions: where units run (ECS Fargate or EC2, AWS Batch)",
      )
        .choices(["fargate", "ec2", "batch"])
        .default("fargate"),
    )
    .option(
      "--inline-map-max <N>",
      "stepfunctions: fan-outs of up to N items (and a key list up to 200 KiB) use an inline Map, others a Distributed Map (default 1000)",
    )
    .option("--json", "print what was written, the warnings and the target's report as JSON")
    .action((target: RenderTarget, graphName: string | undefined, opts: RenderOptions) =>
      writeRender(ctx, target, graphName, opts),
    );
}

/** Renders and writes the files (each atomically), then prints what was written. */
async function writeRender(
  ctx: CommandContext,
  target: RenderTarget,
  graphName: string | undefined,
  opts: RenderOptions,
): Promise<void> {
  const result = await renderSpec(
    await loadForCommand(ctx),
    target,
    graphName,
    targetOptions(target, opts),
  );
  for (const w of result.warnings) ctx.o.err(`${paint(ctx.o.color, "yellow", "warning")}: ${w}\n`);
  const written: string[] = [];
  const out = path.resolve(opts.out);
  mkdirSync(out, { recursive: true });
  for (const [name, content] of Object.entries(result.files)) {
    const file = path.join(out, name);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, content);
    renameSync(tmp, file);
    written.push(path.relative(process.cwd(), file) || file);
    if (!opts.json) ctx.o.out(`wrote ${written[written.length - 1]}\n`);
  }
  if (opts.json)
    ctx.o.out(
      `${JSON.stringify({ files: written, warnings: result.warnings, ...result.report }, null, 2)}\n`,
    );
}

/** The flags of `render` as the target's options (flags another target has are ignored). */
function targetOptions(target: RenderTarget, opts: RenderOptions): ProjectRenderOptions {
  const layering = {
    ...(opts.env !== undefined ? { env: opts.env } : {}),
    ...(opts.set ? { set: opts.set } : {}),
    ...(opts.branch ? { branch: opts.branch } : {}),
  };
  const template = readTemplate(opts.template);
  if (target === "prefect")
    return {
      ...layering,
      prefect: opts.prefect === "2" ? 2 : 3,
      infra: opts.infra ?? "process",
      ...(opts.workPool !== undefined ? { workPool: opts.workPool } : {}),
      // A Secret block name, checked by the renderer; none when not given.
      ...(opts.stateSecret !== undefined ? { stateSecret: opts.stateSecret } : {}),
      ...(opts.image ? { image: opts.image } : {}),
      ...(template !== undefined ? { template } : {}),
    };
  const stateSecret = opts.stateSecret ?? DEFAULT_STATE_SECRET;
  const [secretName, secretKey] = stateSecret.split(":");
  if (!secretName || !secretKey)
    throw new UsageError(
      `--state-secret expects NAME:KEY, received ${JSON.stringify(opts.stateSecret)}`,
      "e.g. --state-secret dagwright-state:url",
    );
  if (target === "stepfunctions") {
    if (template !== undefined)
      throw new UsageError(
        "--template is not supported for stepfunctions yet",
        "render without --template",
      );
    return {
      ...layering,
      ...(opts.image ? { image: opts.image } : {}),
      launch: opts.launch ?? "fargate",
      // NAME:KEY where NAME may be an ARN (colons in it): the key follows the last colon; an
      // SSM parameter ARN and a whole secret's ARN have no key.
      stateUrlSecret: splitLast(stateSecret),
      ...(opts.inlineMapMax !== undefined ? { inlineMapMax: inlineMapMax(opts.inlineMapMax) } : {}),
    };
  }
  const pods = {
    ...layering,
    ...(opts.image ? { image: opts.image } : {}),
    ...(opts.namespace ? { namespace: opts.namespace } : {}),
    ...(opts.serviceAccount ? { serviceAccountName: opts.serviceAccount } : {}),
    stateUrlSecret: { name: secretName, key: secretKey },
  };
  if (target === "airflow") {
    return {
      ...(template !== undefined ? { template } : {}),
      ...pods,
      airflow: opts.airflow === "2" ? 2 : 3,
      operator: opts.operator ?? "kubernetes",
    };
  }
  return {
    ...pods,
    ...(opts.kind ? { kind: opts.kind } : {}),
    ...(template !== undefined ? { template } : {}),
  };
}

function splitLast(ref: string): { name: string; key: string } {
  const at = ref.lastIndexOf(":");
  if (ref.slice(at + 1).startsWith("parameter/") || isSecretsManagerArn(ref))
    return { name: ref, key: "" };
  return { name: ref.slice(0, at), key: ref.slice(at + 1) };
}

function inlineMapMax(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n))
    throw new UsageError(
      `--inline-map-max expects a whole number of items, received ${JSON.stringify(value)}`,
      "e.g. --inline-map-max 1000",
    );
  return n;
}

/** The text of `--template FILE` (relative to the working directory), if given. */
function readTemplate(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(path.resolve(file), "utf8");
  } catch (err) {
    throw new UsageError(`cannot read --template ${file}: ${(err as Error).message}`);
  }
}
