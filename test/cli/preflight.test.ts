import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  checkCommandPrograms,
  checkRuntimes,
  checkWritableDir,
  findProgram,
} from "../../src/cli/preflight.js";
import { makeProject, makeTask } from "../helpers.js";

/** A directory holding empty executables with these names. */
function binDir(...names: string[]): string {
  const dir = path.join(makeProject({}), "bin");
  mkdirSync(dir);
  for (const n of names) {
    writeFileSync(path.join(dir, n), "#!/bin/sh\n");
    chmodSync(path.join(dir, n), 0o755);
  }
  return dir;
}

const py = makeTask({ name: "load", kind: "python", file: "load.py" });
const r = makeTask({ name: "model", kind: "r", file: "model.R" });

describe("findProgram", () => {
  it("finds the first executable on PATH and skips non-executable files", () => {
    const a = binDir();
    writeFileSync(path.join(a, "tool"), "not executable");
    const b = binDir("tool");
    expect(findProgram("tool", { env: { PATH: `${a}:${b}` }, cwd: "/" })).toBe(
      path.join(b, "tool"),
    );
    expect(findProgram("tool", { env: { PATH: a }, cwd: "/" })).toBeUndefined();
  });

  it("resolves a program with a slash against cwd, not PATH", () => {
    const bin = binDir("tool");
    const root = path.dirname(bin);
    expect(findProgram("./bin/tool", { env: { PATH: "" }, cwd: root })).toBe(
      path.join(bin, "tool"),
    );
  });
});

describe("checkRuntimes", () => {
  it("needs only the runtimes of the tasks given", () => {
    const env = { PATH: binDir("python3") };
    expect(checkRuntimes([py], { python3: "3.12.1" }, { env, cwd: "/" })).toEqual([
      {
        id: "runtime:python3",
        status: "ok",
        message: `python3 3.12.1 at ${env.PATH}/python3 (Python tasks: load)`,
      },
    ]);
  });

  it("fails a missing Rscript with the install commands", () => {
    const checks = checkRuntimes([py, r], {}, { env: { PATH: binDir("python3") }, cwd: "/" });
    expect(checks.filter((c) => c.status !== "ok")).toEqual([
      {
        id: "runtime:Rscript",
        status: "fail",
        message: "Rscript not found on PATH (R tasks: model)",
        fix: "install R: sudo apt-get install -y r-base-core (Debian/Ubuntu), brew install r (macOS)",
      },
    ]);
  });

  it("warns when a runtime is on PATH but did not answer --version", () => {
    const env = { PATH: binDir("Rscript") };
    const [check] = checkRuntimes([r], { Rscript: "missing" }, { env, cwd: "/" });
    expect(check?.status).toBe("warn");
    expect(check?.message).toBe(
      `Rscript at ${env.PATH}/Rscript did not answer \`Rscript --version\` (R tasks: model)`,
    );
  });

  it("checks DAGWRIGHT_PYTHON instead of python3 when it is set", () => {
    const env = { PATH: binDir("python3"), DAGWRIGHT_PYTHON: "/nowhere/python" };
    expect(checkRuntimes([py], {}, { env, cwd: "/" })).toEqual([
      {
        id: "runtime:python3",
        status: "fail",
        message: "DAGWRIGHT_PYTHON=/nowhere/python not found (Python tasks: load)",
        fix: "point DAGWRIGHT_PYTHON at a Python 3 interpreter, or unset it to use python3 from PATH",
      },
    ]);
  });

  it("needs sh for shell scripts and shell-string commands, nothing for argv commands", () => {
    const tasks = [
      makeTask({ name: "s", kind: "shell", file: "s.sh" }),
      makeTask({ name: "c", kind: "command", command: { shell: "echo hi" } }),
      makeTask({ name: "argv", kind: "command", command: { argv: ["echo", "hi"] } }),
    ];
    const checks = checkRuntimes(tasks, {}, { env: { PATH: binDir() }, cwd: "/" });
    expect(checks.map((c) => [c.id, c.status, c.message])).toEqual([
      ["runtime:sh", "fail", "sh not found on PATH (shell tasks: s, c)"],
    ]);
  });

  it("lists at most three task names", () => {
    const many = ["a", "b", "c", "d", "e"].map((name) => makeTask({ name, kind: "r" }));
    const [check] = checkRuntimes(many, {}, { env: { PATH: binDir() }, cwd: "/" });
    expect(check?.message).toBe("Rscript not found on PATH (R tasks: a, b, c and 2 more)");
  });
});

describe("checkCommandPrograms", () => {
  it("looks a command's program up on the task's own PATH, and skips ${VAR} programs", () => {
    const own = binDir("duckdb");
    const tasks = [
      makeTask({ name: "q", kind: "command", command: { argv: ["duckdb", "-c", "select 1"] } }),
      makeTask({
        name: "q2",
        kind: "command",
        command: { argv: ["duckdb"] },
        env: { PATH: own },
      }),
      makeTask({ name: "v", kind: "command", command: { argv: ["${TOOL}"] } }),
    ];
    const checks = checkCommandPrograms(tasks, { env: { PATH: binDir() }, cwd: "/" });
    expect(checks).toEqual([
      {
        id: "command:duckdb",
        status: "fail",
        message: "duckdb not found on PATH (command tasks: q)",
        fix: "install duckdb, or fix the command of q in the spec",
      },
      {
        id: "command:duckdb",
        status: "ok",
        message: `duckdb at ${own}/duckdb (command tasks: q2)`,
      },
    ]);
  });
});

describe("checkWritableDir", () => {
  it("accepts a directory that does not exist yet under a writable one", () => {
    const root = makeProject({});
    expect(checkWritableDir("dir:x", "scratch directory", path.join(root, "a", "b"))).toEqual({
      id: "dir:x",
      status: "ok",
      message: `scratch directory ${root}/a/b is writable (created on the first run)`,
    });
  });

  it("fails when a file stands where the directory would be", () => {
    const root = makeProject({ scratch: "a file" });
    const check = checkWritableDir("dir:x", "scratch directory", path.join(root, "scratch", "ns"));
    expect(check).toEqual({
      id: "dir:x",
      status: "fail",
      message: `scratch directory ${root}/scratch/ns: ${root}/scratch is not a directory`,
      fix: `move ${root}/scratch away`,
    });
  });
});
