import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchTask } from "../../src/tasks/launch-task.js";
import { startSpawnHelper } from "../../src/tasks/spawn-helper.js";
import { eventually, findProcesses, makeTask, tempProject } from "./helpers.js";

const project = tempProject("proc");
const hasProc = existsSync("/proc/self/status");
const hasRscript = spawnSync("Rscript", ["--version"], { stdio: "ignore" }).status === 0;

const shell = (name: string, text: string) =>
  makeTask({ name, kind: "command", command: { shell: text } });
const argv = (name: string, ...words: string[]) =>
  makeTask({ name, kind: "command", command: { argv: words } });

describe("command and shell tasks", () => {
  it("runs a shell string through sh -c, so $HOME expands", async () => {
    const r = await launchTask(project.request(shell("expand", "echo $HOME")));
    expect(r.status).toBe("succeeded");
    expect(r.logTail).toEqual([os.homedir()]);
  });

  it("runs an argv without a shell, so $HOME and ; stay literal", async () => {
    const r = await launchTask(project.request(argv("literal", "echo", "$HOME", ";", "ls")));
    expect(r.status).toBe("succeeded");
    expect(r.logTail).toEqual(["$HOME ; ls"]);
  });

  it("runs a .sh file with sh from the project root, with item values as variables", async () => {
    project.write("tasks/report.sh", 'echo "$(pwd) $state $DAGWRIGHT_PROJECT_ROOT $1"\n');
    const r = await launchTask(
      project.request(
        makeTask({ name: "report", kind: "shell", file: "tasks/report.sh", cliArgs: "'a b'" }),
        {
          inputs: { deps: {}, args: {}, config: {}, item: { state: "NC" } },
          env: { DAGWRIGHT_PROJECT_ROOT: project.root },
        },
      ),
    );
    expect(r.status).toBe("succeeded");
    expect(r.logTail).toEqual([`${project.root} NC ${project.root} a b`]);
  });

  it("fails with the exit code", async () => {
    const r = await launchTask(project.request(shell("three", "echo before; exit 3")));
    expect(r).toMatchObject({ status: "failed", exitCode: 3, error: "exit code 3" });
    expect(r.logTail).toEqual(["before", "dagwright: task 'three' failed: exit code 3"]);
  });

  it("fails with the signal that killed the process", async () => {
    const r = await launchTask(project.request(shell("killed", "kill -9 $$")));
    expect(r).toMatchObject({ status: "failed", signal: "SIGKILL", error: "killed by SIGKILL" });
  });

  it("fails readably when the program does not exist", async () => {
    const r = await launchTask(project.request(argv("ghost", "no-such-program-dagwright")));
    expect(r.status).toBe("failed");
    expect(r.error).toBe("cannot start no-such-program-dagwright: not found on PATH");
  });

  it("returns the last 20 lines of this attempt only", async () => {
    const task = shell("chatty", "for i in $(seq 1 30); do echo line $i; done");
    const req = project.request(task);
    await launchTask(
      project.request(shell("chatty", "echo earlier attempt"), { logPath: req.logPath }),
    );
    const r = await launchTask(req);
    expect(r.logTail).toHaveLength(20);
    expect(r.logTail[0]).toBe("line 11");
    expect(r.logTail[19]).toBe("line 30");
    const log = readFileSync(req.logPath, "utf8");
    expect(log).toContain("earlier attempt");
    expect(log).toMatch(/^# dagwright chatty \d{4}-\d\d-\d\dT[\d:.]+Z sh -c "for i in/m);
  });

  it.skipIf(!hasProc)("samples peak memory and CPU time of a running process", async () => {
    const r = await launchTask(project.request(argv("sleeper", "sleep", "0.3")));
    expect(r.peakRssKb).toBeGreaterThan(0);
    expect(r.cpuMs).toBeGreaterThanOrEqual(0);
    expect(r.durationMs).toBeGreaterThanOrEqual(290);
  });
});

describe.each([
  { how: "process launcher", helper: "1" },
  { how: "Node's spawn", helper: "0" },
])("timeouts and cancellation ($how)", ({ helper }) => {
  const saved = process.env.DAGWRIGHT_SPAWN_HELPER;
  beforeAll(async () => {
    process.env.DAGWRIGHT_SPAWN_HELPER = helper;
    expect(await startSpawnHelper()).toBe(helper === "1");
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.DAGWRIGHT_SPAWN_HELPER;
    else process.env.DAGWRIGHT_SPAWN_HELPER = saved;
  });

  it("kills the whole process group on timeout, grandchildren included", async () => {
    const r = await launchTask(
      project.request(shell("slow", "sleep 123.456 & sleep 123.456"), {
        timeoutSeconds: 0.5,
        killGraceMs: 200,
      }),
    );
    expect(r).toMatchObject({ status: "timeout", error: "timed out after 0.5s" });
    expect(r.durationMs).toBeGreaterThanOrEqual(490);
    expect(await eventually(() => findProcesses(["sleep", "123.456"]).length === 0, 500)).toBe(
      true,
    );
  });

  it("sends SIGKILL after the grace period to processes that ignore SIGTERM", async () => {
    const r = await launchTask(
      project.request(shell("stubborn", "trap '' TERM; sleep 123.457 & sleep 123.457"), {
        timeoutSeconds: 0.3,
        killGraceMs: 300,
      }),
    );
    expect(r.status).toBe("timeout");
    expect(r.durationMs).toBeGreaterThanOrEqual(590);
    expect(await eventually(() => findProcesses(["sleep", "123.457"]).length === 0, 500)).toBe(
      true,
    );
  });

  it("cancels through the AbortSignal, killing the group", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const r = await launchTask(
      project.request(shell("cancelled", "sleep 123.458 & sleep 123.458"), {
        signal: controller.signal,
        killGraceMs: 200,
      }),
    );
    expect(r).toMatchObject({ status: "cancelled", error: "cancelled" });
    expect(await eventually(() => findProcesses(["sleep", "123.458"]).length === 0, 500)).toBe(
      true,
    );
  });

  it("does not start a task whose signal is already aborted", async () => {
    const req = project.request(shell("never", "touch ran"), { signal: AbortSignal.abort() });
    const r = await launchTask(req);
    expect(r.status).toBe("cancelled");
    expect(existsSync(`${project.root}/ran`)).toBe(false);
  });

  it("stops processes a finished task left running in its group", async () => {
    const r = await launchTask(
      project.request(shell("leaves", "sleep 123.459 & echo started"), { killGraceMs: 200 }),
    );
    expect(r.status).toBe("succeeded");
    expect(await eventually(() => findProcesses(["sleep", "123.459"]).length === 0, 1000)).toBe(
      true,
    );
  });
});

