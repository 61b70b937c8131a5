import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/fingerprint/canonical-json.js";
import { fingerprintOf } from "../../src/fingerprint/fingerprint.js";
import { FsSnapshot } from "../../src/fingerprint/fs-snapshot.js";
import type { FileHash } from "../../src/fingerprint/hash-file.js";
import { buildGraph } from "../../src/graph/build-graph.js";
import {
  decideTask,
  decideTaskNow,
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
