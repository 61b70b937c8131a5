import { utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { configKeysOf } from "../../src/fingerprint/config-keys.js";
import { FsSnapshot } from "../../src/fingerprint/fs-snapshot.js";
import { nodeConfigKeys } from "../../src/fingerprint/node-config-keys.js";
import { pythonConfigKeys } from "../../src/fingerprint/python-config-keys.js";
import { taskOf, tempProject } from "./project.js";

describe("pythonConfigKeys", () => {
  it.each([
    { name: "plain parameters", src: "def t(region, year):\n    pass\n", keys: ["region", "year"] },
    {
      name: "annotations, defaults with commas and brackets, keyword-only",
      src: 'def t(a: dict[str, int], b="x, y", *, c=(1, 2), d: "T" = None):\n    pass\n',
      keys: ["a", "b", "c", "d"],
    },
    {
      name: "a signature over several lines, async, positional-only",
      src: "async def t(\n    a,  # the first\n    /,\n    b,\n):\n    pass\n",
      keys: ["a", "b"],
    },
    { name: "no parameter", src: "def t():\n    return 1\n", keys: [] },
    {
      name: "other functions and a nested def of the same name do not count",
      src: "def helper(x):\n    pass\n\ndef t(region):\n    pass\n",
      keys: ["region"],
    },
    {
      name: "runtime_config (the whole config)",
      src: "def t(runtime_config):\n    pass\n",
      keys: "all",
    },
    { name: "**kwargs", src: "def t(a, **kwargs):\n    pass\n", keys: "all" },
    { name: "*args", src: "def t(a, *args):\n    pass\n", keys: "all" },
    { name: "no def: the file runs as a script", src: "print('hi')\n", keys: "all" },
    { name: "an imported function", src: "from lib import t\n", keys: "all" },
    {
      name: "a decorator may change the signature",
      src: "@wrap(\n    retries=2,\n)\ndef t(a):\n    pass\n",
      keys: "all",
    },
    {
      name: "two definitions",
      src: "def t(a):\n    pass\n\ndef t(b):\n    pass\n",
      keys: "all",
    },
    { name: "a rebinding", src: "def t(a):\n    pass\n\nt = other\n", keys: "all" },
    {
      name: "a def inside a string is not a def",
      src: 'DOC = """\ndef t(a):\n"""\n',
      keys: "all",
    },
    {
      name: "only a def at the top level counts",
      src: "class C:\n    def t(self, a):\n        pass\n",
      keys: "all",
    },
  ])("$name", ({ src, keys }) => {
    expect(pythonConfigKeys(src, "t")).toEqual(keys);
  });

  it("never throws, whatever the source", () => {
    fc.assert(
      fc.property(fc.string(), (tail) => {
        const keys = pythonConfigKeys(`def t(${tail}`, "t");
        expect(keys === "all" || Array.isArray(keys)).toBe(true);
      }),
      { seed: 11 },
    );
  });
});

describe("nodeConfigKeys", () => {
  it.each([
    {
      name: "config keys destructured from the input",
      src: "export function t({ config: { region, year = 2024 }, deps }) {}\n",
      keys: ["region", "year"],
    },
    {
      name: "renamed keys, a type annotation and a default",
      src: "export const t = async ({ config: { region: r, db }, args }: Input = {} as Input): Promise<void> => {};\n",
      keys: ["region", "db"],
    },
    {
      name: "no config among the destructured names",
      src: "export async function t({ args, item }) { return args; }\n",
      keys: [],
    },
    { name: "no parameter at all", src: "export function t() { return 1; }\n", keys: [] },
    {
      name: "a generic function expression",
      src: "export const t = function <T>({ config: { a } }: { config: T }) {};\n",
      keys: ["a"],
    },
    {
      name: "the input kept whole",
      src: "export function t(input) { return input.config.region; }\n",
      keys: "all",
    },
    {
      name: "config kept whole",
      src: "export function t({ config }) { return config[key]; }\n",
      keys: "all",
    },
    { name: "a rest element", src: "export function t({ args, ...rest }) {}\n", keys: "all" },
    {
      name: "a rest element inside config",
      src: "export function t({ config: { a, ...more } }) {}\n",
      keys: "all",
    },
    {
      name: "a single arrow parameter",
      src: "export const t = async input => input.config;\n",
      keys: "all",
    },
    {
      name: "a wrapped function",
      src: "export const t = wrap(({ config: { a } }) => a);\n",
      keys: "all",
    },
    {
      name: "arguments read past the destructuring",
      src: "export function t({ args }) { return arguments[0].config; }\n",
      keys: "all",
    },
    {
      name: "an export alias may point elsewhere",
      src: "function t({ args }) {}\nfunction u(input) {}\nexport { u as t };\n",
      keys: "all",
    },
    { name: "no declaration (a re-export)", src: 'export { t } from "./impl.js";\n', keys: "all" },
    {
      name: "braces and commas in strings and comments do not mislead",
      src: 'export function t({ config: { a = "}, b", /* , c } */ d } }) {}\n',
      keys: ["a", "d"],
    },
  ])("$name", ({ src, keys }) => {
    expect(nodeConfigKeys(src, "t")).toEqual(keys);
  });

  it("never throws, whatever the source", () => {
    fc.assert(
      fc.property(fc.string(), (tail) => {
        const keys = nodeConfigKeys(`export function t(${tail}`, "t");
        expect(keys === "all" || Array.isArray(keys)).toBe(true);
      }),
      { seed: 11 },
    );
  });
});

describe("configKeysOf", () => {
  it("reads Python and TS function tasks; scripts and commands take the whole config", () => {
    const root = tempProject({
      "tasks/a.py": "def a(region):\n    pass\n",
      "tasks/b.ts": "export function b({ config: { year } }) {}\n",
      "tasks/c.R": "x <- 1\n",
    });
    const fs = new FsSnapshot(root);
    const py = taskOf({ name: "a", kind: "python", file: "tasks/a.py" });
    const ts = taskOf({ name: "b", kind: "node", file: "tasks/b.ts" });
    expect(configKeysOf(fs, py)).toEqual(["region"]);
    expect(configKeysOf(fs, ts)).toEqual(["year"]);
    expect(configKeysOf(fs, taskOf({ name: "c", kind: "r", file: "tasks/c.R" }))).toBe("all");
    expect(
      configKeysOf(fs, taskOf({ name: "d", kind: "command", command: { argv: ["true"] } })),
    ).toBe("all");
    expect(configKeysOf(fs, { ...py, function: "missing" })).toBe("all");
    expect(configKeysOf(fs, { ...py, file: "tasks/gone.py" })).toBe("all");
  });

  it("sees an edited signature (cached by size and mtime)", () => {
    const root = tempProject({ "a.py": "def a(region):\n    pass\n" });
    const task = taskOf({ name: "a", kind: "python", file: "a.py" });
    expect(configKeysOf(new FsSnapshot(root), task)).toEqual(["region"]);
    const file = path.join(root, "a.py");
    writeFileSync(file, "def a(region, year):\n    pass\n");
    const later = new Date(Date.now() + 5_000);
    utimesSync(file, later, later);
    expect(configKeysOf(new FsSnapshot(root), task)).toEqual(["region", "year"]);
  });
});
