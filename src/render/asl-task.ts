import type { Compute } from "../spec/types.js";
import { fargateSize } from "./fargate-size.js";

/** Where a unit's container runs: ECS on Fargate or EC2, or AWS Batch. */
export type Launch = "fargate" | "ec2" | "batch";

/** A JSON object of the state machine. */
export type Json = Record<string, unknown>;

/**
 * JSONPaths a Task state reads the execution's params and run id through: the execution input
 * and the id the first state stores in the state data (`$.dagwright.run`, which every state
 * passes on) at the top level; an inline Map's items and a Distributed Map's child executions
 * (whose own `$$.Execution` is the child's) get both from the item selector or batch input.
 */
export interface Refs {
  input: string;
  run: string;
}

/** The references at the top level of the machine. */
export const TOP_REFS: Refs = { input: "$$.Execution.Input", run: "$.dagwright.run" };

/** One environment variable of a container: a literal value, or a JSONPath evaluated by the machine. */
export type EnvEntry = { name: string; value: string } | { name: string; path: string };

/** What one Task state runs. */
export interface ContainerRun {
  /** argv, the executable first (it overrides the image's CMD). */
  command: string[];
  env: EnvEntry[];
  compute: Compute;
  /** For Batch: the job's name (letters, digits, `-`, `_`). */
  jobName: string;
}

const RESOURCE: Record<Launch, string> = {
  fargate: "arn:aws:states:::ecs:runTask.sync",
  ec2: "arn:aws:states:::ecs:runTask.sync",
  batch: "arn:aws:states:::batch:submitJob.sync",
};

/** The Task state's `Resource` for a launch type. */
export function taskResource(launch: Launch): string {
  return RESOURCE[launch];
}

/**
 * True when a string can be a literal value of the machine as the ASL schema (asl-validator)
 * accepts it: not empty, one line (no CR, LF, U+2028, U+2029), not starting with `{% ` (JSONata).
 */
export function isPlainAslString(s: string): boolean {
  return /^[^\n\r\u2028\u2029]+$/.test(s) && !s.startsWith("{% ");
}

/**
 * The listing step's shell script: runs `dagwright ARGS…` (the listing), then puts the JSON list
 * where the Map states read it (`s3://$DAGWRIGHT_ITEMS_BUCKET/$DAGWRIGHT_ITEMS_KEY.json`) and,
 * next to it (`….count.json`), `{"count": N, "bytes": B}`: the number of keys and the list's size
 * in bytes as the `getObject` state returns it (a JSON string: each quote escaped, one byte
 * more), which decide between the inline and the Distributed Map. Keys are base64url, so
 * counting quotes counts them.
 */
export const LIST_SCRIPT = [
  "set -eu",
  'dagwright "$@" > /tmp/dagwright-items.json',
  "n=$(tr -cd '\"' < /tmp/dagwright-items.json | wc -c)",
  "b=$(wc -c < /tmp/dagwright-items.json)",
  'printf \'{"count": %d, "bytes": %d}\\n\' $((n / 2)) $((b + n)) > /tmp/dagwright-items.count',
  'aws s3 cp --only-show-errors /tmp/dagwright-items.json "s3://$DAGWRIGHT_ITEMS_BUCKET/$DAGWRIGHT_ITEMS_KEY.json"',
  'aws s3 cp --only-show-errors /tmp/dagwright-items.count "s3://$DAGWRIGHT_ITEMS_BUCKET/$DAGWRIGHT_ITEMS_KEY.count.json"',
].join("; ");

const PLAIN_ARG = /^[A-Za-z0-9=_-]+$/;

/**
 * The item step's argv: a shell script that turns `$DAGWRIGHT_ITEMS` (a JSON list of base64url
 * keys, one batch) into one `PREFIXKEY` flag each (refusing any other character), then runs
 * `dagwright BEFORE… FLAGS… AFTER…`. `before` and `prefix` are dagwright's own words (checked);
 * `after` (graph and task names) are passed as separate arguments, never through the shell.
 */
export function itemCommand(before: string[], prefix: string, after: string[]): string[] {
  for (const w of [...before, prefix])
    if (!PLAIN_ARG.test(w)) throw new Error(`itemCommand: unexpected word ${JSON.stringify(w)}`);
  const script = [
    "set -euf",
    "n=0",
    `for k in $(printf %s "$DAGWRIGHT_ITEMS" | tr -d '[]"' | tr , ' '); do case $k in *[!A-Za-z0-9_-]*) echo "dagwright: invalid item key in DAGWRIGHT_ITEMS" >&2; exit 2;; esac`,
    `set -- "${prefix}$k" "$@"; n=$((n + 1)); done`,
    // No key (`[]`, `[""]`) would run the whole task instead of its items; a key split in two
    // (a space in it) would run other items: every quoted key must be one word.
    `q=$(printf %s "$DAGWRIGHT_ITEMS" | tr -cd '"' | wc -c | tr -d ' ')`,
    `[ "$n" -gt 0 ] || { echo "dagwright: no item key in DAGWRIGHT_ITEMS" >&2; exit 2; }`,
    `[ "$q" -eq $((n * 2)) ] || { echo "dagwright: invalid item key in DAGWRIGHT_ITEMS" >&2; exit 2; }`,
    `exec dagwright ${before.join(" ")} "$@"`,
  ].join("; ");
  return ["sh", "-c", script, "dagwright", ...after];
}

