import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";

const R_HINT =
  "install R: sudo apt-get install -y r-base-core (Debian/Ubuntu), brew install r (macOS)";

/** A Python task `a` and an R task `b` after it, each writing one output. */
const SPEC = `tasks:
  a:
    file: a.py
    outputs: [out/a.txt]
  b:
    file: b.R
    outputs: [out/b.txt]
graphs:
  main:
    tasks:
      a:
      b: a
`;

function project(): string {
  return makeProject({
    "dagwright.yaml": SPEC,
    "a.py":
      'import os\n\ndef a():\n    os.makedirs("out", exist_ok=True)\n    open("out/a.txt", "w").write("a")\n',
    "b.R": 'writeLines("b", "out/b.txt")\n',
  });
}

/** The real python3 binary (not a version manager's shim, which needs its own PATH). */
const PYTHON3 = spawnSync("python3", ["-c", "import sys; print(sys.executable)"], {
  encoding: "utf8",
}).stdout.trim();

/**
 * A directory to use as the whole PATH: python3 only, plus a stand-in Rscript when `withR` (it
 * answers `--version` and writes out/b.txt like b.R, so the test needs no R installed).
 */
function pathDir(project: string, withR: boolean): string {
  const dir = path.join(project, ".bin");
  mkdirSync(dir, { recursive: true });
  symlinkSync(PYTHON3, path.join(dir, "python3"));
  if (withR) addFakeRscript(dir);
  return dir;
}

function addFakeRscript(dir: string): void {
  const file = path.join(dir, "Rscript");
  writeFileSync(
    file,
    '#!/bin/sh\nif [ "$1" = --version ]; then echo "Rscript (R) version 4.3.1 (2023-06-16)"; exit 0; fi\n/bin/mkdir -p out && echo b > out/b.txt\n',
  );
  chmodSync(file, 0o755);
}

describe("dagwright doctor", () => {
  it("exits 3 with the apt hint when the spec has an R task and Rscript is not on PATH", () => {
    const dir = project();
    const r = runCli(["doctor"], dir, { PATH: pathDir(dir, false) });
    expect(r.code).toBe(3);
    expect(r.stdout).toContain(`✗ Rscript not found on PATH (R tasks: b) — ${R_HINT}\n`);
    expect(r.stdout).toMatch(/^✓ python3 \d+\.\d+\.\d+ at .*\.bin\/python3 \(Python tasks: a\)$/m);
    expect(r.stdout).toContain("1 problem; fix it and run `dagwright doctor` again\n");
  });

  it("exits 0 when everything the spec needs is there, showing each runtime's version", () => {
    const dir = project();
    const bin = pathDir(dir, true);
    const r = runCli(["doctor"], dir, { PATH: bin });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`✓ Rscript 4.3.1 at ${bin}/Rscript (R tasks: b)\n`);
    expect(r.stdout).toContain(
      `✓ state store: SQLite ${dir}/.dagwright/state.db (created on the first run)\n`,
    );
    expect(r.stdout).toContain(`✓ scratch directory ${dir}/scratch is writable`);
    expect(r.stdout).toContain("ok: ready to run\n");
    expect(r.stdout).not.toContain("✗");
    // Checking creates nothing: no state file, no scratch dir.
    expect(existsSync(path.join(dir, ".dagwright"))).toBe(false);
  });

  it("prints every check as JSON with --json", () => {
    const dir = project();
    const r = runCli(["doctor", "--json"], dir, { PATH: pathDir(dir, false) });
    expect(r.code).toBe(3);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: { id: string }[] };
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.id === "runtime:Rscript")).toEqual({
      id: "runtime:Rscript",
      status: "fail",
      message: "Rscript not found on PATH (R tasks: b)",
      fix: R_HINT,
    });
    expect(report.checks.map((c) => c.id)).toEqual([
      "runtime:python3",
      "runtime:Rscript",
      "state",
      "dir:.dagwright",
      "dir:scratch",
    ]);
  });

  it("checks only the named graph's tasks", () => {
    const dir = project();
    writeFileSync(path.join(dir, "dagwright.yaml"), `${SPEC}  py_only:\n    tasks:\n      a:\n`);
    const r = runCli(["doctor", "py_only"], dir, { PATH: pathDir(dir, false) });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("Rscript");
  });

  it("names an unsupported DAGWRIGHT_STATE_URL scheme and the supported ones", () => {
    const dir = project();
    const r = runCli(["doctor"], dir, {
      PATH: pathDir(dir, true),
      DAGWRIGHT_STATE_URL: "mysql://x",
    });
    expect(r.code).toBe(3);
    expect(r.stdout).toContain(
      '✗ state store: DAGWRIGHT_STATE_URL="mysql://x": unsupported scheme "mysql:" — set it to one of: sqlite:PATH, sqlite://PATH, a plain file path, postgres://… or postgresql://…',
    );
  });

  it("reports an artifact location that is not mounted", () => {
    const dir = project();
    const r = runCli(["doctor"], dir, {
      PATH: pathDir(dir, true),
      DAGWRIGHT_ARTIFACTS_URL: path.join(dir, "no-such-volume"),
    });
    expect(r.code).toBe(3);
    expect(r.stdout).toContain(
      `✗ artifact location: cannot reach volume ${dir}/no-such-volume (ENOENT) — mount the shared volume at ${dir}/no-such-volume, or fix the artifact location\n`,
    );
  });
});

