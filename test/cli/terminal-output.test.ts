import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { colorChoice } from "../../src/cli/output.js";
import { sanitizeTerminal } from "../../src/cli/sanitize-terminal.js";
import { BIN, jsonLines, makeProject, runCli } from "../helpers.js";

// Retitles the terminal (OSC 0), clears it (CSI 2J), then prints a red word (SGR).
const HOSTILE = String.raw`printf '\033]0;pwned-title\007\033[2Jcleared \033[31mred\033[0m\n'; exit 1`;
const SPEC = `graphs:\n  g:\n    tasks:\n      t:\ntasks:\n  t:\n    command: "${HOSTILE.replace(/\\/g, "\\\\")}"\n`;

const ESC = "\u001b";
const BEL = "\u0007";

describe("task output shown on the terminal", () => {
  it("loses escape sequences in the failure tail, -v lines and --json events", () => {
    const dir = makeProject({ "dagwright.yaml": SPEC });
    const r = runCli(["run", "-v"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain(ESC);
    expect(r.stderr).not.toContain(BEL);
    expect(r.stderr).toContain("t │ cleared red\n");
    expect(r.stderr).toContain("    cleared red\n");

    const json = runCli(["run", "-v", "--json"], dir);
    expect(json.stdout).not.toMatch(/\\u001b|\\u0007/);
    const events = jsonLines<{ type: string; line?: string; logTail?: string[] }>(json.stdout);
    expect(events.find((e) => e.type === "log")?.line).toBe("cleared red");
    expect(events.find((e) => e.type === "task-failed")?.logTail).toContain("cleared red");
  });

  it("keeps only the colours with --color", () => {
    const dir = makeProject({ "dagwright.yaml": SPEC });
    const r = runCli(["run", "--color"], dir);
    expect(r.stderr).toContain(`    cleared ${ESC}[31mred${ESC}[0m\n`);
    expect(r.stderr).not.toContain("pwned-title");
    expect(r.stderr).not.toContain(`${ESC}[2J`);
  });

  it("`logs` prints the exact bytes into a pipe, and sanitized ones on a terminal", () => {
    const dir = makeProject({ "dagwright.yaml": SPEC });
    runCli(["run"], dir);
    const piped = runCli(["logs", "t"], dir);
    expect(piped.stdout).toContain(`${ESC}]0;pwned-title${BEL}`);
    // A pseudo-terminal as stdout: python's pty module runs the CLI and copies what it prints.
    const tty = spawnSync(
      "python3",
      ["-c", "import pty, sys; pty.spawn(sys.argv[1:])", process.execPath, BIN, "logs", "t"],
      { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } },
    );
    expect(tty.stdout).toContain("cleared red");
    expect(tty.stdout).not.toContain(ESC);
    expect(tty.stdout).not.toContain(BEL);
    const asJson = JSON.parse(runCli(["logs", "t", "--json"], dir).stdout) as { text: string };
    expect(asJson.text).toContain("cleared red\n");
    expect(asJson.text).not.toContain(ESC);
    const file = (JSON.parse(runCli(["logs", "t", "--json"], dir).stdout) as { path: string }).path;
    expect(readFileSync(file, "utf8")).toContain("pwned-title");
  });
});

describe("sanitizeTerminal", () => {
  const cases: { name: string; text: string; plain: string; colors?: string }[] = [
    { name: "plain text", text: "a\tb", plain: "a\tb" },
    { name: "OSC title ended by BEL", text: `a${ESC}]0;t${BEL}b`, plain: "ab" },
    { name: "OSC 52 clipboard ended by ST", text: `a${ESC}]52;c;Zm9v${ESC}\\b`, plain: "ab" },
    { name: "an unterminated OSC", text: `a${ESC}]0;title`, plain: "a" },
    { name: "CSI clear and cursor moves", text: `${ESC}[2J${ESC}[10;1Ha${ESC}[?25l`, plain: "a" },
    {
      name: "SGR colours",
      text: `${ESC}[1;31mred${ESC}[0m`,
      plain: "red",
      colors: `${ESC}[1;31mred${ESC}[0m`,
    },
    { name: "8-bit CSI", text: "a\u009b2Jb", plain: "ab" },
    { name: "two-character ESC sequence (reset)", text: `a${ESC}cb`, plain: "ab" },
    {
      name: "carriage return, NUL, DEL, C1",
      text: "a\rb\u0000\u007f\u0085",
      plain: "a^Mb^@^?M-^E",
    },
    { name: "DCS string", text: `a${ESC}Pq#0${ESC}\\b`, plain: "ab" },
  ];
  for (const c of cases) {
    it(`handles ${c.name}`, () => {
      expect(sanitizeTerminal(c.text, { colors: false })).toBe(c.plain);
      expect(sanitizeTerminal(c.text, { colors: true })).toBe(c.colors ?? c.plain);
    });
  }
});

describe("colorChoice", () => {
  it("--color wins over NO_COLOR; FORCE_COLOR (0: off) unless NO_COLOR; else a TTY decides", () => {
    expect(colorChoice(["run", "--color"], { NO_COLOR: "1" }, false)).toEqual({
      color: true,
      taskColors: true,
    });
    expect(colorChoice(["run"], { FORCE_COLOR: "1" }, false).taskColors).toBe(true);
    expect(colorChoice(["run"], { FORCE_COLOR: "0" }, true)).toEqual({
      color: false,
      taskColors: false,
    });
    expect(colorChoice(["run"], {}, true)).toEqual({ color: true, taskColors: false });
    expect(colorChoice(["run"], { FORCE_COLOR: "1", NO_COLOR: "1" }, true).color).toBe(false);
    expect(colorChoice(["run"], { TERM: "dumb" }, true).color).toBe(false);
  });

  it("`status` shows a task's error without its escape sequences", () => {
    const dir = makeProject({
      "dagwright.yaml": "graphs: {g: {tasks: {t: }}}\ntasks:\n  t: {file: t.py}\n",
      "t.py": "def t():\n    raise ValueError('\\033]0;pwned-title\\007\\033[2Jboom')\n",
    });
    expect(runCli(["run"], dir).code).toBe(1);
    const status = runCli(["status"], dir);
    expect(status.stdout).toMatch(/t\s+failed\s+ValueError: boom/);
    expect(status.stdout).not.toContain(ESC);
    expect(status.stdout).not.toContain(BEL);
  });
});
