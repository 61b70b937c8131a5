import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import type { TaskSpec } from "../../src/spec/types.js";
import {
  configureWorkers,
  type ItemCall,
  type ItemsRequest,
  itemKey,
  launchItems,
  shutdownWorkers,
} from "../../src/tasks/launch-items.js";
import { eventually, findProcesses, makeTask, tempProject } from "./helpers.js";

const project = tempProject("items");
afterAll(() => shutdownWorkers());
const hasRscript = spawnSync("Rscript", ["--version"], { stdio: "ignore" }).status === 0;

function pyTask(name: string, file: string, fn?: string): TaskSpec {
  return makeTask({
    name,
    kind: "python",
    file,
    function: fn ?? name,
    functionExplicit: fn !== undefined,
  });
}

/** Items `prefix,1` … `prefix,n` with values item1 = prefix, item2 = i. */
function combos(prefix: string, n: number): ItemCall[] {
  return Array.from({ length: n }, (_, i) => {
    const values = { item1: prefix, item2: i + 1 };
    return { key: itemKey(values, ["item1", "item2"]), values };
  });
}

function itemsRequest(
  task: TaskSpec,
  items: ItemCall[],
  extra: Partial<ItemsRequest> = {},
): ItemsRequest {
  const { inputs: _unused, ...base } = project.request(task);
  return { ...base, inputs: { deps: {}, args: {}, config: {} }, items, ...extra };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("itemKey", () => {
  it("joins the values in the order of the names, as kptn does", () => {
    expect(itemKey({ item2: 1, item1: "T1" }, ["item1", "item2"])).toBe("T1,1");
    expect(itemKey({ state: "NC" }, ["state"])).toBe("NC");
    expect(itemKey({ a: true, b: null }, ["a", "b"])).toBe("true,");
  });
});

describe("python function items in warm workers", () => {
  project.write("tasks/whoami.py", "import os\ndef whoami(item):\n    return os.getpid()\n");
  project.write(
    "tasks/hangs.py",
    [
      "import os, subprocess, time",
      "def hangs(item, marker=None):",
      "    if item == 2:",
      "        if marker:",
      "            open(marker, 'w').close()",
      "        subprocess.Popen(['sleep', '123.471'])",
      "        time.sleep(60)",
      "    return os.getpid()",
    ].join("\n"),
  );
  project.write(
    "tasks/per_item.py",
    [
      "import os",
      "def per_item(item1, item2, scale, year=2024):",
      "    print('running', item1, item2)",
      "    if item2 == 3:",
      "        raise ValueError(f'boom {item1},{item2}')",
      "    return {'key': f'{item1}-{item2}', 'scaled': item2 * scale, 'year': year, 'pid': os.getpid()}",
    ].join("\n"),
  );

  it("collects per-item results and errors in order; one failing item does not stop the others", async () => {
    const req = itemsRequest(pyTask("per_item", "tasks/per_item.py"), combos("T1", 5), {
      inputs: { deps: {}, args: { scale: 10, item2: "args lose to items" }, config: {} },
    });
    const r = await launchItems(req);
    expect(r.outcomes.map((o) => [o.key, o.status])).toEqual([
      ["T1,1", "succeeded"],
      ["T1,2", "succeeded"],
      ["T1,3", "failed"],
      ["T1,4", "succeeded"],
      ["T1,5", "succeeded"],
    ]);
    expect(r.outcomes[0]!.result).toMatchObject({ key: "T1-1", scaled: 10, year: 2024 });
    expect(r.outcomes[4]!.result).toMatchObject({ key: "T1-5", scaled: 50 });
    expect(r.outcomes[2]!.error).toBe("ValueError: boom T1,3");
    const log = readFileSync(req.logPath, "utf8");
    expect(log).toMatch(
      /^# dagwright per_item \S+ python tasks\/per_item.py:per_item \(5 items: T1,1 … T1,5\)\n/,
    );
    expect(log).toContain("# item T1,3\nrunning T1 3\nTraceback (most recent call last):");
    expect(log).toContain("raise ValueError(f'boom {item1},{item2}')");
    expect(log).not.toContain("dagwright_worker.py"); // the worker's own frames are trimmed
    expect(log).toContain("dagwright: task 'per_item' item T1,3 failed: ValueError: boom T1,3");
    expect(r.logTail.at(-1)).toBe("running T1 5");
    expect(r.peakRssKb).toBeGreaterThan(1000);
    expect(r.cpuMs).toBeGreaterThanOrEqual(0);
  });

  it("imports the module once across bundles and re-imports it when the file changes", async () => {
    const marker = path.join(project.root, "imports.txt");
    const source = (version: string) =>
      [
        "import os",
        `with open(${JSON.stringify(marker)}, 'a') as f:`,
        "    f.write('imported\\n')",
        "calls = 0",
        "def counted(item):",
        "    global calls",
        "    calls += 1",
        `    return ['${version}', calls, os.getpid()]`,
      ].join("\n");
    project.write("tasks/counted.py", source("v1"));
    const task = pyTask("counted", "tasks/counted.py");
    const items = (from: number) =>
      [from, from + 1].map((n) => ({ key: String(n), values: { item: n } }));
    const results = [];
    for (const from of [1, 3, 5]) {
      results.push((await launchItems(itemsRequest(task, items(from)))).outcomes);
    }
    expect(readFileSync(marker, "utf8")).toBe("imported\n");
    expect(results.flat().map((o) => (o.result as unknown[]).slice(0, 2))).toEqual([
      ["v1", 1],
      ["v1", 2],
      ["v1", 3],
      ["v1", 4],
      ["v1", 5],
      ["v1", 6],
    ]);

    project.write("tasks/counted.py", source("v2-edited"));
    const after = await launchItems(itemsRequest(task, items(7)));
    expect(after.outcomes.map((o) => (o.result as unknown[]).slice(0, 2))).toEqual([
      ["v2-edited", 1],
      ["v2-edited", 2],
    ]);
    expect(readFileSync(marker, "utf8")).toBe("imported\nimported\n");
  });

  it("re-imports when a project module the task imports changes", async () => {
    project.write("tasks/helper_mod.py", "VALUE = 'old'\n");
    project.write(
      "tasks/uses_helper.py",
      "import helper_mod\ndef uses_helper(item):\n    return helper_mod.VALUE\n",
    );
    const task = pyTask("uses_helper", "tasks/uses_helper.py");
    const one = [{ key: "a", values: { item: "a" } }];
    expect((await launchItems(itemsRequest(task, one))).outcomes[0]!.result).toBe("old");
    project.write("tasks/helper_mod.py", "VALUE = 'new value'\n");
    expect((await launchItems(itemsRequest(task, one))).outcomes[0]!.result).toBe("new value");
  });

  it("replaces a worker that dies mid-bundle and runs the remaining items on the new one", async () => {
    project.write(
      "tasks/dies.py",
      [
        "import os",
        "def dies(item1, item2):",
        "    print('item', item2, flush=True)",
        "    if item2 == 2:",
        "        os._exit(1)",
        "    return os.getpid()",
      ].join("\n"),
    );
    const req = itemsRequest(pyTask("dies", "tasks/dies.py"), combos("T1", 4));
    const r = await launchItems(req);
    expect(r.outcomes.map((o) => [o.key, o.status, o.error])).toEqual([
      ["T1,1", "succeeded", undefined],
      ["T1,2", "failed", "worker crashed (exit code 1) while running item T1,2"],
      ["T1,3", "succeeded", undefined],
      ["T1,4", "succeeded", undefined],
    ]);
    const [first, , third, fourth] = r.outcomes.map((o) => o.result as number);
    expect(third).not.toBe(first);
    expect(fourth).toBe(third);
    expect(isAlive(first!)).toBe(false);
    const log = readFileSync(req.logPath, "utf8");
    // The crash note comes before the retried items' output.
    expect(log).toMatch(
      /item 2\ndagwright: task 'dies' item T1,2 failed: worker crashed \(exit code 1\) while running item T1,2\n(.*\n)*item 3\n/,
    );
  });

  it("names the signal when a worker is killed, e.g. by a segfault", async () => {
    project.write(
      "tasks/segv.py",
      "import ctypes\ndef segv(item):\n    if item == 'b':\n        ctypes.string_at(0)\n    return item\n",
    );
    const items = ["a", "b", "c"].map((v) => ({ key: v, values: { item: v } }));
    const req = itemsRequest(pyTask("segv", "tasks/segv.py"), items);
    const r = await launchItems(req);
    expect(r.outcomes.map((o) => o.status)).toEqual(["succeeded", "failed", "succeeded"]);
    expect(r.outcomes[1]!.error).toBe("worker crashed (killed by SIGSEGV) while running item b");
    // faulthandler writes the Python stack of the crash into the bundle's log.
    expect(readFileSync(req.logPath, "utf8")).toContain("Fatal Python error: Segmentation fault");
  });

  it("writes the items' output to the bundle's log, never into the protocol", async () => {
    project.write(
      "tasks/noisy.py",
      [
        "import os, subprocess, sys",
        "def noisy(item):",
        '    print(\'{"id": 1, "done": true}\')',
        "    print('to stderr', item, file=sys.stderr)",
        "    os.write(1, f'raw fd 1 {item}\\n'.encode())",
        "    subprocess.run(['echo', 'child', item], check=True)",
        "    sys.stdout.write('no newline')",
        "    return item",
      ].join("\n"),
    );
    const task = pyTask("noisy", "tasks/noisy.py");
    const a = itemsRequest(task, [{ key: "A1", values: { item: "A1" } }]);
    const b = itemsRequest(task, [{ key: "B1", values: { item: "B1" } }]);
    const [ra, rb] = await Promise.all([launchItems(a), launchItems(b)]);
    expect(ra.outcomes[0]).toMatchObject({ status: "succeeded", result: "A1" });
    expect(rb.outcomes[0]).toMatchObject({ status: "succeeded", result: "B1" });
    const logA = readFileSync(a.logPath, "utf8");
    expect(logA).toContain(
      '# item A1\n{"id": 1, "done": true}\nto stderr A1\nraw fd 1 A1\nchild A1\nno newline',
    );
    expect(logA).not.toContain("B1");
    expect(readFileSync(b.logPath, "utf8")).not.toContain("A1");
  });

  it("passes combo values as keyword arguments, ahead of deps, args and config", async () => {
    project.write(
      "tasks/combo.py",
      [
        "from pathlib import Path",
        "def combo(item1, item2, rows, where: Path, pipeline_config):",
        "    return [item1, item2, len(rows), type(where).__name__, pipeline_config.scratch_dir]",
      ].join("\n"),
    );
    const r = await launchItems(
      itemsRequest(
        pyTask("combo", "tasks/combo.py"),
        [{ key: "NC,2020", values: { item1: "NC", item2: 2020, where: "out/nc" } }],
        {
          inputs: {
            deps: { load: [1, 2] },
            args: { rows: { ref: "load" }, item1: "XX" },
            config: { item2: 1999 },
          },
        },
      ),
    );
    expect(r.outcomes[0]).toMatchObject({
      status: "succeeded",
      result: ["NC", 2020, 2, "PosixPath", `${project.root}/scratch`],
    });
  });

  it("fails each item with kptn's message when a required argument is missing", async () => {
    project.write("tasks/needs_more.py", "def needs_more(item, other):\n    return item\n");
    const r = await launchItems(
      itemsRequest(pyTask("needs_more", "tasks/needs_more.py"), [
        { key: "a", values: { item: "a" } },
        { key: "b", values: { item: "b", other: 1 } },
      ]),
    );
    expect(r.outcomes.map((o) => [o.status, o.error])).toEqual([
      ["failed", "Task 'needs_more' callable 'needs_more' is missing required arguments: other"],
      ["succeeded", undefined],
    ]);
  });

  it("fails every item with the import error when the module does not load", async () => {
    project.write("tasks/broken.py", "def broken(item):\n    return (\n");
    const req = itemsRequest(pyTask("broken", "tasks/broken.py"), combos("X", 2));
    const r = await launchItems(req);
    expect(r.outcomes.map((o) => o.status)).toEqual(["failed", "failed"]);
    expect(r.outcomes[0]!.error).toMatch(/^SyntaxError: /);
    expect(r.logTail.at(-1)).toMatch(/^dagwright: task 'broken' failed: SyntaxError: /);
  });

  it("fails every item of a file that only defines other functions", async () => {
    project.write("tasks/defs_only.py", "def defs_onl(item):\n    return item\n");
    const r = await launchItems(
      itemsRequest(pyTask("defs_only", "tasks/defs_only.py"), combos("D", 2)),
    );
    expect(r.outcomes.map((o) => o.status)).toEqual(["failed", "failed"]);
    expect(r.outcomes[0]!.error).toMatch(
      /^tasks\/defs_only.py defines functions \(defs_onl\) but none named after the task "defs_only"/,
    );
  });

  it("runs a file without the function as a script, one process per item, values in the env", async () => {
    project.write(
      "tasks/as_script.py",
      "import os\nprint('script', os.environ['item1'], os.environ['item2'], os.getpid())\n",
    );
    const req = itemsRequest(pyTask("as_script", "tasks/as_script.py"), combos("S", 2));
    const r = await launchItems(req);
    expect(r.outcomes.map((o) => [o.key, o.status])).toEqual([
      ["S,1", "succeeded"],
      ["S,2", "succeeded"],
    ]);
    const lines = readFileSync(req.logPath, "utf8")
      .split("\n")
      .filter((l) => l.startsWith("script "));
    expect(lines.map((l) => l.split(" ").slice(0, 3).join(" "))).toEqual([
      "script S 1",
      "script S 2",
    ]);
    expect(lines[0]!.split(" ")[3]).not.toBe(lines[1]!.split(" ")[3]);
  });

  it("kills the worker's process group on an item's timeout and times out the rest", async () => {
    const items = [1, 2, 3].map((n) => ({ key: String(n), values: { item: n } }));
    const req = itemsRequest(pyTask("hangs", "tasks/hangs.py"), items, {
      timeoutSeconds: 0.5,
      killGraceMs: 200,
    });
    const r = await launchItems(req);
    expect(r.outcomes.map((o) => [o.status, o.error])).toEqual([
      ["succeeded", undefined],
      ["timeout", "timed out after 0.5s"],
      ["timeout", "not run: item 2 timed out"],
    ]);
    expect(r.outcomes[1]!.durationMs).toBeGreaterThanOrEqual(450);
    const pid = r.outcomes[0]!.result as number;
    expect(isAlive(pid)).toBe(false);
    expect(await eventually(() => findProcesses(["sleep", "123.471"]).length === 0, 1000)).toBe(
      true,
    );
    expect(r.logTail.at(-1)).toBe(
      "dagwright: task 'hangs' item 3 timeout: not run: item 2 timed out",
    );
    // The pool starts a new worker for the next bundle.
    const next = await launchItems(itemsRequest(pyTask("hangs", "tasks/hangs.py"), [items[0]!]));
    expect(next.outcomes[0]!.status).toBe("succeeded");
  });

  it("cancels through the AbortSignal", async () => {
    const controller = new AbortController();
    const marker = path.join(project.root, "item-2-started");
    const items = [1, 2, 3].map((n) => ({ key: String(n), values: { item: n } }));
    const running = launchItems(
      itemsRequest(pyTask("hangs", "tasks/hangs.py"), items, {
        inputs: { deps: {}, args: { marker }, config: {} },
        signal: controller.signal,
        killGraceMs: 200,
      }),
    );
    expect(await eventually(() => existsSync(marker), 10_000)).toBe(true);
    controller.abort();
    const r = await running;
    expect(r.outcomes.map((o) => [o.status, o.error])).toEqual([
      ["succeeded", undefined],
      ["cancelled", "cancelled"],
      ["cancelled", "cancelled"],
    ]);
    expect(await eventually(() => findProcesses(["sleep", "123.471"]).length === 0, 1000)).toBe(
      true,
    );
  });

  it("queues bundles beyond the pool size and runs them on the warm worker", async () => {
    configureWorkers({ concurrency: 1 });
    try {
      const task = pyTask("whoami", "tasks/whoami.py");
      const one = (k: string) => itemsRequest(task, [{ key: k, values: { item: k } }]);
      const results = await Promise.all([launchItems(one("a")), launchItems(one("b"))]);
      const pids = results.map((r) => r.outcomes[0]!.result);
      expect(pids[0]).toBe(pids[1]);
    } finally {
      configureWorkers({ concurrency: os.availableParallelism() });
    }
  });

  it("stops idle Python workers on shutdownWorkers", async () => {
    const r = await launchItems(
      itemsRequest(pyTask("whoami", "tasks/whoami.py"), [{ key: "a", values: { item: "a" } }]),
    );
    const pid = r.outcomes[0]!.result as number;
    expect(isAlive(pid)).toBe(true);
    await shutdownWorkers();
    expect(isAlive(pid)).toBe(false);
  });
});

describe("TS/JS function items", () => {
  project.write(
    "tasks/per_item.ts",
    `
export function double(input: { n: number; item: { n: number }; args: { by: number } }): number {
  if (input.item.n === 13) throw new RangeError("unlucky");
  return input.n * input.args.by;
}
export function noop(): null {
  return null;
}
export function spin(input: { n: number }): number {
  if (input.n === 2) for (;;) {}
  return input.n;
}
export function quits(input: { n: number }): number {
  if (input.n === 2) process.exit(1);
  return input.n;
}
export function chatty(input: { n: number }): void {
  if (input.n % 2 === 0) console.log("even", input.n);
}
`,
  );
  const tsTask = (fn: string) =>
    makeTask({ name: fn, kind: "node", file: "tasks/per_item.ts", function: fn });
  const numbered = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ key: String(i), values: { n: i } }));

  it("runs a bundle of 1,000 items in one worker call, collecting the one that throws", async () => {
    const req = itemsRequest(tsTask("double"), numbered(1000), {
      inputs: { deps: {}, args: { by: 2 }, config: {} },
    });
    const r = await launchItems(req);
    expect(r.outcomes).toHaveLength(1000);
    expect(r.outcomes.filter((o) => o.status === "succeeded")).toHaveLength(999);
    expect(r.outcomes[999]).toMatchObject({ key: "999", status: "succeeded", result: 1998 });
    expect(r.outcomes[13]).toMatchObject({ status: "failed", error: "RangeError: unlucky" });
    expect(readFileSync(req.logPath, "utf8")).toContain("# item 13\nRangeError: unlucky\n");
    expect(r.logTail.at(-1)).toBe("dagwright: task 'double' item 13 failed: RangeError: unlucky");
  });

  it("runs 100 bundles of 1,000 no-op items, every item succeeding", async () => {
    const items = numbered(1000);
    const started = performance.now();
    let done = 0;
    for (let b = 0; b < 100; b++) {
      const r = await launchItems(itemsRequest(tsTask("noop"), items));
      done += r.outcomes.filter((o) => o.status === "succeeded").length;
    }
    const ms = performance.now() - started;
    console.log(`100 bundles x 1,000 TS items: ${ms.toFixed(0)} ms`);
    expect(done).toBe(100_000);
  });

  it("marks an item in the log only when it writes something", async () => {
    const req = itemsRequest(tsTask("chatty"), numbered(4));
    await launchItems(req);
    expect(readFileSync(req.logPath, "utf8")).toMatch(/\n# item 0\neven 0\n# item 2\neven 2\n$/);
  });

  it("terminates the worker when one item times out and times out the rest", async () => {
    const r = await launchItems(itemsRequest(tsTask("spin"), numbered(4), { timeoutSeconds: 0.3 }));
    expect(r.outcomes.map((o) => [o.status, o.error])).toEqual([
      ["succeeded", undefined],
      ["succeeded", undefined],
      ["timeout", "timed out after 0.3s"],
      ["timeout", "not run: item 2 timed out"],
    ]);
  });

  it("retries the remaining items once when the worker thread dies", async () => {
    const r = await launchItems(itemsRequest(tsTask("quits"), numbered(4)));
    expect(r.outcomes.map((o) => [o.status, o.error])).toEqual([
      ["succeeded", undefined],
      ["succeeded", undefined],
      ["failed", "worker crashed (exit code 1) while running item 2"],
      ["succeeded", undefined],
    ]);
  });
});

