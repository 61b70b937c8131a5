import { ENV_B64_PREFIX } from "./argo.js";
import {
  type ContainerRun,
  type EnvEntry,
  failState,
  isPlainAslString,
  itemCommand,
  type Json,
  type Launch,
  LIST_SCRIPT,
  type Refs,
  runParameters,
  TOP_REFS,
  taskResource,
  taskState,
} from "./asl-task.js";
import type { DeploymentPlan, PlanUnit } from "./deployment-plan.js";
import { toBase64 } from "./quote.js";
import type { SpTree } from "./series-parallel.js";

/** What {@link buildStates} needs besides the ordering. */
export interface MachineContext {
  plan: DeploymentPlan;
  launch: Launch;
  /** State names by request key (see {@link stateNameRequests}). */
  names: Map<string, string>;
  /** Parallel states' numbers, in pre-order. */
  parallels: Map<SpTree, number>;
  /** Env every container gets besides the unit's own (e.g. `DAGWRIGHT_BRANCH`). */
  baseEnv: EnvEntry[];
  /** Up to this many items a fan-out runs as an inline Map; above, as a Distributed Map. */
  inlineMapMax: number;
}

const GET_OBJECT = "arn:aws:states:::aws-sdk:s3:getObject";
/**
 * Above this many bytes of key list (read as a JSON string, see `LIST_SCRIPT`) a fan-out runs as
 * a Distributed Map whatever its count: the `getObject` result and then the inline Map's state
 * data carry the list, and Step Functions caps both at 256 KiB (the rest is left for the params,
 * the run id and the response's other fields).
 */
export const INLINE_MAP_MAX_BYTES = 200 * 1024;
/** Placeholder for an item key while a unit's item command is built (never in user names). */
const ITEM = "\u0000dagwright-item\u0000";
/**
 * Where the fan-out states keep the listing's size (`.size.count`, `.size.bytes`) and the list
 * (`.batches`), overwritten by the next fan-out.
 */
const SCRATCH = "$.dagwright_items";

/**
 * A fan-out's Map ends by emptying the scratch data (the inline Map's key list, up to the byte
 * rule's 200 KiB): it would otherwise travel on to the end of the branch, and sibling branches'
 * lists together could overflow a Parallel state's 256 KiB result.
 */
const DROP_SCRATCH = { ResultSelector: {}, ResultPath: SCRATCH };

/** The state-name requests of a plan and its ordering's Parallel states. */
export function stateNameRequests(
  plan: DeploymentPlan,
  parallels: number,
): { key: string; name: string; suffix?: string }[] {
  const out: { key: string; name: string; suffix?: string }[] = [];
  for (const u of plan.units) {
    out.push(
      { key: `unit:${u.name}`, name: u.name },
      { key: `fail:${u.name}`, name: u.name, suffix: "-failed" },
    );
    if (u.fanOut === undefined) continue;
    for (const [part, suffix] of FAN_OUT_PARTS)
      out.push({ key: `${part}:${u.name}`, name: u.name, suffix });
  }
  for (let i = 1; i <= parallels; i++) out.push({ key: `par:${i}`, name: `parallel-${i}` });
  out.push({ key: "start", name: "dagwright-run" });
  return out;
}

const FAN_OUT_PARTS = [
  ["items", "-items"],
  ["count", "-count"],
  ["route", "-route"],
  ["list", "-list"],
  ["map", "-map"],
  ["dmap", "-map-s3"],
  ["batch", "-batch"],
  ["ifail", "-item-failed"],
  ["bfail", "-batch-failed"],
] as const;

/** A piece of the machine: where it starts, and the states to point at what follows. */
interface Chain {
  start: string;
  ends: Json[];
}

/**
 * The whole machine for `tree` (see {@link buildStates}), starting with a Pass state that gives
 * the execution its run id (`DAGWRIGHT_RUN_ID` of every unit, and the S3 prefix of its item
 * lists): a UUID kept in the state data, so a redriven execution keeps it.
 */
export function buildMachine(tree: SpTree, ctx: MachineContext): { StartAt: string; States: Json } {
  const start = ctx.names.get("start")!;
  const body = buildStates(tree, ctx);
  const pass = {
    Type: "Pass",
    Parameters: { "run.$": "States.UUID()" },
    ResultPath: "$.dagwright",
    Next: body.StartAt,
  };
  return { StartAt: start, States: { [start]: pass, ...body.States } };
}

/**
 * The `States` of the machine for `tree` (and its `StartAt`): a unit is a Task state (a fan-out
 * a listing Task, the item count, and an inline or Distributed Map), a `seq` chains its items,
 * a `par` is a Parallel state with one branch per item. Every Task catches into a Fail state
 * naming its unit. Deterministic: states appear in the order the tree lists the units.
 */
export function buildStates(tree: SpTree, ctx: MachineContext): { StartAt: string; States: Json } {
  const states: Json = {};
  const chain = chainOf(tree, states, ctx);
  for (const end of chain.ends) end.End = true;
  return { StartAt: chain.start, States: states };
}