describe("R tasks", () => {
  // Rscript itself is replaced by a recording wrapper given as prefix_args, so the argv, working
  // directory and environment are checked on machines without R.
  const recorder = project.write("bin/record.sh", 'printf "%s|" "$(pwd)" "$@" "$state"; echo\n');

  it("runs [prefix_args..., Rscript, script, cli_args...] from the script's folder", async () => {
    project.write("R/model.R", "cat('unused')\n");
    const r = await launchTask(
      project.request(
        makeTask({
          name: "model",
          kind: "r",
          file: "R/model.R",
          prefixArgs: `sh  ${recorder}`,
          cliArgs: `--year \${YEAR} "two words" '\${state}' --state=\${state}`,
        }),
        {
          inputs: { deps: {}, args: {}, config: {}, item: { state: "NC" } },
          env: { YEAR: "2024" },
        },
      ),
    );
    expect(r.error).toBeUndefined();
    expect(r.logTail).toEqual([
      `${project.root}/R|Rscript|model.R|--year|2024|two words|\${state}|--state=NC|NC|`,
    ]);
  });

  it("fills ${VAR} in the script path from the item", async () => {
    project.write("R/NC/run.R", "cat('unused')\n");
    const r = await launchTask(
      project.request(
        makeTask({
          name: "per",
          kind: "r",
          file: "R/${state}/run.R",
          prefixArgs: `sh ${recorder}`,
        }),
        { inputs: { deps: {}, args: {}, config: {}, item: { state: "NC" } } },
      ),
    );
    expect(r.logTail).toEqual([`${project.root}/R/NC|Rscript|run.R|NC|`]);
  });

  it("puts R's error line into the reason, as kptn does", async () => {
    const fake = project.write(
      "bin/fails.sh",
      'echo "loading"; echo "Error in f(x) : "; echo "  bad thing"; echo "Execution halted"; exit 1\n',
    );
    const r = await launchTask(
      project.request(
        makeTask({ name: "rfail", kind: "r", file: "R/model.R", prefixArgs: `sh ${fake}` }),
      ),
    );
    expect(r.status).toBe("failed");
    expect(r.error).toBe("Error in f(x) : bad thing (exit code 1)");
    expect(r.logTail.at(-1)).toBe(
      "dagwright: task 'rfail' failed: Error in f(x) : bad thing (exit code 1)",
    );
  });

  it("writes cli_args to the log header as written, not filled (they may carry secrets)", async () => {
    const quiet = project.write("bin/quiet.sh", "exit 0\n");
    const req = project.request(
      makeTask({
        name: "secret",
        kind: "r",
        file: "R/model.R",
        prefixArgs: `sh ${quiet}`,
        cliArgs: "--token ${TOKEN}",
      }),
      { env: { TOKEN: "s3cr3t-value" } },
    );
    const r = await launchTask(req);
    expect(r.status).toBe("succeeded");
    const log = readFileSync(req.logPath, "utf8");
    expect(log).toContain("Rscript model.R --token ${TOKEN}");
    expect(log).not.toContain("s3cr3t-value");
  });

  it("fails before starting when cli_args names an unset variable", async () => {
    const r = await launchTask(
      project.request(
        makeTask({ name: "unset", kind: "r", file: "R/model.R", cliArgs: "${NOPE_DAGWRIGHT}" }),
      ),
    );
    expect(r.status).toBe("failed");
    expect(r.error).toBe(
      'cli_args: ${NOPE_DAGWRIGHT} is not set (neither an item value nor an environment variable) in "${NOPE_DAGWRIGHT}"',
    );
  });

  it("refuses a script path that an item moves outside the project", async () => {
    const r = await launchTask(
      project.request(makeTask({ name: "esc", kind: "r", file: "R/${state}/run.R" }), {
        inputs: { deps: {}, args: {}, config: {}, item: { state: "../../.." } },
      }),
    );
    expect(r.status).toBe("failed");
    expect(r.error).toMatch(/is outside the project root$/);
  });

  describe.skipIf(!hasRscript)("with a real Rscript", () => {
    it("passes cli_args and item values to the script", async () => {
      project.write(
        "R/real.R",
        'args <- commandArgs(trailingOnly = TRUE)\ncat(getwd(), args, Sys.getenv("state"), "\\n")\n',
      );
      const r = await launchTask(
        project.request(
          makeTask({ name: "real", kind: "r", file: "R/real.R", cliArgs: "a 'b c'" }),
          {
            inputs: { deps: {}, args: {}, config: {}, item: { state: "NC" } },
          },
        ),
      );
      expect(r.status).toBe("succeeded");
      expect(r.logTail).toEqual([`${project.root}/R a b c NC `]);
    });

    it("fails with the R error in the log", async () => {
      project.write("R/fails.R", 'stop("bad input")\n');
      const r = await launchTask(
        project.request(makeTask({ name: "fails", kind: "r", file: "R/fails.R" })),
      );
      expect(r.status).toBe("failed");
      expect(r.error).toBe("Error: bad input (exit code 1)");
    });
  });
});