describe("R, shell and command items", () => {
  it("runs one process per item, in order, with the values as variables", async () => {
    const req = itemsRequest(
      makeTask({
        name: "per",
        kind: "command",
        command: { shell: 'echo "$state-$year"; test "$state" != SC' },
      }),
      [
        { key: "NC,2020", values: { state: "NC", year: 2020 } },
        { key: "SC,2021", values: { state: "SC", year: 2021 } },
        { key: "VA,2022", values: { state: "VA", year: 2022 } },
      ],
    );
    const r = await launchItems(req);
    expect(r.outcomes.map((o) => [o.key, o.status, o.error])).toEqual([
      ["NC,2020", "succeeded", undefined],
      ["SC,2021", "failed", "exit code 1"],
      ["VA,2022", "succeeded", undefined],
    ]);
    const log = readFileSync(req.logPath, "utf8");
    expect(log.split("\n").filter((l) => /^\w\w-\d+$/.test(l))).toEqual([
      "NC-2020",
      "SC-2021",
      "VA-2022",
    ]);
  });

  it("stops the bundle after an item times out", async () => {
    const r = await launchItems(
      itemsRequest(
        makeTask({
          name: "slow",
          kind: "command",
          command: { shell: 'test "$n" != 2 || sleep 5' },
        }),
        [1, 2, 3].map((n) => ({ key: String(n), values: { n } })),
        { timeoutSeconds: 0.3, killGraceMs: 100 },
      ),
    );
    expect(r.outcomes.map((o) => [o.status, o.error])).toEqual([
      ["succeeded", undefined],
      ["timeout", "timed out after 0.3s"],
      ["timeout", "not run: item 2 timed out"],
    ]);
  });

  it.skipIf(!hasRscript)(
    "gives each R item its values as environment variables and cli_args",
    async () => {
      project.write(
        "R/per_state.R",
        [
          "args <- commandArgs(trailingOnly = TRUE)",
          'state <- Sys.getenv("state")',
          'if (state == "SC") stop("no data for SC")',
          'cat("R", state, Sys.getenv("year"), args, "\\n")',
        ].join("\n"),
      );
      const req = itemsRequest(
        makeTask({
          name: "per_state",
          kind: "r",
          file: "R/per_state.R",
          cliArgs: "--state ${state}",
        }),
        [
          { key: "NC", values: { state: "NC", year: 2020 } },
          { key: "SC", values: { state: "SC", year: 2021 } },
          { key: "VA", values: { state: "VA", year: 2022 } },
        ],
      );
      const r = await launchItems(req);
      expect(r.outcomes.map((o) => [o.key, o.status, o.error])).toEqual([
        ["NC", "succeeded", undefined],
        ["SC", "failed", "Error: no data for SC (exit code 1)"],
        ["VA", "succeeded", undefined],
      ]);
      const log = readFileSync(req.logPath, "utf8");
      expect(log).toContain("R NC 2020 --state NC \n");
      expect(log).toContain("R VA 2022 --state VA \n");
    },
  );
});

