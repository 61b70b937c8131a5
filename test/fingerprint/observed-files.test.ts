import { statSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { hashFile } from "../../src/fingerprint/hash-file.js";
import {
  observe,
  observedExists,
  signatureOf,
  startObserving,
  stopObserving,
} from "../../src/fingerprint/observed-files.js";
import { makeProject } from "../helpers.js";

afterEach(() => {
  stopObserving();
});

describe("observed files (what a no-change memo rests on)", () => {
  it("records each path planning stat'ed, as first seen, and absent paths as absent", async () => {
    const dir = makeProject({ "a.txt": "one\n" });
    const a = path.join(dir, "a.txt");
    const log = startObserving();
    await hashFile(a);
    expect(observedExists(path.join(dir, "missing.txt"))).toBe(false);
    expect(stopObserving()).toBe(log);
    expect(log.files.get(a)).toBe(signatureOf(statSync(a)));
    expect(log.files.get(path.join(dir, "missing.txt"))).toBe("-");
    expect(log.unusable).toBe(false);
    // Nothing is recorded once stopped.
    await hashFile(a);
    expect(log.files.size).toBe(2);
  });

  it("is unusable when a path changed while planning looked at it", () => {
    const dir = makeProject({ "a.txt": "one\n" });
    const a = path.join(dir, "a.txt");
    const log = startObserving();
    observe(a, statSync(a));
    observe(a, statSync(a));
    expect(log.unusable).toBe(false);
    observe(a, undefined); // deleted meanwhile
    expect(log.unusable).toBe(true);
  });
});
