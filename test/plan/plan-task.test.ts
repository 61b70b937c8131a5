import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/fingerprint/canonical-json.js";
import { fingerprintOf } from "../../src/fingerprint/fingerprint.js";
import { FsSnapshot } from "../../src/fingerprint/fs-snapshot.js";
import type { FileHash } from "../../src/fingerprint/hash-file.js";
import { hashValue } from "../../src/fingerprint/hash-value.js";
import { buildGraph } from "../../src/graph/build-graph.js";
import {
  decideTask,
  decideTaskNow,
  fingerprintTask,
  type PlanContext,
  type UpstreamState,
} from "../../src/plan/plan-task.js";
import { loadSpec } from "../../src/spec/load-spec.js";
import { makeProject } from "../helpers.js";

const SPEC = `graphs:
  g:
    tasks:
      a:
      b: a
      c: [a, b]
      d: c
tasks:
  a: {file: "t.ts:a"}
  b: {file: "t.ts:b", args: {n: 1}, env: {X: "1"}}
  c: {file: "u.ts:c", inputs: ["data.txt"]}
  d: {command: ["sh", "d.sh"]}
`;

describe("decideTask", () => {
  it("stores the canonical JSON of exactly the parts it hashed, however it builds it", async () => {
    const root = makeProject({
      "dagwright.yaml": SPEC,
      "t.ts": 'import "./h.js";\nexport function a() {}\nexport function b() {}\n',
      "h.ts": "export const h = 1;\n",
      "u.ts": "export function c() {}\n",
      "data.txt": "x\n",
      "d.sh": "true\n",
    });
    const spec = loadSpec({ cwd: root });
    const graph = buildGraph(spec, "g");
    const hashes = new Map<string, FileHash>();
    const ctx: PlanContext = {
      spec,
      graph,
      config: { k: [1, 2] },
      outputsDir: root,
      fileCache: { get: (p) => hashes.get(p), put: (p, h) => hashes.set(p, h) },
      runtime: { node: "v20.0.0", python3: "3.11.0" },
      codeSnapshot: new FsSnapshot(root),
    };
    const upstreams: Map<string, UpstreamState | undefined>[] = [
      new Map(),
      new Map([
        ["a", { outputs: [] }],
        ["b", { outputs: [{ path: "o", hash: "h", size: 1, mtimeMs: 2 }], resultHash: "r" }],
        ["c", undefined],
      ]),
      // A mapped dependency contributes its item keys as well.
      new Map([
        ["a", { outputs: [], items: ["NC", "SC"] }],
        ["b", { outputs: [], resultHash: "r", items: [] }],
        ["c", { outputs: [] }],
      ]),
    ];
    // Twice each: the second time from what the first one left cached.
    for (let round = 0; round < 2; round++) {
      for (const upstream of upstreams) {
        for (const name of ["a", "b", "c", "d"]) {
          const now = decideTaskNow(ctx, graph.tasks[name]!, upstream, {});
          const d = await decideTask(ctx, graph.tasks[name]!, upstream, {});
          expect(d.partsJson).toBe(canonicalJson(d.parts));
          expect(d.fingerprint).toBe(fingerprintOf(d.parts));
          // Once the pass knows the code, tasks without inputs are decided without waiting.
          if (round === 1 && name !== "c") expect(now).toEqual(d);
          else if (now !== undefined) expect(now).toEqual(d);
        }
      }
    }
  });
});

describe("fingerprintTask: the config part", () => {
  const spec = `graphs:
  g:
    tasks: {py: , py_all: , ts: , ts_obj: , ts_none: , sh: , r: }
tasks:
  py: {file: py.py}
  py_all: {file: py_all.py}
  ts: {file: ts.ts}
  ts_obj: {file: ts_obj.ts}
  ts_none: {file: ts_none.ts}
  sh: {command: [sh, x.sh]}
  r: {file: r.R}
`;
  const files = {
    "dagwright.yaml": spec,
    "py.py": "def py(region, missing, pipeline_config):\n    pass\n",
    "py_all.py": "def py_all(region, **kwargs):\n    pass\n",
    "ts.ts": "export function ts({ config: { year } }: any) {}\n",
    "ts_obj.ts": "export function ts_obj(input: any) { return input.config.year; }\n",
    "ts_none.ts": "export function ts_none({ args }: any) {}\n",
    "x.sh": "true\n",
    "r.R": "1\n",
  };

  it.each([
    { task: "py", keys: ["region"] },
    { task: "py_all", keys: ["db", "region", "year"] },
    { task: "ts", keys: ["year"] },
    { task: "ts_obj", keys: ["db", "region", "year"] },
    { task: "ts_none", keys: [] },
    { task: "sh", keys: ["db", "region", "year"] },
    { task: "r", keys: ["db", "region", "year"] },
  ])("holds the keys $task receives, each with its value's hash", async ({ task, keys }) => {
    const root = makeProject(files);
    const loaded = loadSpec({ cwd: root });
    const hashes = new Map<string, FileHash>();
    const ctx: PlanContext = {
      spec: loaded,
      graph: buildGraph(loaded, "g"),
      config: { region: "eu", year: 2024, db: { host: "h" } },
      outputsDir: root,
      fileCache: { get: (p) => hashes.get(p), put: (p, h) => hashes.set(p, h) },
      runtime: {},
      codeSnapshot: new FsSnapshot(root),
    };
    const parts = await fingerprintTask(ctx, ctx.graph.tasks[task]!, new Map());
    expect(Object.keys(parts.config).sort()).toEqual(keys);
    for (const k of keys) expect(parts.config[k]).toBe(hashValue(ctx.config[k]));
  });
});
