import type { Command } from "commander";
import { runTaskUnit } from "../../distributed/run-task-unit.js";
import type { RunObserver } from "../../exec/run-events.js";
import { expandItems, pickItems } from "../../plan/expand-items.js";
import { loadItems } from "../../plan/plan-items.js";
import type { RunScope } from "../../session/run-scope.js";
import { UsageError } from "../../spec/errors.js";
import { type CommandContext, EXIT } from "../context.js";
import { leaveStoresForExit } from "../exit.js";
import { humanObserver, jsonObserver } from "../progress.js";
import { openCommandProject, selectionOf } from "../run-context.js";

interface RunTaskOptions {
  item?: string[];
  itemB64?: string[];
  b64?: boolean;
  bundle?: string;
  bundleSize?: string;
  listItems?: boolean;
  force?: boolean;
  json?: boolean;
  env?: string;
  set?: string[];
}

/** An item key as rendered manifests carry it: base64url, so no character is special there. */
function encodeKey(key: string): string {
  return Buffer.from(key, "utf8").toString("base64url");
}

function decodeKey(encoded: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(encoded))
    throw new UsageError(
      `--item-b64 expects a base64url item key, received ${JSON.stringify(encoded)}`,
    );
  return Buffer.from(encoded, "base64url").toString("utf8");
}

/** `--item` and `--item-b64` keys together, or undefined when neither was given. */
function itemKeys(opts: RunTaskOptions): string[] | undefined {
  if (opts.item === undefined && opts.itemB64 === undefined) return undefined;
  return [...(opts.item ?? []), ...(opts.itemB64 ?? []).map(decodeKey)];
}

function positiveInt(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`${flag} expects a whole number, received ${JSON.stringify(value)}`);
  return n;
}

export function registerRunTask(program: Command, ctx: CommandContext): void {
  program
    .command("run-task")
    .description(
      "run one task (or some items of a mapped task) if it is not fresh: the entry point every target runs",
    )
    .argument("<GRAPH>", "graph name")
    .argument("<TASK>", "task name")
    .option(
      "--item <KEY>",
      "run only this item of a mapped task (repeatable)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      "--item-b64 <KEY>",
      "like --item, with the key base64url-encoded (what rendered manifests pass: Argo and the kubelet expand nothing in it)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option("--bundle <N>", "run only bundle N (0-based) of a mapped task's items")
    .option(
      "--bundle-size <N>",
      "items per bundle for --bundle/--list-items (default: the task's bundle_size, else 1)",
    )
    .option(
      "--list-items",
      "print the JSON list of item keys (or bundle numbers with --bundle-size) and exit",
    )
    .option("--b64", "with --list-items: print the keys base64url-encoded (for --item-b64)")
    .option("--force", "run even if fresh")
    .option("--json", "newline-delimited JSON events on stdout")
    .option("--env <NAME>", "merge environments.NAME.config over config")
    .option(
      "--set <KEY=VALUE>",
      "override a config value (repeatable)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .action(async (graphName: string, taskName: string, opts: RunTaskOptions) => {
      const project = await openCommandProject(ctx);
      try {
        const scope = await project.scope(
          selectionOf(graphName, { ...opts, only: [taskName] }),
          "copy",
        );
        const keys = await pickKeys(ctx, scope, taskName, opts);
        if (keys === "listed") return;
        const observer: RunObserver = opts.json ? jsonObserver(ctx.o) : humanObserver(ctx.o, false);
        const { status } = await runTaskUnit(project, scope, {
          observer,
          force: opts.force ?? false,
          command: `dagwright run-task ${graphName} ${taskName}`,
          // Rendered targets retry through their own retryStrategy; one attempt per invocation.
          singleAttempt: true,
          ...(keys ? { keys } : {}),
        });
        ctx.setExit(status === "succeeded" ? EXIT.ok : EXIT.taskFailed);
      } finally {
        await project.close({ leaveForExit: leaveStoresForExit() });
      }
    });
}

/**
 * The items `run-task` runs: `--item`/`--item-b64` keys, or `--bundle N`'s; undefined for all.
 * `--list-items` prints the keys (or bundle numbers) instead: "listed".
 */
async function pickKeys(
  ctx: CommandContext,
  rc: RunScope,
  taskName: string,
  opts: RunTaskOptions,
): Promise<string[] | undefined | "listed"> {
  const graphName = rc.graph.name;
  const task = rc.graph.tasks[taskName]!;
  const mapped = task.spec.mapOver !== undefined;
  let keys = itemKeys(opts);
  if ((keys || opts.bundle !== undefined || opts.listItems) && !mapped) {
    throw new UsageError(
      `task "${taskName}" has no map_over, so it has no items`,
      "drop --item/--item-b64/--bundle/--list-items",
    );
  }
  if (mapped && (opts.listItems || opts.bundle !== undefined)) {
    const wanted = task.spec.mapOver!.join(",");
    const producer = task.deps.find(
      (d) => rc.graph.tasks[d]?.spec.iterableItem?.join(",") === wanted,
    )!;
    const state = await rc.store.lastSuccess(rc.namespace, producer);
    if (!state)
      throw new UsageError(
        `"${taskName}" maps over "${producer}", which has not succeeded yet`,
        `run it first: dagwright run-task ${graphName} ${producer}`,
      );
    const items = expandItems(task, producer, await rc.store.result(rc.namespace, producer));
    const size = positiveInt("--bundle-size", opts.bundleSize, task.spec.bundleSize ?? 1) || 1;
    if (opts.listItems) {
      const list =
        opts.bundleSize !== undefined
          ? Array.from({ length: Math.ceil(items.length / size) }, (_, i) => String(i))
          : items.map((i) => (opts.b64 ? encodeKey(i.key) : i.key));
      ctx.o.out(`${JSON.stringify(list)}\n`);
      return "listed";
    }
    const n = positiveInt("--bundle", opts.bundle, 0);
    const bundle = items.slice(n * size, (n + 1) * size);
    if (bundle.length === 0)
      throw new UsageError(
        `bundle ${n} is empty: "${taskName}" has ${items.length} items, ${Math.ceil(items.length / size)} bundles of ${size}`,
      );
    keys = bundle.map((i) => i.key);
  }
  if (keys && mapped) {
    // Name a wrong --item before anything runs (exit 2), with a suggestion.
    const loaded = await loadItems(rc.store, rc.namespace, rc.graph, task);
    if ("items" in loaded) pickItems(taskName, loaded.items, keys);
  }
  return keys;
}
