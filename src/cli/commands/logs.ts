import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import type { Command } from "commander";
import { buildGraph } from "../../graph/build-graph.js";
import type { Graph } from "../../graph/graph.js";
import { closest, didYouMean } from "../../spec/did-you-mean.js";
import { UsageError } from "../../spec/errors.js";
import { currentBranch, namespaceFor } from "../../state/namespace.js";
import type { StateStore, TaskRunRecord } from "../../state/state-store.js";
import {
  attemptLogDir,
  attemptLogTime,
  listAttemptLogs,
  logDirOf,
} from "../../tasks/attempt-logs.js";
import { type CommandContext, EXIT } from "../context.js";
import { followLog } from "../follow-log.js";
import { loadForCommand } from "../load.js";
import { paint } from "../output.js";
import { openStore } from "../run-context.js";
import { sanitizeTerminal } from "../sanitize-terminal.js";

interface LogsOptions {
  item?: string;
  attempt?: string;
  list?: boolean;
  follow?: boolean;
  json?: boolean;
}

/** The task (and item) whose logs are asked for, with what the store knows of it. */
interface Target {
  graph: Graph;
  namespace: string;
  store: StateStore;
  task: string;
  item?: string;
  /** Kept attempt logs, oldest first. */
  files: string[];
  last?: TaskRunRecord;
}

/** How many items `logs` lists for a fan-out task before it just counts the rest. */
const ITEM_LIST_LIMIT = 20;

export function registerLogs(program: Command, ctx: CommandContext): void {
  program
    .command("logs")
    .description("print a task's log: its last attempt, or --attempt N, or --follow a running one")
    .argument("<GRAPH_OR_TASK>", "graph name (optional when the spec has one graph), then the task")
    .argument("[TASK]", "task name")
    .option("--item <KEY>", "a fan-out item's log (without it: the items and their status)")
    .option("--attempt <N>", "1 = the oldest kept attempt, -1 = the last (default)")
    .option("--list", "list the kept attempts with their start time and status")
    .option("--follow", "keep printing until the attempt ends (Ctrl-C stops)")
    .option("--json", "print JSON on stdout")
    .action(async (first: string, second: string | undefined, opts: LogsOptions) => {
      if (opts.follow && (opts.json || opts.list))
        throw new UsageError(
          "--follow prints the log as it grows; it cannot be combined with --json or --list",
        );
      const graphName = second === undefined ? undefined : first;
      const taskName = second ?? first;
      const { spec, graphs } = await loadForCommand(ctx, { cache: true });
      const names = Object.keys(spec.graphs);
      const chosen = graphName ?? (names.length === 1 ? names[0] : undefined);
      const graph =
        chosen !== undefined && graphs[chosen] ? graphs[chosen]! : buildGraph(spec, graphName);
      const task = graph.tasks[taskName];
      if (task === undefined)
        throw new UsageError(
          `graph "${graph.name}" has no task "${taskName}".${didYouMean(taskName, Object.keys(graph.tasks))}`.replace(
            /\.$/,
            "",
          ),
          `tasks: ${Object.keys(graph.tasks).join(", ")}`,
        );
      const mapped = task.spec.mapOver !== undefined;
      if (opts.item !== undefined && !mapped)
        throw new UsageError(
          `--item: task "${taskName}" is not a fan-out task (it has no map_over)`,
          `drop --item: dagwright logs ${graph.name} ${taskName}`,
        );
      const namespace = namespaceFor(
        spec.settings.cacheNamespace ?? graph.name,
        currentBranch(spec.root),
      );
      const store = await openStore(spec.root);
      try {
        if (mapped && opts.item === undefined) {
          await listItems(ctx, { graph, namespace, store, task: taskName }, opts);
          return;
        }
        const last = await store.lastAttempt(namespace, taskName, opts.item);
        const dir = attemptLogDir(logDirOf(spec.root, namespace), taskName, opts.item);
        const files = listAttemptLogs(dir);
        // A bundle of several items logs once, in its first item's directory: the record knows.
        if (
          last?.logPath !== undefined &&
          !files.includes(last.logPath) &&
          existsSync(last.logPath)
        )
          files.push(last.logPath);
        const target: Target = { graph, namespace, store, task: taskName, files };
        if (opts.item !== undefined) target.item = opts.item;
        if (last !== undefined) target.last = last;
        if (files.length === 0) {
          await reportNoLogs(ctx, target);
          return;
        }
        if (opts.list) listAttempts(ctx, target, opts.json ?? false);
        else await showAttempt(ctx, target, opts);
      } finally {
        await store.close();
      }
    });
}

