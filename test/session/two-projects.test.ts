import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, REPO } from "../helpers.js";

type Lib = typeof import("../../src/index.js");
/** The built package, as a library user imports it. */
const lib = (): Promise<Lib> => import(path.join(REPO, "dist", "index.js")) as Promise<Lib>;

const SPEC = `config:
  who: nobody
graphs:
  g:
    tasks:
      greet:
      cfg: greet
tasks:
  greet:
    command: ["sh", "greet.sh"]
    outputs: [out/greet.txt]
  cfg:
    file: cfg.ts
    cache_result: true
    outputs: [out/cfg.txt]
`;

/**
 * A project whose tasks write what they see: their env, their config, their working directory.
 * The TS task reads and writes paths relative to its working directory, which must be its root.
 */
function project(who: string): string {
  return makeProject({
    "dagwright.yaml": SPEC.replace("who: nobody", `who: ${who}`),
    "greet.sh":
      'set -eu\nmkdir -p out\nprintf "%s in %s\\n" "$GREETING" "$(pwd)" > out/greet.txt\n',
    "cfg.ts": [
      'import { readFileSync, writeFileSync } from "node:fs";',
      "export function cfg(input: { config: { who: string } }): string {",
      '  const greet = readFileSync("out/greet.txt", "utf8").trim();',
      "  const seen = `${input.config.who}/${process.env.GREETING}/${greet}`;",
      "  console.log(`cfg saw ${seen}`);",
      '  writeFileSync("out/cfg.txt", `${seen}\\n`);',
      "  return seen;",
      "}",
      "",
    ].join("\n"),
  });
}

interface Seen {
  type: string;
  task?: string;
}

/** Runs graph `g` of a project, collecting its events. */
async function runOf(p: import("../../src/index.js").Project, selection = {}) {
  const events: Seen[] = [];
  const result = await p.run(selection, { observer: (e) => events.push(e), jobs: 2 });
  return { ...result, ran: events.filter((e) => e.type === "task-start").map((e) => e.task) };
}

describe("two projects open in one process", () => {
  it("run at once, each task seeing its own project's env, config and root, with separate state and logs", async () => {
    const { openProject } = await lib();
    const [a, b] = [project("alice"), project("bob")];
    const cwd = process.cwd();
    const pa = await openProject(a, { env: { ...process.env, GREETING: "hello A" } });
    const pb = await openProject(b, { env: { ...process.env, GREETING: "hello B" } });
    try {
      const [ra, rb] = await Promise.all([runOf(pa), runOf(pb)]);
      expect([ra.status, rb.status]).toEqual(["succeeded", "succeeded"]);
      expect(ra.ran).toEqual(["greet", "cfg"]);
      expect(rb.ran).toEqual(["greet", "cfg"]);

      const read = (dir: string, f: string) => readFileSync(path.join(dir, f), "utf8").trim();
      expect(read(a, "out/greet.txt")).toBe(`hello A in ${a}`);
      expect(read(b, "out/greet.txt")).toBe(`hello B in ${b}`);
      expect(read(a, "out/cfg.txt")).toBe(`alice/hello A/hello A in ${a}`);
      expect(read(b, "out/cfg.txt")).toBe(`bob/hello B/hello B in ${b}`);
      expect(await pa.store.result("g@default", "cfg")).toBe(`alice/hello A/hello A in ${a}`);
      expect(await pb.store.result("g@default", "cfg")).toBe(`bob/hello B/hello B in ${b}`);

      for (const [dir, who, other] of [
        [a, "alice", "bob"],
        [b, "bob", "alice"],
      ] as const) {
        expect(existsSync(path.join(dir, ".dagwright", "state.db"))).toBe(true);
        const logs = path.join(dir, ".dagwright", "logs", "g@default", "cfg");
        const text = readdirSync(logs)
          .map((f) => readFileSync(path.join(logs, f), "utf8"))
          .join("");
        expect(text).toContain(`cfg saw ${who}/`);
        expect(text).not.toContain(other);
      }
      // Nothing process-wide was changed for them.
      expect(process.cwd()).toBe(cwd);
      expect(process.env.GREETING).toBeUndefined();

      // A rerun reads a's own state: everything fresh, nothing runs.
      expect((await pa.status()).tasks.map((t) => t.state)).toEqual(["fresh", "fresh"]);
      expect((await runOf(pa)).ran).toEqual([]);
    } finally {
      await Promise.all([pa.close(), pb.close()]);
    }
  });

  it("decodes rendered env values for its tasks without touching process.env", async () => {
    const { openProject } = await lib();
    const dir = project("carol");
    const encoded = Buffer.from("{{hi}}", "utf8").toString("base64");
    const p = await openProject(dir, {
      env: { ...process.env, DAGWRIGHT_ENV_B64_GREETING: encoded },
    });
    try {
      expect((await runOf(p)).status).toBe("succeeded");
      expect(readFileSync(path.join(dir, "out/greet.txt"), "utf8")).toBe(`{{hi}} in ${dir}\n`);
      expect(p.env.GREETING).toBe("{{hi}}");
      expect(process.env.GREETING).toBeUndefined();
    } finally {
      await p.close();
    }
  });
});

describe("one project, two graphs", () => {
  const TWO = `graphs:
  one:
    tasks:
      x:
  two:
    tasks:
      y:
tasks:
  x:
    command: ["sh", "-c", "mkdir -p out && echo one > out/x.txt"]
    outputs: [out/x.txt]
  y:
    command: ["sh", "-c", "mkdir -p out && echo two > out/y.txt"]
    outputs: [out/y.txt]
`;

  it("runs both at once in their own namespaces, each recording only its own tasks", async () => {
    const { openProject } = await lib();
    const dir = makeProject({ "dagwright.yaml": TWO });
    const p = await openProject(dir);
    try {
      const [one, two] = await Promise.all([
        runOf(p, { graph: "one" }),
        runOf(p, { graph: "two" }),
      ]);
      expect([one.status, two.status]).toEqual(["succeeded", "succeeded"]);
      expect([one.ran, two.ran]).toEqual([["x"], ["y"]]);
      expect(await p.store.lastSuccess("one@default", "x")).toBeDefined();
      expect(await p.store.lastSuccess("two@default", "x")).toBeUndefined();
      expect(await p.store.lastSuccess("two@default", "y")).toBeDefined();
      const status = await p.status({ graph: "two" });
      expect([status.namespace, status.tasks.map((t) => [t.task, t.state])]).toEqual([
        "two@default",
        [["y", "fresh"]],
      ]);
    } finally {
      await p.close();
    }
  });
});
