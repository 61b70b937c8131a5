import { z } from "zod";

/*
 * The written shape of dagwright.yaml and kptn.yaml (kptn 0.1 is a subset). This checks shape only;
 * cross-field rules (dependencies, map_over, paths) are small functions in normalize-spec.ts and
 * graph/, which return every problem as data. Every object is strict so typos are reported.
 */

const nonEmpty = z.string().min(1);
const name = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, {
    error: "expected a name of letters, digits, '_', '.' or '-' (not starting with '.' or '-')",
  })
  .max(128);

const stringOrList = z.union([nonEmpty, z.array(nonEmpty).min(1)], {
  error: "expected a string or a non-empty list of strings",
});

/** `{ref: dep}`: pass a dependency's cached result under this argument name. */
export const refArgSchema = z.strictObject({ ref: name });

/** kptn `compute`; cpu ≥ 64 is read as Fargate CPU units (256 = 0.25 vCPU), smaller as vCPUs. */
export const computeSchema = z
  .strictObject({
    cpu: z
      .number()
      .positive()
      .optional()
      .meta({ description: "vCPUs, or Fargate CPU units when ≥ 64 (256 = 0.25 vCPU)" }),
    memory: z.number().positive().optional().meta({ description: "MiB" }),
    gpu: z.number().int().nonnegative().optional(),
  })
  .meta({ description: "Resources the task needs" });

const secretSchema = z.union(
  [
    name,
    z.strictObject({
      name: nonEmpty.meta({ description: "secret name in the target's secret store" }),
      key: nonEmpty
        .optional()
        .meta({ description: "key inside the secret (defaults to the env name)" }),
      env: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "expected an environment variable name" })
        .optional(),
    }),
  ],
  { error: "expected a secret name, or {name, key, env}" },
);

const DURATION_HELP = 'expected seconds as a number, or a duration such as "90s", "15m", "2h"';
const durationSchema = z.union(
  [z.number().positive(), z.string().regex(/^\d+(\.\d+)?\s*(ms|s|m|h)$/, { error: DURATION_HELP })],
  { error: DURATION_HELP },
);

const envValue = z.union([z.string(), z.number(), z.boolean()], {
  error: "expected a string, number or boolean",
});

/** An output written as an object: `{path: "db.duckdb", in_place: true}`. */
const outputObjectSchema = z.strictObject({
  path: nonEmpty.meta({ description: "file pattern; ${VAR} is filled per item" }),
  in_place: z.boolean().optional().meta({
    description:
      "true: the task updates this output in place (a SQLite/DuckDB file, an append log), so its earlier copy is not moved aside before an attempt; it must exist after a success",
  }),
});

export const taskSchema = z
  .strictObject({
    file: nonEmpty.optional().meta({
      description:
        "x.py or x.py:func (Python function, default: the task name), x.R, x.ts / x.js (exported function), x.sh",
    }),
    command: z
      .union([nonEmpty, z.array(z.string()).min(1)], {
        error: "expected a shell string or an argv list",
      })
      .optional()
      .meta({ description: "argv list (no shell), or a string run with sh -c" }),
    description: z.string().optional(),
    outputs: z
      .array(
        z.union([nonEmpty, outputObjectSchema], {
          error: "expected a file pattern or {path: pattern, in_place: true}",
        }),
      )
      .optional()
      .meta({
        description:
          "file patterns; ${VAR} is filled per item. Earlier copies are moved aside before each attempt; {path, in_place: true} updates one in place",
      }),
    inputs: z
      .array(nonEmpty)
      .optional()
      .meta({ description: "extra input file patterns that make the task stale" }),
    args: z.record(z.string(), z.unknown()).optional(),
    cache_result: z.boolean().optional(),
    cache: z.boolean().optional().meta({ description: "false: always run" }),
    iterable_item: nonEmpty.optional(),
    map_over: nonEmpty.optional(),
    bundle_size: z.number().int().min(1).optional(),
    group_size: z.number().int().min(1).optional(),
    prefix_args: z.string().optional(),
    cli_args: z.string().optional(),
    logs: z.string().optional(),
    compute: computeSchema.optional(),
    machine_type: name.optional(),
    tags: z.array(nonEmpty).optional(),
    retries: z.number().int().min(0).max(100).optional(),
    timeout: durationSchema.optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), envValue).optional(),
    secrets: z.array(secretSchema).optional(),
    group: name.optional(),
    template: name.optional(),
    duckdb_checkpoint: z.boolean().optional().meta({
      description: "true: copy the DuckDB database aside after each success (see docs/sql.md)",
    }),
    // kptn 0.1 fields dagwright reads but does not act on (yet).
    wrapper: z.boolean().optional(),
    execution: z.strictObject({ mode: z.enum(["ecs", "batch_array"]) }).optional(),
  })
  .meta({ description: "A task: one file or command plus how to run it" });

