import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { jsonLines, makeProject, runCli } from "../helpers.js";

const TOKEN = "tok-5ecret-VALUE-42";
const ENV = { API_TOKEN: TOKEN };

/** Every attempt log the project holds, concatenated. */
function allLogs(dir: string): string {
  const root = path.join(dir, ".dagwright", "logs");
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".log"))
    .map((e) => readFileSync(path.join(e.parentPath, e.name), "utf8"))
    .join("");
}

// The value printed whole, then in two writes with a pause between them (two chunks of output).
const SHELL_LEAK = [
  "echo leaked=$API_TOKEN",
  'printf \'split=%s\' "$(printf %s "$API_TOKEN" | cut -c1-6)"',
  "sleep 0.3",
  'printf \'%s\\n\' "$(printf %s "$API_TOKEN" | cut -c7-)"',
  "exit 3",
].join("; ");

const TS_LEAK = `export function tsleak(): void {
  const t = process.env.API_TOKEN ?? "";
  process.stdout.write("ts=" + t.slice(0, 5));
  process.stdout.write(t.slice(5) + "\\n");
  throw new Error("rejected token " + t);
}
`;

const SPEC = `graphs:
  g:
    tasks:
      leak:
      tsleak:
tasks:
  leak:
    command: '${SHELL_LEAK.replace(/'/g, "''")}'
    secrets: [API_TOKEN]
  tsleak:
    file: leak.ts
    secrets: [API_TOKEN]
`;

describe("secret values in task output", () => {
  it("are redacted in the log, the failure tail, --json events, -v lines and `logs`", () => {
    const dir = makeProject({ "dagwright.yaml": SPEC, "leak.ts": TS_LEAK });
    const human = runCli(["run", "-v"], dir, ENV);
    expect(human.code).toBe(1);
    expect(human.stderr).not.toContain(TOKEN);
    expect(human.stderr).toContain("leak │ leaked=***");
    expect(human.stderr).toContain("leak │ split=***");
    expect(human.stderr).toContain("    leaked=***");
    expect(human.stderr).toContain("tsleak │ ts=***");
    expect(human.stderr).toContain("✗ tsleak: Error: rejected token ***");

    const json = runCli(["run", "-v", "--json"], dir, ENV);
    expect(json.stdout).not.toContain(TOKEN);
    const events = jsonLines<{ type: string; task?: string; line?: string; logTail?: string[] }>(
      json.stdout,
    );
    const failed = events.find((e) => e.type === "task-failed" && e.task === "leak");
    expect(failed?.logTail).toEqual(expect.arrayContaining(["leaked=***", "split=***"]));
    expect(events.filter((e) => e.type === "log").map((e) => e.line)).toContain("leaked=***");

    expect(allLogs(dir)).not.toContain(TOKEN);
    for (const task of ["leak", "tsleak"]) {
      const logs = runCli(["logs", task], dir, ENV);
      expect(logs.stdout).toContain("***");
      expect(logs.stdout).not.toContain(TOKEN);
    }
    const status = runCli(["status", "--json"], dir, ENV);
    expect(status.stdout).toContain("rejected token ***");
    expect(status.stdout).not.toContain(TOKEN);
  });

  it("are redacted from Python fan-out items, which then run outside the warm worker", () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:
  g:
    tasks:
      states:
      per_state: states
tasks:
  states:
    file: tasks.py
    cache_result: true
    iterable_item: state
  per_state:
    file: tasks.py
    map_over: state
    secrets: [API_TOKEN]
`,
      "tasks.py": `import os

def states():
    return ["NC", "SC"]

def per_state(state):
    print(f"{state} uses {os.environ['API_TOKEN']}")
    if state == "SC":
        raise ValueError("bad token " + os.environ["API_TOKEN"])
`,
    });
    const r = runCli(["run", "--json"], dir, ENV);
    expect(r.code).toBe(1);
    expect(r.stdout).not.toContain(TOKEN);
    expect(r.stdout).toContain("(SC: ValueError: bad token ***)");
    expect(allLogs(dir)).not.toContain(TOKEN);
    expect(runCli(["logs", "per_state", "--item", "NC"], dir, ENV).stdout).toContain("NC uses ***");
    const sc = runCli(["logs", "per_state", "--item", "SC"], dir, ENV).stdout;
    expect(sc).toContain("SC uses ***");
    expect(sc).toContain("ValueError: bad token ***");
  });

  it("are kept when shorter than 4 characters (they would mangle ordinary output)", () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:\n  g:\n    tasks:\n      t:\ntasks:\n  t:\n    command: 'echo "pin=$PIN"; exit 1'\n    secrets: [PIN]\n`,
    });
    const r = runCli(["run"], dir, { PIN: "123" });
    expect(r.stderr).toContain("    pin=123");
  });
});
