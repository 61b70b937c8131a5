import { describe, expect, it } from "vitest";
import { DagwrightError } from "../../src/spec/errors.js";
import { requireOptional } from "../../src/spec/optional-package.js";

describe("requireOptional", () => {
  it("loads an installed optional package", () => {
    const pg = requireOptional<{ Pool: unknown }>("pg", "PostgreSQL state");
    expect(typeof pg.Pool).toBe("function");
  });

  it("turns a missing package into E_ENV naming the install command", () => {
    let error: unknown;
    try {
      requireOptional("dagwright-absent-package", "Some feature (X=y)");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DagwrightError);
    expect((error as DagwrightError).code).toBe("E_ENV");
    expect((error as DagwrightError).message).toBe(
      "Some feature (X=y) needs the npm package dagwright-absent-package, which is not installed (it is an optional dependency of dagwright)",
    );
    expect((error as DagwrightError).hint).toBe(
      "install it in your project: npm install dagwright-absent-package",
    );
  });
});
