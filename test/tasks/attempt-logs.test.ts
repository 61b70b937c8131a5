import path from "node:path";
import { describe, expect, it } from "vitest";
import { logDirOf, logSegment } from "../../src/tasks/attempt-logs.js";

describe("logSegment", () => {
  it("keeps safe names, and gives names that had to change a hash so none collide", () => {
    expect(logSegment("NC")).toBe("NC");
    expect(logSegment("a_")).toBe("a_");
    const changed = ["a%", "a\\", "a/", ".a", "", "..", "x".repeat(200)].map(logSegment);
    for (const s of changed) expect(s).toMatch(/^[A-Za-z0-9_.,=-]+-[0-9a-f]{12}$/);
    expect(new Set([...changed, "a_", "_a"]).size).toBe(changed.length + 2);
    expect(changed.every((s) => !s.startsWith("."))).toBe(true);
  });

  it("keeps namespaces of branches that differ only in / and _ apart", () => {
    expect(logDirOf("/p", "g@default")).toBe(path.join("/p", ".dagwright", "logs", "g@default"));
    expect(logDirOf("/p", "g@feat/x")).not.toBe(logDirOf("/p", "g@feat_x"));
  });
});