function chainOf(t: SpTree, states: Json, ctx: MachineContext): Chain {
  if (t.kind === "node") return unitChain(ctx.plan.units[t.index]!, states, ctx);
  if (t.kind === "seq") {
    const chains = t.items.map((item) => chainOf(item, states, ctx));
    for (let i = 0; i + 1 < chains.length; i++)
      for (const end of chains[i]!.ends) end.Next = chains[i + 1]!.start;
    return { start: chains[0]!.start, ends: chains[chains.length - 1]!.ends };
  }
  const name = ctx.names.get(`par:${ctx.parallels.get(t)!}`)!;
  const state: Json = {
    Type: "Parallel",
    Branches: t.items.map((item) => buildStates(item, ctx)),
    ResultPath: null,
  };
  states[name] = state;
  return { start: name, ends: [state] };
}

/**
 * The unit's env, then dagwright's own. A value the ASL schema cannot carry literally (see
 * {@link isPlainAslString}) travels base64-encoded as `DAGWRIGHT_ENV_B64_<NAME>`, which dagwright
 * decodes when it opens the project.
 */
function unitEnv(unit: PlanUnit, ctx: MachineContext, refs: Refs): EnvEntry[] {
  const ours: EnvEntry[] = [{ name: "DAGWRIGHT_RUN_ID", path: refs.run }, ...ctx.baseEnv];
  const taken = new Set(ours.map((e) => e.name));
  return [
    ...unit.env
      .filter(([k]) => !taken.has(k))
      .map(([name, value]) =>
        isPlainAslString(value)
          ? { name, value }
          : { name: `${ENV_B64_PREFIX}${name}`, value: toBase64(value) },
      ),
    ...ours,
  ];
}

function unitChain(unit: PlanUnit, states: Json, ctx: MachineContext): Chain {
  const name = (part: string) => ctx.names.get(`${part}:${unit.name}`)!;
  const fail = name("fail");
  const run = (
    refs: Refs,
    command: string[],
    extraEnv: EnvEntry[],
    compute = unit.compute,
  ): ContainerRun => ({
    command,
    env: [...unitEnv(unit, ctx, refs), ...extraEnv],
    compute,
    // Batch job names: letters, digits, `-` and `_`, starting with a letter or digit.
    jobName: name("unit")
      .replaceAll(".", "_")
      .replace(/^[^A-Za-z0-9]/, "j$&"),
  });
  const settings = {
    retries: unit.retries,
    ...(unit.timeoutSeconds !== undefined ? { timeoutSeconds: unit.timeoutSeconds } : {}),
  };
  const resource = taskResource(ctx.launch);
  if (unit.fanOut === undefined) {
    const task = taskState(
      resource,
      runParameters(ctx.launch, TOP_REFS, run(TOP_REFS, ["dagwright", ...unit.command], [])),
      { ...settings, fail },
    );
    states[name("unit")] = task;
    states[fail] = failState(`${unit.kind} ${JSON.stringify(unit.name)} failed`);
    return { start: name("unit"), ends: [task] };
  }
  return fanOutChain(unit, states, ctx, { name, run, settings, resource, fail });
}

interface UnitParts {
  name: (part: string) => string;
  run: (
    refs: Refs,
    command: string[],
    extraEnv: EnvEntry[],
    compute?: PlanUnit["compute"],
  ) => ContainerRun;
  settings: { retries: number; timeoutSeconds?: number };
  resource: string;
  fail: string;
}

/**
 * A fan-out: the listing Task writes the keys, their count and the list's size in bytes to S3
 * under the run id; a Choice sends more than `inlineMapMax` items, or a list over
 * {@link INLINE_MAP_MAX_BYTES}, to a Distributed Map reading the list with `ItemReader` (batched
 * by `ItemBatcher`), the rest to a `getObject` Task and an inline Map over the list partitioned
 * into bundles. Each item step runs `run-task --item-b64=…`, so an execution
 * reruns only the items that are not fresh.
 */
