import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, makeProject, REPO, runCli } from "../helpers.js";
import { validateArgo } from "../render/validate-argo.js";

const QUICKSTART = path.join(REPO, "examples", "quickstart");
const BROKEN = `graphs:
  g:
    tasks:
      extract:
      load: extrct
tasks:
  extract: {command: [echo], retries: many}
  load: {command: [echo]}
`;

describe("dagwright validate", () => {
  it("accepts the quickstart example and prints each graph's order", () => {
    const r = runCli(["validate"], QUICKSTART);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(
      "ok: dagwright.yaml (dagwright format): 1 graph, 4 tasks\n  sales: clean → summarize → monthly → report\n",
    );
    expect(r.code).toBe(0);
  });

  it("exits 2 listing every problem with file:line:col, the fix, and no stack trace", () => {
    const r = runCli(["validate"], makeProject({ "dagwright.yaml": BROKEN }));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      [
        'error: dagwright.yaml:5:7 graphs.g.tasks.load: depends on unknown task "extrct". Did you mean "extract"?',
        '  hint: tasks in graph "g": extract, load',
        'error: dagwright.yaml:7:39 tasks.extract.retries: expected number, received the string "many"',
        "2 errors in dagwright.yaml",
        "",
      ].join("\n"),
    );
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });

  it("prints JSON for scripts with --json, on success and on failure", () => {
    const ok = runCli(["validate", "--json"], QUICKSTART);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      ok: true,
      format: "dagwright",
      tasks: 4,
      graphs: { sales: { tasks: 4 } },
      diagnostics: [],
    });
    const bad = runCli(["validate", "--json"], makeProject({ "dagwright.yaml": BROKEN }));
    expect(bad.code).toBe(2);
    const parsed = JSON.parse(bad.stdout);
    expect(parsed.ok).toBe(false);
    expect(parsed.diagnostics[0]).toEqual({
      severity: "error",
      kind: "unknown-dependency",
      path: "graphs.g.tasks.load",
      location: { file: "dagwright.yaml", line: 5, column: 7 },
      message: 'depends on unknown task "extrct". Did you mean "extract"?',
      hint: 'tasks in graph "g": extract, load',
    });
  });

  it("reads kptn.yaml when there is no dagwright.yaml, and -f picks a file", () => {
    const dir = makeProject({
      "kptn.yaml": "graphs:\n  g: {tasks: {a: }}\ntasks:\n  a: {command: [x]}\n",
      "other/spec.yaml": "graphs:\n  h: {tasks: {b: }}\ntasks:\n  b: {command: [x]}\n",
    });
    expect(runCli(["validate"], dir).stdout).toContain("ok: kptn.yaml (kptn format)");
    expect(runCli(["-f", "other/spec.yaml", "validate"], dir).stdout).toContain("h: b");
  });

  it("says where it looked when no spec exists, with exit 2", () => {
    const dir = makeProject({});
    const r = runCli(["validate"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `error: no dagwright.yaml or kptn.yaml in ${dir}\n  hint: run dagwright in the project directory, pass -f path/to/dagwright.yaml, or create a project with \`dagwright init\`\n`,
    );
  });
});

describe("the validated-spec cache", () => {
  it("gives status and run the same graphs, args included, as a full load", () => {
    const spec = `graphs:
  base:
    tasks:
      a: {args: {n: 1}}
      b: a
  more:
    extends: [{graph: base, args: {a: {n: 2}}}]
tasks:
  a: {file: "t.ts:a", cache_result: true}
  b: {file: "t.ts:b", outputs: [out.txt]}
`;
    const dir = makeProject({
      "dagwright.yaml": spec,
      "t.ts": [
        'import { writeFileSync } from "node:fs";',
        "export function a(i: { args: { n: number } }): number { return i.args.n; }",
        'export function b(i: { a: number }): void { writeFileSync("out.txt", String(i.a)); }',
        "",
      ].join("\n"),
    });
    const full = runCli(["status", "more", "--json"], dir);
    expect(existsSync(path.join(dir, ".dagwright", "spec-cache.json"))).toBe(true);
    const cached = runCli(["status", "more", "--json"], dir);
    expect(cached).toEqual(full);
    expect(runCli(["run", "more"], dir).code).toBe(0);
    expect(readFileSync(path.join(dir, "out.txt"), "utf8")).toBe("2");
    expect(runCli(["run", "base"], dir).code).toBe(0);
    expect(readFileSync(path.join(dir, "out.txt"), "utf8")).toBe("1");
  });
});