/**
 * The size a unit asks for on its launch type: Fargate rounds up to a valid cpu/memory pair
 * (undefined when larger than the largest: the caller reports it), EC2 takes cpu units and MiB
 * as they are, Batch vCPUs (rounded up to whole ones) and MiB. GPUs are counted for EC2 and Batch.
 */
export function launchSize(
  launch: Launch,
  c: Compute,
): { cpu?: string; memory?: string; gpu?: string } | undefined {
  const out: { cpu?: string; memory?: string; gpu?: string } = {};
  if (c.gpu !== undefined && c.gpu > 0) out.gpu = String(Math.ceil(c.gpu));
  if (c.cpu === undefined && c.memoryMiB === undefined) return out;
  if (launch === "fargate") {
    const s = fargateSize(c.cpu, c.memoryMiB);
    if (s === undefined) return undefined;
    return { ...out, cpu: String(s.cpu), memory: String(s.memoryMiB) };
  }
  if (c.cpu !== undefined && c.cpu > 0)
    out.cpu = String(launch === "batch" ? Math.ceil(c.cpu - 1e-9) : Math.ceil(c.cpu * 1024 - 1e-6));
  if (c.memoryMiB !== undefined && c.memoryMiB > 0)
    out.memory = String(Math.ceil(c.memoryMiB - 1e-9));
  return out;
}

function environment(env: EnvEntry[]): Json[] {
  return env.map((e) =>
    "value" in e ? { Name: e.name, Value: e.value } : { Name: e.name, "Value.$": e.path },
  );
}

/**
 * The `Parameters` of a unit's Task state: `ecs:runTask.sync` with the cluster, task definition,
 * container name and network from the params (`refs.input`), `Overrides.Cpu`/`Memory` from
 * {@link launchSize}; or `batch:submitJob.sync` with the job queue and definition and
 * `ResourceRequirements`. User strings appear only as values of keys without `.$`.
 */
export function runParameters(launch: Launch, refs: Refs, run: ContainerRun): Json {
  const size = launchSize(launch, run.compute) ?? {};
  const env = environment(run.env);
  if (launch === "batch") {
    const resources: Json[] = [];
    if (size.cpu) resources.push({ Type: "VCPU", Value: size.cpu });
    if (size.memory) resources.push({ Type: "MEMORY", Value: size.memory });
    if (size.gpu) resources.push({ Type: "GPU", Value: size.gpu });
    return {
      JobName: run.jobName,
      "JobQueue.$": `${refs.input}.job_queue`,
      "JobDefinition.$": `${refs.input}.job_definition`,
      ContainerOverrides: {
        Command: run.command,
        Environment: env,
        ...(resources.length > 0 ? { ResourceRequirements: resources } : {}),
      },
    };
  }
  const container: Json = {
    "Name.$": `${refs.input}.container_name`,
    Command: run.command,
    Environment: env,
  };
  if (size.gpu) container.ResourceRequirements = [{ Type: "GPU", Value: size.gpu }];
  return {
    LaunchType: launch === "fargate" ? "FARGATE" : "EC2",
    "Cluster.$": `${refs.input}.cluster`,
    "TaskDefinition.$": `${refs.input}.task_definition`,
    ...(launch === "fargate"
      ? {
          NetworkConfiguration: {
            AwsvpcConfiguration: {
              "Subnets.$": `${refs.input}.subnets`,
              "SecurityGroups.$": `${refs.input}.security_groups`,
              "AssignPublicIp.$": `${refs.input}.assign_public_ip`,
            },
          },
        }
      : {}),
    Overrides: {
      ...(size.cpu ? { Cpu: size.cpu } : {}),
      ...(size.memory ? { Memory: size.memory } : {}),
      ContainerOverrides: [container],
    },
  };
}

/**
 * A Task state: `ResultPath: null` (its input passes on unchanged), `TimeoutSeconds`, `Retry`
 * on any error with exponential backoff (10 s, doubling) for `retries`, and `Catch` of any error
 * into the Fail state `fail`.
 */
export function taskState(
  resource: string,
  parameters: Json,
  settings: { retries: number; timeoutSeconds?: number; fail: string },
  fields: Json = {},
): Json {
  return {
    Type: "Task",
    Resource: resource,
    Parameters: parameters,
    ...fields,
    ...(fields.ResultPath === undefined ? { ResultPath: null } : {}),
    ...(settings.timeoutSeconds !== undefined
      ? { TimeoutSeconds: Math.max(1, Math.ceil(settings.timeoutSeconds)) }
      : {}),
    ...(settings.retries > 0
      ? {
          Retry: [
            {
              ErrorEquals: ["States.ALL"],
              IntervalSeconds: 10,
              MaxAttempts: settings.retries,
              BackoffRate: 2,
            },
          ],
        }
      : {}),
    Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: settings.fail }],
  };
}

/** A Fail state whose cause names what failed. */
export function failState(cause: string): Json {
  return { Type: "Fail", Error: "dagwright.TaskFailed", Cause: cause };
}