/** The one-line name of the target in messages: `task "t"` or `item "k" of task "t"`. */
function nameOf(t: { task: string; item?: string }): string {
  return t.item === undefined ? `task "${t.task}"` : `item "${t.item}" of task "${t.task}"`;
}

/** A record's status as `logs` shows it: `failed (exit code 3)`, `succeeded`, `running`. */
function statusText(r: TaskRunRecord): string {
  return r.status === "failed" || r.status === "cancelled"
    ? `${r.status}${r.error ? ` (${r.error})` : ""}`
    : r.status;
}

/** The status of the attempt that wrote `file`, when the store still knows it (the last one). */
function statusOf(t: Target, file: string): string | undefined {
  return t.last?.logPath === file ? statusText(t.last) : undefined;
}

async function reportNoLogs(ctx: CommandContext, t: Target): Promise<void> {
  if (t.last !== undefined) {
    // A TS/JS function task that printed nothing never created its log file.
    ctx.o.err(
      `${nameOf(t)}: the last attempt (${statusText(t.last)}, ${new Date(t.last.startedAt).toISOString()}) wrote no output\n`,
    );
    return;
  }
  if (t.item !== undefined) {
    const items = [...(await t.store.itemStates(t.namespace, t.task)).keys()];
    if (items.length > 0 && !items.includes(t.item)) {
      const near = closest(t.item, items);
      throw new UsageError(
        `--item: task "${t.task}" has no item "${t.item}" in ${t.namespace}.${near === undefined ? "" : ` Did you mean "${near}"?`}`.replace(
          /\.$/,
          "",
        ),
        `see the items with: dagwright logs ${t.graph.name} ${t.task}`,
      );
    }
  }
  ctx.o.err(
    `${nameOf(t)} has no logs: it never ran in ${t.namespace}\n  hint: run it with: dagwright run ${t.graph.name} --only ${t.task}\n`,
  );
  ctx.setExit(EXIT.taskFailed);
}

/** `--attempt N` as an index into the kept logs; 1 is the oldest, -1 the newest. */
function attemptIndex(t: Target, raw: string | undefined): number {
  const count = t.files.length;
  if (raw === undefined) return count - 1;
  const n = Number(raw);
  const range = `1..${count} (oldest first) or -1..-${count} (newest first)`;
  if (!Number.isInteger(n) || n === 0)
    throw new UsageError(
      `--attempt expects a whole number other than 0, received ${JSON.stringify(raw)}`,
      `use ${range}`,
    );
  const index = n > 0 ? n - 1 : count + n;
  if (index < 0 || index >= count)
    throw new UsageError(
      `--attempt ${n}: ${nameOf(t)} has ${count} kept attempt log${count === 1 ? "" : "s"}`,
      `use ${range}; see them with --list`,
    );
  return index;
}

/**
 * Where the log text goes: as it is into a pipe or file (the exact bytes, for grep and tools),
 * sanitized of terminal control sequences on a terminal and in JSON (whose consumers print it).
 */
function logWriter(ctx: CommandContext, json: boolean): (text: string) => string {
  if (!json && !process.stdout.isTTY) return (text) => text;
  const options = { colors: ctx.o.taskColors ?? false };
  return (text) => sanitizeTerminal(text, options);
}