/** A graph node entry: `A:`, `B: A`, `C: [A, B]` or `D: {deps: ..., args: {...}}`. */
export const graphEntrySchema = z.union(
  [
    z.null(),
    name,
    z.array(name),
    z.strictObject({
      deps: z
        .union([name, z.array(name)], { error: "expected a task name or a list of task names" })
        .optional(),
      args: z.record(z.string(), z.unknown()).optional(),
    }),
  ],
  { error: "expected nothing, a dependency name, a list of names, or {deps, args}" },
);

const extendsItem = z.union(
  [
    name,
    z.strictObject({
      graph: name,
      args: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
    }),
  ],
  { error: "expected a graph name or {graph, args: {task: {key: value}}}" },
);

export const graphSchema = z.strictObject({
  description: z.string().optional(),
  extends: z
    .union([name, z.array(extendsItem)], {
      error: "expected a graph name or a list of graph names / {graph, args}",
    })
    .optional(),
  tasks: z.record(name, graphEntrySchema).optional(),
  config: z.record(z.string(), z.unknown()).optional(),
});

export const settingsSchema = z
  .strictObject({
    name: name.optional().meta({ description: "project name (default: the directory name)" }),
    cache_namespace: name.optional(),
    base_branch: nonEmpty.optional().meta({
      description:
        "the branch a new branch's state starts from (default: main, else master; none: never)",
    }),
    scratch_dir: nonEmpty.optional(),
    docker_image: nonEmpty.optional(),
    group_tag_prefix: nonEmpty.optional(),
    keep_logs: z
      .number()
      .int()
      .min(1)
      .optional()
      .meta({ description: "attempt logs kept per task and item (default 5)" }),
    strict_outputs: z.boolean().optional().meta({
      description:
        "kptn.yaml projects: fail a task whose declared output pattern matches no file (default false: warn, as kptn does); dagwright.yaml projects always fail",
    }),
    // kptn 0.1 settings
    flows_dir: nonEmpty.optional(),
    flow_type: z.enum(["vanilla", "prefect", "stepfunctions"]).optional(),
    py_tasks_dir: stringOrList.optional(),
    r_tasks_dir: stringOrList.optional(),
    duckdb_tasks_dir: stringOrList.optional(),
    tasks_conf_path: nonEmpty.optional(),
    imports_slot: z.string().optional(),
    db: z.enum(["sqlite", "dynamodb", "duckdb", "postgres"]).optional(),
    db_path: nonEmpty.optional().meta({
      description:
        "the project's DuckDB database file that SQL tasks and duckdb:// outputs use (default .dagwright/project.duckdb)",
    }),
    logging: z.strictObject({ file: nonEmpty.optional() }).optional(),
  })
  .meta({ description: "Project settings" });

export const environmentSchema = z.strictObject({
  config: z.record(z.string(), z.unknown()).optional(),
});

const rootFields = {
  version: z.literal(1).optional(),
  settings: settingsSchema.optional(),
  config: z.record(z.string(), z.unknown()).optional(),
  environments: z.record(name, environmentSchema).optional(),
};

/**
 * The top level with graphs and tasks left unchecked: the loader checks each task and graph on
 * its own, so one broken task does not hide the problems of the others.
 */
export const specRootSchema = z.strictObject({
  ...rootFields,
  graphs: z.record(name, z.unknown()),
  tasks: z.record(name, z.unknown()),
});

/** The whole file as written (dagwright.yaml, or a kptn.yaml read unchanged). */
export const specFileSchema = z
  .strictObject({
    ...rootFields,
    graphs: z.record(name, graphSchema),
    tasks: z.record(name, taskSchema),
  })
  .meta({
    title: "dagwright pipeline spec",
    description: "dagwright.yaml (a kptn.yaml of kptn 0.1 is read unchanged)",
  });

export type SpecFile = z.infer<typeof specFileSchema>;
export type TaskFile = z.infer<typeof taskSchema>;
export type GraphFile = z.infer<typeof graphSchema>;
export type GraphEntryFile = z.infer<typeof graphEntrySchema>;
export type SettingsFile = z.infer<typeof settingsSchema>;

/** Known keys per object kind, for "did you mean" on unknown fields. */
export const KNOWN_KEYS = {
  root: Object.keys(specFileSchema.shape),
  task: Object.keys(taskSchema.shape),
  graph: Object.keys(graphSchema.shape),
  settings: Object.keys(settingsSchema.shape),
  entry: ["deps", "args"],
  compute: Object.keys(computeSchema.shape),
  environment: Object.keys(environmentSchema.shape),
  secret: ["name", "key", "env"],
  extends: ["graph", "args"],
} as const;
