import { describe, expect, it } from "vitest";
import { DagwrightError } from "../../src/spec/errors.js";
import { maskPassword, parseStateUrl } from "../../src/state/state-url.js";

const ROOT = "/proj";

describe("parseStateUrl", () => {
  it.each([
    { url: "state.db", file: "/proj/state.db" },
    { url: "./data/state.db", file: "/proj/data/state.db" },
    { url: "/var/lib/dw/state.db", file: "/var/lib/dw/state.db" },
    { url: "sqlite:state.db", file: "/proj/state.db" },
    { url: "sqlite:/abs/state.db", file: "/abs/state.db" },
    { url: "sqlite://rel/state.db", file: "/proj/rel/state.db" },
    { url: "sqlite:///abs/state.db", file: "/abs/state.db" },
    { url: "SQLite:state.db", file: "/proj/state.db" },
    { url: "./name:v2.db", file: "/proj/name:v2.db" },
    { url: "sqlite:name:v2.db", file: "/proj/name:v2.db" },
    { url: "data/a:b.db", file: "/proj/data/a:b.db" },
  ])("reads $url as the SQLite file $file", ({ url, file }) => {
    expect(parseStateUrl(url, ROOT)).toEqual({ kind: "sqlite", file });
  });

  it.each(["postgres://u:p@db:5432/dw", "postgresql://db/dw", "POSTGRES://db/dw"])(
    "passes %s on to PostgreSQL unchanged",
    (url) => {
      expect(parseStateUrl(url, ROOT)).toEqual({ kind: "postgres", url });
    },
  );

  it.each([
    { url: "mysql://x", scheme: "mysql" },
    { url: "redis://localhost:6379", scheme: "redis" },
    { url: "http://example.com/state", scheme: "http" },
    { url: "file:///tmp/state.db", scheme: "file" },
    { url: "postgres:db", scheme: "postgres" },
    { url: "name:v2.db", scheme: "name" },
  ])("rejects $url naming the scheme, the variable and the supported forms", ({ url, scheme }) => {
    const e = errorOf(() => parseStateUrl(url, ROOT));
    expect(e.code).toBe("E_USAGE");
    expect(e.message).toBe(`DAGWRIGHT_STATE_URL="${url}": unsupported scheme "${scheme}:"`);
    expect(e.hint).toBe(
      'set it to one of: sqlite:PATH, sqlite://PATH, a plain file path, postgres://… or postgresql://… (a file whose name contains ":" is written ./NAME)',
    );
  });

  it("never repeats a password from a rejected URL", () => {
    const e = errorOf(() => parseStateUrl("mysql://root:hunter2@db/x", ROOT));
    expect(e.message).toBe(
      'DAGWRIGHT_STATE_URL="mysql://root:***@db/x": unsupported scheme "mysql:"',
    );
  });

  it.each(["C:\\dw\\state.db", "c:/dw/state.db", "D:"])(
    "rejects the Windows drive path %s as such, not as a scheme",
    (url) => {
      const e = errorOf(() => parseStateUrl(url, ROOT));
      expect(e.code).toBe("E_USAGE");
      expect(e.message).toBe(
        `DAGWRIGHT_STATE_URL=${JSON.stringify(url)} is a Windows drive path; dagwright runs on POSIX systems (Linux, macOS, WSL)`,
      );
    },
  );

  it.each(["sqlite:", "sqlite://"])("rejects %s, which names no file", (url) => {
    expect(errorOf(() => parseStateUrl(url, ROOT)).message).toBe(
      `DAGWRIGHT_STATE_URL="${url}" names no file`,
    );
  });
});

describe("maskPassword", () => {
  it("masks only the password", () => {
    expect(maskPassword("postgres://u:s3cret@h:1/d")).toBe("postgres://u:***@h:1/d");
    expect(maskPassword("postgres://u@h/d")).toBe("postgres://u@h/d");
    expect(maskPassword("state.db")).toBe("state.db");
  });
});

function errorOf(f: () => unknown): DagwrightError {
  try {
    f();
  } catch (e) {
    if (e instanceof DagwrightError) return e;
    throw e;
  }
  throw new Error("expected a DagwrightError");
}