describe("dagwright run preflight", () => {
  it("refuses with exit 3 and the install hint before any task ran when Rscript is missing", () => {
    const dir = project();
    const r = runCli(["run"], dir, { PATH: pathDir(dir, false) });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("error: Rscript not found on PATH (R tasks: b); nothing was run\n");
    expect(r.stderr).toContain(`hint: ${R_HINT}`);
    expect(existsSync(path.join(dir, "out"))).toBe(false); // a, which runs first, did not run
    const status = runCli(["status", "--json"], dir, { PATH: path.join(dir, ".bin") });
    const tasks = (JSON.parse(status.stdout) as { tasks: { task: string; state: string }[] }).tasks;
    expect(tasks.map((t) => t.state)).toEqual(["never-ran", "never-ran"]);
  });

  it("runs a selection without R tasks when Rscript is missing", () => {
    const dir = project();
    const r = runCli(["run", "--only", "a"], dir, { PATH: pathDir(dir, false) });
    expect(r.code).toBe(0);
    expect(existsSync(path.join(dir, "out", "a.txt"))).toBe(true);
  });

  it("warns on --dry-run, exits 0 and runs nothing", () => {
    const dir = project();
    const r = runCli(["run", "--dry-run"], dir, { PATH: pathDir(dir, false) });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      `warning: Rscript not found on PATH (R tasks: b); a real run would stop here\n  hint: ${R_HINT}\n`,
    );
    expect(existsSync(path.join(dir, "out"))).toBe(false);
  });

  it("still preflights a rerun once Rscript is gone, though the last run left a no-change memo", () => {
    const dir = project();
    const bin = pathDir(dir, true);
    // Until a run is answered from the memo (the run after one that ran something plans).
    const fromMemo = () => {
      const r = runCli(["run", "--json"], dir, { PATH: bin });
      expect(r.code).toBe(0);
      return r.stdout.includes('"nothingChanged":true');
    };
    let answered = false;
    for (let i = 0; i < 3 && !answered; i++) answered = fromMemo();
    expect(answered).toBe(true);
    rmSync(path.join(bin, "Rscript"));
    const r = runCli(["run", "--json"], dir, { PATH: bin });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("error: Rscript not found on PATH (R tasks: b); nothing was run\n");
  });
});

describe("DAGWRIGHT_STATE_URL", () => {
  it("exits 2 for mysql://x, naming the variable and the supported schemes, and creates no file", () => {
    const dir = project();
    const r = runCli(["status"], dir, { DAGWRIGHT_STATE_URL: "mysql://x" });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'error: DAGWRIGHT_STATE_URL="mysql://x": unsupported scheme "mysql:"\n  hint: set it to one of: sqlite:PATH, sqlite://PATH, a plain file path, postgres://… or postgresql://… (a file whose name contains ":" is written ./NAME)\n',
    );
    expect(existsSync(path.join(dir, "mysql:"))).toBe(false);
  });

  it("accepts sqlite:PATH", () => {
    const dir = project();
    const r = runCli(["status"], dir, { DAGWRIGHT_STATE_URL: "sqlite:state/dw.db" });
    expect(r.code).toBe(0);
    expect(existsSync(path.join(dir, "state", "dw.db"))).toBe(true);
  });
});