describe("idle pools", () => {
  it("do not keep the process alive", () => {
    project.write("tasks/idle.py", "def idle(item):\n    return item * 2\n");
    project.write("tasks/idle.ts", "export const idle = ({ n }: { n: number }) => n + 1;\n");
    const here = path.dirname(fileURLToPath(import.meta.url));
    const launcher = path.resolve(here, "../../src/tasks/launch-items.ts");
    const common = `functionExplicit: false, outputs: [], inputs: [], args: {}, cacheResult: false,
      cache: true, compute: {}, tags: [], retries: 0, env: {}, secrets: [],
      location: { file: "x", line: 1, column: 1 }`;
    const script = project.write(
      "items-exit-check.mts",
      `
import { launchItems } from ${JSON.stringify(launcher)};
const base = {
  root: ${JSON.stringify(project.root)},
  inputs: { deps: {}, args: {}, config: {} },
  env: {},
  scratchDir: "/tmp",
  logPath: ${JSON.stringify(path.join(project.root, "logs", "items-exit-check.log"))},
};
const py = await launchItems({ ...base,
  task: { name: "idle", kind: "python", file: "tasks/idle.py", function: "idle", ${common} },
  items: [{ key: "1", values: { item: 1 } }, { key: "2", values: { item: 2 } }] });
const ts = await launchItems({ ...base,
  task: { name: "idle", kind: "node", file: "tasks/idle.ts", function: "idle", ${common} },
  items: [{ key: "1", values: { n: 1 } }] });
console.log(JSON.stringify([...py.outcomes, ...ts.outcomes].map((o) => o.result)));
`,
    );
    const tsx = path.resolve(here, "../../node_modules/tsx/dist/cli.mjs");
    const run = spawnSync(process.execPath, [tsx, script], { encoding: "utf8", timeout: 20_000 });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe("[2,4,2]");
  });
});
