import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { renderStepFunctions } from "../../src/render/stepfunctions.js";
import { graphOf, specFor } from "./fixtures.js";

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON, read field by field
type Json = Record<string, any>;

/** The command of the inline Map's item Task of `each` (a fan-out), as the container runs it. */
function itemCommand(): string[] {
  const graph = graphOf("g", { keys: [], each: ["keys"] }, { each: { mapOver: ["k"] } });
  const files = renderStepFunctions({ spec: specFor(graph), graph, config: {}, options: {} }).files;
  const found: string[][] = [];
  const walk = (x: Json) => {
    for (const s of Object.values(x.States as Record<string, Json>)) {
      if (s.ItemProcessor && s.ItemProcessor.ProcessorConfig.Mode === "INLINE")
        for (const t of Object.values(s.ItemProcessor.States as Record<string, Json>))
          if (t.Type === "Task") found.push(t.Parameters.Overrides.ContainerOverrides[0].Command);
      for (const b of s.Branches ?? []) walk(b);
    }
  };
  walk(JSON.parse(files["g.asl.json"]!));
  expect(found).toHaveLength(1);
  return found[0]!;
}

/** Runs the item command with DAGWRIGHT_ITEMS = `items` and a `dagwright` that prints its argv. */
function runItems(items: string) {
  const bin = mkdtempSync(path.join(os.tmpdir(), "dagwright-asl-items-"));
  const fake = path.join(bin, "dagwright");
  writeFileSync(fake, '#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n');
  chmodSync(fake, 0o755);
  const [cmd, ...args] = itemCommand();
  const r = spawnSync(cmd!, args, {
    encoding: "utf8",
    env: { PATH: `${bin}:${process.env.PATH}`, DAGWRIGHT_ITEMS: items },
  });
  return { code: r.status, argv: r.stdout.trim().split("\n"), stderr: r.stderr };
}

describe("render stepfunctions: the item Task's command", () => {
  it("passes each key of its batch to run-task as --item-b64", () => {
    const r = runItems('["YQ", "Yi1j"]');
    expect(r.code, r.stderr).toBe(0);
    expect(r.argv).toEqual(["run-task", "--item-b64=Yi1j", "--item-b64=YQ", "--", "g", "each"]);
  });

  it("refuses a batch with no key instead of running the whole task", () => {
    for (const items of ["[]", '[""]']) {
      const r = runItems(items);
      expect(r.code, items).toBe(2);
      expect(r.stderr).toMatch(/no item key in DAGWRIGHT_ITEMS/);
    }
  });

  it("refuses a key that is not base64url instead of passing it on", () => {
    for (const items of ['["a b"]', '["$(touch x)"]', '["a;b"]', '["*"]']) {
      const r = runItems(items);
      expect(r.code, items).toBe(2);
      expect(r.stderr).toMatch(/invalid item key in DAGWRIGHT_ITEMS/);
    }
  });
});