describe("dagwright graph", () => {
  it("prints mermaid by default", () => {
    const r = runCli(["graph"], QUICKSTART);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'flowchart TD\n  t0["clean"]\n  t1["summarize"]\n  t2["monthly"]\n  t3["report"]\n  t0 --> t1\n  t0 --> t2\n  t1 --> t3\n  t2 --> t3\n',
    );
  });

  it("prints dot and json, restricted by --from/--to/--only", () => {
    const dot = runCli(["graph", "sales", "--format", "dot", "--from", "summarize"], QUICKSTART);
    expect(dot.stdout).toBe(
      'digraph "sales" {\n  rankdir=LR;\n  node [shape=box];\n  t0 [label="summarize"];\n  t1 [label="report"];\n  t0 -> t1;\n}\n',
    );
    const json = JSON.parse(
      runCli(["graph", "--format", "json", "--to", "monthly"], QUICKSTART).stdout,
    );
    expect(json.order).toEqual(["clean", "monthly"]);
    expect(json.tasks[1]).toMatchObject({
      name: "monthly",
      kind: "r",
      deps: ["clean"],
      file: "tasks/monthly.R",
    });
  });

  it("rejects an unknown graph, task or format with exit 2 and a suggestion", () => {
    const g = runCli(["graph", "sale"], QUICKSTART);
    expect(g.code).toBe(2);
    expect(g.stderr).toBe(
      'error: unknown graph "sale". Did you mean "sales"?\n  hint: graphs in this spec: sales\n',
    );
    const t = runCli(["graph", "--only", "sumarize"], QUICKSTART);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain(
      '--only: graph "sales" has no task "sumarize". Did you mean "summarize"?',
    );
    const f = runCli(["graph", "--format", "svg"], QUICKSTART);
    expect(f.code).toBe(2);
    expect(f.stderr).toContain(
      "error: option '--format <FORMAT>' argument 'svg' is invalid. Allowed choices are mermaid, dot, json.",
    );
  });

  it.each([
    ["--only", ""],
    ["--only=", undefined],
    ["--only", ","],
    ["--tags", ""],
    ["--from", " , "],
  ])(
    "rejects an empty selection %s %j with exit 2, never selecting the whole graph",
    (flag, value) => {
      for (const cmd of [["graph"], ["run", "--dry-run"]]) {
        const r = runCli([...cmd, flag, ...(value === undefined ? [] : [value])], QUICKSTART);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain("It names no task or tag");
        expect(r.stdout).toBe("");
      }
    },
  );

  it("asks which graph when the spec has several", () => {
    const dir = makeProject({
      "dagwright.yaml":
        "graphs:\n  a: {tasks: {t: }}\n  b: {tasks: {t: }}\ntasks:\n  t: {command: [x]}\n",
    });
    const r = runCli(["graph"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error: this spec has 2 graphs; say which one\n  hint: graphs: a, b\n");
  });
});

describe("dagwright ls", () => {
  it("lists tasks with language, source and graphs", () => {
    const r = runCli(["ls"], QUICKSTART);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        "TASK       LANG    SOURCE                        GRAPHS",
        "clean      python  tasks/clean.py                sales",
        "summarize  ts      tasks/summarize.ts:summarize  sales",
        "monthly    R       tasks/monthly.R               sales",
        "report     shell   tasks/report.sh               sales",
        "",
      ].join("\n"),
    );
    const json = JSON.parse(runCli(["ls", "--json"], QUICKSTART).stdout);
    expect(json.tasks[0]).toEqual({
      task: "clean",
      language: "python",
      source: "tasks/clean.py",
      graphs: ["sales"],
      description: "Drop rows with missing or negative units; add a revenue column.",
      tags: [],
    });
  });

  it("refuses an invalid spec with exit 2", () => {
    const r = runCli(["ls"], makeProject({ "dagwright.yaml": BROKEN }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("2 errors; nothing was run");
  });
});

describe("dagwright schema, init, help", () => {
  it("prints the committed JSON Schema", () => {
    const r = runCli(["schema"], REPO);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(path.join(REPO, "schema", "dagwright.schema.json"), "utf8"));
  });

  it("init creates a project that validates, and refuses to overwrite without --force", () => {
    const dir = makeProject({});
    const r = runCli(["init", "proj"], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("created proj/dagwright.yaml");
    expect(existsSync(path.join(dir, "proj", "tasks", "extract.py"))).toBe(true);
    const v = runCli(["validate"], path.join(dir, "proj"));
    expect(v.code).toBe(0);
    expect(v.stdout).toContain("main: extract → stats → report");
    const again = runCli(["init", "proj"], dir);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("proj already has");
    expect(again.stderr).toContain("pass --force to overwrite");
    expect(runCli(["init", "proj", "--force"], dir).code).toBe(0);
  });

  it("has --help on every command and exits 0", () => {
    for (const cmd of ["validate", "graph", "ls", "schema", "init"]) {
      const r = runCli([cmd, "--help"], REPO);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: dagwright ${cmd}`);
    }
    expect(runCli(["--help"], REPO).stdout).toContain(
      "Exit codes: 0 success, 1 a task failed, 2 bad input",
    );
  });

  it("rejects an unknown command or flag with exit 2", () => {
    expect(runCli(["frobnicate"], REPO).code).toBe(2);
    const r = runCli(["validate", "--jsn"], QUICKSTART);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--jsn'");
  });
});

describe("dagwright render argo", () => {
  it("writes a manifest for the Argo example that the Argo schema checker accepts", () => {
    const out = makeProject({});
    const r = runCli(
      ["render", "argo", "daily", "--out", out],
      path.join(REPO, "examples", "argo"),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("daily.argo.yaml");
    const manifest = readFileSync(path.join(out, "daily.argo.yaml"), "utf8");
    expect(validateArgo({ "daily.argo.yaml": manifest })).toEqual([]);
    // Byte-identical on a second render.
    const again = makeProject({});
    runCli(["render", "argo", "daily", "--out", again], path.join(REPO, "examples", "argo"));
    expect(readFileSync(path.join(again, "daily.argo.yaml"), "utf8")).toBe(
      readFileSync(path.join(out, "daily.argo.yaml"), "utf8"),
    );
  });

  it("rejects an unknown target and a missing --out with exit 2", () => {
    expect(runCli(["render", "airflo", "--out", "x"], QUICKSTART).code).toBe(2);
    const r = runCli(["render", "argo"], QUICKSTART);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("required option '--out <DIR>' not specified");
  });

  it("names the missing image", () => {
    const r = runCli(["render", "argo", "--out", makeProject({})], QUICKSTART);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("image");
  });
});

describe("a reader that closes stdout early (`dagwright … | head`)", () => {
  /** Runs the CLI, closing its stdout after the first chunk; resolves with the exit and stderr. */
  function firstChunkOnly(args: string[], cwd: string) {
    return new Promise<{ code: number | null; first: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd,
        env: { ...process.env, NO_COLOR: "1" },
      });
      let first = "";
      let stderr = "";
      child.stdout.once("data", (d: Buffer) => {
        first = d.toString();
        child.stdout.destroy();
      });
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      child.on("close", (code) => resolve({ code, first, stderr }));
    });
  }

  it("ends quietly with the command's own exit code, and a run still records its tasks", async () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:\n  g:\n    tasks:\n${Array.from({ length: 200 }, (_, i) => `      t${i}: []`).join("\n")}\ntasks:\n${Array.from({ length: 200 }, (_, i) => `  t${i}: {command: ["true"]}`).join("\n")}\n`,
    });
    const r = await firstChunkOnly(["run", "--json"], dir);
    expect(r.first).toContain('"type":"run-start"');
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled|at /);
    expect(r.code).toBe(0);
    const status = runCli(["status", "--json"], dir);
    expect(status.stdout.match(/"fresh"/g)?.length).toBe(200);
  });
});
