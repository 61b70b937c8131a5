import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { jsonLines, makeProject, runCli, runCliAsync } from "../helpers.js";

interface Event {
  type: string;
  time: string;
  runId?: string;
  task?: string;
  item?: string;
  line?: string;
  attempt?: number;
  attemptId?: number;
  logPath?: string;
  nothingChanged?: boolean;
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const TWO_TASKS = `graphs:\n  g:\n    tasks:\n      a:\n      b: a\ntasks:\n  a:\n    command: "echo hello from a"\n  b:\n    command: "echo b"\n`;

function runsDir(dir: string): string {
  return path.join(dir, ".dagwright", "runs");
}

/** The run ids with a kept event log. */
function loggedRuns(dir: string): string[] {
  const d = runsDir(dir);
  return existsSync(d) ? readdirSync(d).map((f) => f.replace(/\.jsonl$/, "")) : [];
}

function logOf(dir: string, runId: string): Event[] {
  return jsonLines<Event>(readFileSync(path.join(runsDir(dir), `${runId}.jsonl`), "utf8"));
}

function runJson(dir: string, args: string[] = [], env: Record<string, string> = {}) {
  const r = runCli(["run", "--json", ...args], dir, env);
  const events = jsonLines<Event>(r.stdout);
  return { ...r, events, runId: events[0]?.runId ?? "" };
}

describe("the run event log", () => {
  it("holds every event of a run, run-start to run-end, each with the time `--json` showed", () => {
    const dir = makeProject({ "dagwright.yaml": TWO_TASKS });
    const r = runJson(dir);
    expect(r.code, r.stderr).toBe(0);
    expect(loggedRuns(dir)).toEqual([r.runId]);
    const logged = logOf(dir, r.runId);
    expect(logged.map((e) => e.type)).toEqual([
      "run-start",
      "task-start",
      "task-done",
      "task-start",
      "task-done",
      "run-end",
    ]);
    for (const e of logged) expect(e.time).toMatch(ISO);
    // Stamped once where emitted: the printer and the log carry the same instant.
    expect(r.events).toEqual(logged);
    const start = logged.find((e) => e.type === "task-start" && e.task === "a")!;
    expect(start.attempt).toBe(1);
    expect(readFileSync(start.logPath!, "utf8")).toContain("hello from a");
  });

  it("is not written by a dry run, nor by a run answered from the no-change memo", () => {
    const dir = makeProject({ "dagwright.yaml": TWO_TASKS });
    expect(runCli(["run", "--dry-run"], dir).code).toBe(0);
    expect(loggedRuns(dir)).toEqual([]);
    let previous = runJson(dir);
    expect(previous.code).toBe(0);
    let memo: ReturnType<typeof runJson> | undefined;
    for (let i = 0; i < 3 && memo === undefined; i++) {
      const r = runJson(dir);
      if (r.events.at(-1)?.nothingChanged) memo = r;
      else previous = r;
    }
    expect(memo, "no run was answered from the no-change memo").toBeDefined();
    expect(loggedRuns(dir)).not.toContain(memo!.runId);
    // Replayed events are this run's: each stamped now, not with the memo's times.
    const previousEnd = previous.events.at(-1)!.time;
    for (const e of memo!.events) {
      expect(e.time).toMatch(ISO);
      expect(e.time >= previousEnd).toBe(true);
    }
  });

  it("numbers attempts: a retried task starts as attempt 2 and is done as attempt 2", () => {
    const counter = `n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; test $n -gt 1`;
    const dir = makeProject({
      "dagwright.yaml": `graphs:\n  g:\n    tasks:\n      flaky:\ntasks:\n  flaky:\n    command: '${counter}'\n    retries: 1\n`,
    });
    const r = runJson(dir, [], { DAGWRIGHT_RETRY_BACKOFF_MS: "10" });
    expect(r.code, r.stderr).toBe(0);
    const steps = logOf(dir, r.runId)
      .filter((e) => e.task === "flaky")
      .map((e) => [e.type, e.attempt]);
    expect(steps).toEqual([
      ["task-start", 1],
      ["task-retry", 1],
      ["task-start", 2],
      ["task-done", 2],
    ]);
  });

  it("keeps task output (log events, with their item) only when the run streamed it (-v)", () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:\n  g:\n    tasks:\n      states:\n      fan: states\ntasks:\n  states:\n    file: tasks.py\n    cache_result: true\n    iterable_item: state\n  fan:\n    command: 'echo "item $state"'\n    map_over: state\n`,
      "tasks.py": 'def states():\n    return ["NC", "SC"]\n',
    });
    const quiet = runJson(dir);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(logOf(dir, quiet.runId).filter((e) => e.type === "log")).toEqual([]);
    const verbose = runJson(dir, ["-v", "--force"]);
    expect(verbose.code, verbose.stderr).toBe(0);
    const logged = logOf(dir, verbose.runId);
    const lines = logged.filter((e) => e.type === "log").map((e) => `${e.item}: ${e.line}`);
    expect(lines).toEqual(expect.arrayContaining(["NC: item NC", "SC: item SC"]));
    const fanStart = logged.find((e) => e.type === "task-start" && e.task === "fan")!;
    expect(fanStart.attemptId).toEqual(expect.any(Number));
    const fanDone = logged.find((e) => e.type === "task-done" && e.task === "fan")!;
    expect(fanDone.attemptId).toBe(fanStart.attemptId);
  });

  it("never holds a secret value, even with -v", () => {
    const token = "tok-5ecret-VALUE-42";
    const dir = makeProject({
      "dagwright.yaml": `graphs:\n  g:\n    tasks:\n      leak:\ntasks:\n  leak:\n    command: 'echo leaked=$API_TOKEN; exit 3'\n    secrets: [API_TOKEN]\n`,
    });
    const r = runJson(dir, ["-v"], { API_TOKEN: token });
    expect(r.code).toBe(1);
    const text = readFileSync(path.join(runsDir(dir), `${r.runId}.jsonl`), "utf8");
    expect(text).toContain("leaked=***");
    expect(text).not.toContain(token);
  });

  it("keeps the last DAGWRIGHT_KEEP_RUN_LOGS runs, pruning older ones as a run starts", () => {
    const dir = makeProject({ "dagwright.yaml": TWO_TASKS });
    const env = { DAGWRIGHT_KEEP_RUN_LOGS: "2" };
    const ids = [1, 2, 3].map(() => runJson(dir, ["--force"], env).runId);
    expect(loggedRuns(dir).sort()).toEqual(ids.slice(1).sort());
    const bad = runCli(["run", "--force"], dir, { DAGWRIGHT_KEEP_RUN_LOGS: "none" });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      'DAGWRIGHT_KEEP_RUN_LOGS must be a whole number ≥ 1, received "none"',
    );
  });
});

describe("dagwright events", () => {
  it("prints the latest run as the progress view's plain lines, or its events with --json", () => {
    const dir = makeProject({ "dagwright.yaml": TWO_TASKS });
    const first = runJson(dir);
    const second = runJson(dir, ["--force", "--only", "b"]);
    const human = runCli(["events"], dir);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(
      /^run g \(g@default\): 1 task, up to \d+ at once\n▶ b: forced\n✓ b \d+ ms\ndone: 1 ran, 0 fresh in \d+ ms\n$/,
    );
    const json = runCli(["events", "--json"], dir);
    expect(jsonLines<Event>(json.stdout)).toEqual(second.events);
    // An older run, by a unique start of its id.
    const older = runCli(["events", first.runId.slice(0, 8), "--json"], dir);
    expect(jsonLines<Event>(older.stdout)).toEqual(first.events);
  });

  it("says which runs it has when the run id is unknown, and that there are none yet", () => {
    const dir = makeProject({ "dagwright.yaml": TWO_TASKS });
    const none = runCli(["events"], dir);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`no run event logs in ${runsDir(dir)}`);
    const { runId } = runJson(dir);
    const unknown = runCli(["events", "nope"], dir);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no kept event log for run "nope"');
    expect(unknown.stderr).toContain(`the latest runs: ${runId}`);
  });

  it("--follow, started while a run is in progress, prints its events until run-end", async () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:\n  g:\n    tasks:\n      slow:\n      after: slow\ntasks:\n  slow:\n    command: "sleep 1"\n  after:\n    command: "true"\n`,
    });
    const run = runCliAsync(["run", "--json"], dir);
    // Ready by protocol: the run's log exists and holds its run-start.
    for (let i = 0; i < 600; i++) {
      const [id] = loggedRuns(dir);
      if (id !== undefined && logOf(dir, id).some((e) => e.type === "run-start")) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const followed = await runCliAsync(["events", "--follow", "--json"], dir);
    const ran = await run;
    expect(ran.code, ran.stderr).toBe(0);
    expect(followed.code, followed.stderr).toBe(0);
    expect(jsonLines<Event>(followed.stdout)).toEqual(jsonLines<Event>(ran.stdout));
    expect(jsonLines<Event>(followed.stdout).at(-1)?.type).toBe("run-end");
  });
});