function fanOutChain(unit: PlanUnit, states: Json, ctx: MachineContext, p: UnitParts): Chain {
  const fanOut = unit.fanOut!;
  const { name, fail } = p;
  const objectKey = (ext: string) =>
    `States.Format('dagwright-items/{}/${name("items")}${ext}', ${TOP_REFS.run})`;
  const object = (ext: string) => ({
    "Bucket.$": `${TOP_REFS.input}.artifact_bucket`,
    "Key.$": objectKey(ext),
  });
  const s3Read = { retries: 2, fail };
  const batch = fanOut.bundleSize ?? 1;

  states[name("items")] = taskState(
    p.resource,
    runParameters(
      ctx.launch,
      TOP_REFS,
      p.run(
        TOP_REFS,
        ["sh", "-c", LIST_SCRIPT, "dagwright", ...fanOut.list],
        [
          { name: "DAGWRIGHT_ITEMS_BUCKET", path: `${TOP_REFS.input}.artifact_bucket` },
          { name: "DAGWRIGHT_ITEMS_KEY", path: objectKey("") },
        ],
        {},
      ),
    ),
    { retries: unit.retries, fail },
    { Next: name("count") },
  );
  states[name("count")] = taskState(GET_OBJECT, object(".count.json"), s3Read, {
    ResultSelector: { "size.$": "States.StringToJson($.Body)" },
    ResultPath: SCRATCH,
    Next: name("route"),
  });
  states[name("route")] = {
    Type: "Choice",
    Choices: [
      {
        Or: [
          { Variable: `${SCRATCH}.size.count`, NumericGreaterThan: ctx.inlineMapMax },
          { Variable: `${SCRATCH}.size.bytes`, NumericGreaterThan: INLINE_MAP_MAX_BYTES },
        ],
        Next: name("dmap"),
      },
    ],
    Default: name("list"),
  };
  states[name("list")] = taskState(GET_OBJECT, object(".json"), s3Read, {
    ResultSelector: {
      "batches.$": `States.ArrayPartition(States.StringToJson($.Body), ${batch})`,
    },
    ResultPath: SCRATCH,
    Next: name("map"),
  });
  const { inline, distributed } = mapStates(unit, ctx, p, object(".json"), object("-results"));
  states[name("map")] = inline;
  states[name("dmap")] = distributed;
  states[fail] = failState(`task ${JSON.stringify(unit.name)} failed`);
  return { start: name("items"), ends: [inline, distributed] };
}

/**
 * The two Maps of a fan-out: inline over the partitioned list in the state data, and
 * Distributed reading `list` (the S3 object) with `ItemReader` and batching with `ItemBatcher`.
 * Both run one item state per bundle and catch into the unit's Fail state; the Distributed one
 * writes its results under `results` (the inline Map's results are run ids, discarded).
 */
function mapStates(
  unit: PlanUnit,
  ctx: MachineContext,
  p: UnitParts,
  list: Json,
  results: Json,
): { inline: Json; distributed: Json } {
  const fanOut = unit.fanOut!;
  const { name, fail } = p;
  const batch = fanOut.bundleSize ?? 1;
  const concurrency = fanOut.groupSize !== undefined ? { MaxConcurrency: fanOut.groupSize } : {};
  // An item's output is the run id (the inline Map gathers every item's output in its state).
  const itemTask = (refs: Refs, keys: string, fails: string) =>
    taskState(
      p.resource,
      runParameters(
        ctx.launch,
        refs,
        p.run(refs, itemArgv(fanOut.item(ITEM)), [{ name: "DAGWRIGHT_ITEMS", path: keys }]),
      ),
      { ...p.settings, fail: fails },
      { OutputPath: refs.run, End: true },
    );
  const inline: Json = {
    Type: "Map",
    ItemsPath: `${SCRATCH}.batches`,
    ItemSelector: {
      "keys.$": "States.JsonToString($$.Map.Item.Value)",
      "input.$": TOP_REFS.input,
      "run.$": TOP_REFS.run,
    },
    ...concurrency,
    ItemProcessor: {
      ProcessorConfig: { Mode: "INLINE" },
      StartAt: name("unit"),
      States: {
        [name("unit")]: itemTask({ input: "$.input", run: "$.run" }, "$.keys", name("ifail")),
        [name("ifail")]: failState(`an item of task ${JSON.stringify(unit.name)} failed`),
      },
    },
    ...DROP_SCRATCH,
    Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: fail }],
  };
  const distributed: Json = {
    Type: "Map",
    ItemReader: {
      Resource: "arn:aws:states:::s3:getObject",
      ReaderConfig: { InputType: "JSON" },
      Parameters: list,
    },
    ItemBatcher: {
      MaxItemsPerBatch: batch,
      BatchInput: { "input.$": TOP_REFS.input, "run.$": TOP_REFS.run },
    },
    ...concurrency,
    // The items' outputs go to S3: the Map's own output could exceed 256 KiB.
    ResultWriter: {
      Resource: "arn:aws:states:::s3:putObject",
      Parameters: { "Bucket.$": results["Bucket.$"], "Prefix.$": results["Key.$"] },
    },
    ItemProcessor: {
      ProcessorConfig: { Mode: "DISTRIBUTED", ExecutionType: "STANDARD" },
      StartAt: name("batch"),
      States: {
        [name("batch")]: itemTask(
          { input: "$.BatchInput.input", run: "$.BatchInput.run" },
          "States.JsonToString($.Items)",
          name("bfail"),
        ),
        [name("bfail")]: failState(`a batch of items of task ${JSON.stringify(unit.name)} failed`),
      },
    },
    ...DROP_SCRATCH,
    Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: fail }],
  };
  return { inline, distributed };
}

/** `dagwright run-task --item-b64=KEY …` as the item script's argv (keys from the batch). */
function itemArgv(args: string[]): string[] {
  const at = args.findIndex((a) => a.includes(ITEM));
  const [prefix, suffix] = args[at]!.split(ITEM) as [string, string];
  if (suffix !== "")
    throw new Error(`itemArgv: item flag ${JSON.stringify(args[at])} has a suffix`);
  return itemCommand(args.slice(0, at), prefix, args.slice(at + 1));
}
