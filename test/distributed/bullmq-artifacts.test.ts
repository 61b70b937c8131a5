import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonLines, makeProject, runCliAsync } from "../helpers.js";
import { hasRedisServer, type RedisService, startRedis } from "../services/redis.js";
import { startWorker, type WorkerProcess } from "./bullmq-service.js";

type Event = { type: string; task?: string };

const SPEC = `graphs:
  g:
    tasks:
      one:
      two: one
tasks:
  one:
    command: ["sh", "-c", "echo hello from one; mkdir -p out; echo 1 > out/one.txt"]
    outputs: [out/one.txt]
  two:
    command: ["sh", "-c", "echo hello from two; cat out/one.txt > out/two.txt; echo 2 >> out/two.txt"]
    outputs: [out/two.txt]
`;

let redis: RedisService | undefined;
let worker: WorkerProcess | undefined;
/** The coordinator's project, the worker's copy of it, and what they share. */
let coordinator: string;
let copy: string;
let env: Record<string, string>;

// No disk shared between the coordinator and the worker but the state file and the artifact
// location: outputs and log lines must travel through them and through Redis.
describe.skipIf(!hasRedisServer())(
  "BullMQ workers with an artifact location instead of a shared disk",
  () => {
    beforeAll(async () => {
      const shared = makeProject({});
      mkdirSync(path.join(shared, "artifacts"));
      env = {
        DAGWRIGHT_STATE_URL: path.join(shared, "state.db"),
        DAGWRIGHT_ARTIFACTS_URL: path.join(shared, "artifacts"),
      };
      coordinator = makeProject({ "dagwright.yaml": SPEC });
      copy = makeProject({ "dagwright.yaml": SPEC });
      redis = await startRedis();
      worker = await startWorker(redis, ["--root", copy], env);
    }, 120_000);

    afterAll(async () => {
      await worker?.stop();
      await redis?.stop();
    }, 60_000);

    const run = () =>
      runCliAsync(
        ["run", "--executor", "bullmq", "--redis", redis!.url, "--json"],
        coordinator,
        env,
      );
    /**
     * Runs a project of `files` from one directory on a worker of its own serving a copy of it in
     * another (the suite's worker serves the suite's copy): what the coordinator got.
     */
    const runElsewhere = async (files: Record<string, string>) => {
      const here = makeProject(files);
      const there = makeProject(files);
      await worker?.stop();
      worker = await startWorker(redis!, ["--root", there], env);
      const r = await runCliAsync(
        ["run", "--executor", "bullmq", "--redis", redis!.url],
        here,
        env,
      );
      return { here, there, r };
    };
    const ran = (stdout: string, type: string) =>
      jsonLines<Event>(stdout)
        .filter((e) => e.type === type)
        .map((e) => e.task)
        .sort();

    it("runs a task that reads its upstream's output on the worker, and the coordinator gets both outputs", async () => {
      const r = await run();
      expect(r.code, r.stderr).toBe(0);
      expect(ran(r.stdout, "task-done")).toEqual(["one", "two"]);
      expect(readFileSync(path.join(coordinator, "out/one.txt"), "utf8")).toBe("1\n");
      expect(readFileSync(path.join(coordinator, "out/two.txt"), "utf8")).toBe("1\n2\n");
      // Task output is not printed without -v; it is in the logs.
      expect(r.stdout).not.toContain("hello from");
      expect(existsSync(path.join(copy, "out/two.txt"))).toBe(true);
    }, 120_000);

    it("`dagwright logs TASK` at the coordinator prints what the task wrote on the worker", async () => {
      // The worker's own log files, which the state store points at, are on another machine.
      rmSync(path.join(copy, ".dagwright", "logs"), { recursive: true, force: true });
      for (const task of ["one", "two"]) {
        const r = await runCliAsync(["logs", task], coordinator, env);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain(`hello from ${task}`);
      }
    }, 60_000);

    it("a second run reruns nothing", async () => {
      const r = await run();
      expect(r.code, r.stderr).toBe(0);
      expect(ran(r.stdout, "task-done")).toEqual([]);
      expect(ran(r.stdout, "task-fresh")).toEqual(["one", "two"]);
    }, 120_000);

    it("with -v, the coordinator prints each line a remote task wrote once", async () => {
      const r = await runCliAsync(
        ["run", "--executor", "bullmq", "--redis", redis!.url, "--json", "-v", "--force"],
        coordinator,
        env,
      );
      expect(r.code, r.stderr).toBe(0);
      const lines = jsonLines<Event & { line?: string }>(r.stdout)
        .filter((e) => e.type === "log")
        .map((e) => `${e.task}: ${e.line}`)
        .sort();
      expect(lines).toEqual(["one: hello from one", "two: hello from two"]);
    }, 120_000);

    it("a fan-out's item lines reach the coordinator's log of each item", async () => {
      const spec = `graphs:
  g:
    tasks:
      states:
      each: states
tasks:
  states: {file: states.py, cache_result: true, iterable_item: st}
  each:
    command: ["sh", "-c", "echo item $st"]
    map_over: st
    bundle_size: 2
`;
      const files = {
        "dagwright.yaml": spec,
        "states.py": 'def states():\n    return ["NC", "SC", "VA"]\n',
      };
      const { here, there, r } = await runElsewhere(files);
      expect(r.code, r.stderr).toBe(0);
      rmSync(path.join(there, ".dagwright", "logs"), { recursive: true, force: true });
      const logOf = async (item: string) => {
        const shown = await runCliAsync(["logs", "each", "--item", item], here, env);
        expect(shown.code, shown.stderr).toBe(0);
        return shown.stdout;
      };
      // NC and SC ran as one bundle, whose log is NC's, as in a local run.
      expect(await logOf("NC")).toContain("item NC\nitem SC\n");
      expect(await logOf("SC")).toContain("in its bundle's log: dagwright logs each --item NC");
      expect(await logOf("VA")).toContain("item VA\n");
    }, 120_000);

    it("a task printing thousands of lines gets every one, in order, in the coordinator's log", async () => {
      const files = {
        "dagwright.yaml":
          'graphs:\n  g:\n    tasks:\n      chatty:\ntasks:\n  chatty:\n    command: ["sh", "-c", "seq 1 5000"]\n',
      };
      const { here, r } = await runElsewhere(files);
      expect(r.code, r.stderr).toBe(0);
      const shown = await runCliAsync(["logs", "chatty"], here, env);
      const numbers = shown.stdout.split("\n").filter((l) => /^\d+$/.test(l));
      expect(numbers).toEqual(Array.from({ length: 5000 }, (_, i) => String(i + 1)));
    }, 120_000);

    it("a failed task's message names the coordinator's copy of its log", async () => {
      const files = {
        "dagwright.yaml":
          'graphs:\n  g:\n    tasks:\n      bad:\ntasks:\n  bad:\n    command: ["sh", "-c", "echo boom; exit 3"]\n',
      };
      const { here, r } = await runElsewhere(files);
      expect(r.code).toBe(1);
      const logPath = /log: (\S+)/.exec(r.stderr)?.[1];
      expect(logPath, r.stderr).toContain(path.join(here, ".dagwright", "logs"));
      expect(readFileSync(logPath!, "utf8")).toContain("boom\n");
    }, 120_000);
  },
);