async function showAttempt(ctx: CommandContext, t: Target, opts: LogsOptions): Promise<void> {
  const index = attemptIndex(t, opts.attempt);
  const file = t.files[index]!;
  const clean = logWriter(ctx, opts.json ?? false);
  if (opts.follow) {
    const how = await followLog({
      file,
      store: t.store,
      namespace: t.namespace,
      task: t.task,
      ...(t.item === undefined ? {} : { item: t.item }),
      write: (text) => ctx.o.out(clean(text)),
    });
    if (how === "interrupted") ctx.setExit(130);
    return;
  }
  if (opts.json) {
    const status = statusOf(t, file);
    ctx.o.out(
      `${JSON.stringify({ graph: t.graph.name, task: t.task, ...(t.item === undefined ? {} : { item: t.item }), attempt: index + 1, attempts: t.files.length, path: file, ...(status === undefined ? {} : { status }), text: clean(readText(file)) })}\n`,
    );
    return;
  }
  copyFile(file, (text) => ctx.o.out(clean(text)));
}

function listAttempts(ctx: CommandContext, t: Target, json: boolean): void {
  const rows = t.files.map((file, i) => {
    let bytes = 0;
    try {
      bytes = statSync(file).size;
    } catch {
      // pruned meanwhile
    }
    const status = statusOf(t, file);
    return {
      attempt: i + 1,
      startedAt: (attemptLogTime(file) ?? new Date(t.last?.startedAt ?? 0)).toISOString(),
      bytes,
      ...(status === undefined ? {} : { status }),
      path: file,
    };
  });
  if (json) {
    ctx.o.out(
      `${JSON.stringify({ graph: t.graph.name, task: t.task, ...(t.item === undefined ? {} : { item: t.item }), attempts: rows }, null, 2)}\n`,
    );
    return;
  }
  for (const r of rows)
    ctx.o.out(
      `${String(r.attempt).padStart(3)}  ${r.startedAt}  ${(r.status ?? "-").padEnd(10)}  ${r.bytes} B  ${r.path}\n`,
    );
}

/** A fan-out task without --item: its items (failed first) and how to see one's log. */
async function listItems(
  ctx: CommandContext,
  t: Omit<Target, "files" | "last">,
  opts: LogsOptions,
): Promise<void> {
  const states = await t.store.itemStates(t.namespace, t.task);
  const order = { failed: 0, cancelled: 1, running: 2, succeeded: 3 } as const;
  const items = [...states]
    .filter(([, s]) => s.lastAttempt !== undefined)
    .map(([item, s]) => ({ item, last: s.lastAttempt! }))
    .sort((a, b) => order[a.last.status] - order[b.last.status] || (a.item < b.item ? -1 : 1));
  if (opts.json) {
    ctx.o.out(
      `${JSON.stringify({ graph: t.graph.name, task: t.task, items: items.map((i) => ({ item: i.item, status: i.last.status, ...(i.last.error ? { error: i.last.error } : {}) })) }, null, 2)}\n`,
    );
    return;
  }
  if (items.length === 0) {
    await reportNoLogs(ctx, { ...t, files: [] });
    return;
  }
  const clean = logWriter(ctx, false);
  for (const i of items.slice(0, ITEM_LIST_LIMIT))
    ctx.o.out(clean(`${i.item}  ${statusText(i.last)}\n`));
  if (items.length > ITEM_LIST_LIMIT)
    ctx.o.out(paint(ctx.o.color, "dim", `… and ${items.length - ITEM_LIST_LIMIT} more items\n`));
  ctx.o.err(
    `${t.task} is a fan-out task: pass --item KEY for an item's log, e.g. dagwright logs ${t.graph.name} ${t.task} --item ${sanitizeTerminal(JSON.stringify(items[0]!.item), { colors: false })}\n`,
  );
}

function readText(file: string): string {
  const chunks: string[] = [];
  copyFile(file, (s) => chunks.push(s));
  return chunks.join("");
}

/** Hands `file` on in chunks (logs can be large). A log pruned meanwhile gives nothing. */
function copyFile(file: string, write: (text: string) => void): void {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return;
  }
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let carry = Buffer.alloc(0);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const data = Buffer.concat([carry, buf.subarray(0, n)]);
      // Cut after the last newline, so a multi-byte character is never split between chunks.
      const cut = data.lastIndexOf(10) + 1;
      write(data.toString("utf8", 0, cut));
      carry = data.subarray(cut);
    }
    if (carry.length > 0) write(carry.toString("utf8"));
  } finally {
    closeSync(fd);
  }
}
