import { describe, expect, it } from "vitest";
import { decodeRenderedEnv, envOverrides } from "../../src/session/project-env.js";

describe("a project's environment", () => {
  it("decodes DAGWRIGHT_ENV_B64_<NAME> into <NAME> in a copy, leaving the given env unchanged", () => {
    const given = { PATH: "/bin", DAGWRIGHT_ENV_B64_TPL: Buffer.from("{{x}}").toString("base64") };
    const env = decodeRenderedEnv(given);
    expect(env).toEqual({ PATH: "/bin", TPL: "{{x}}" });
    expect(given).toEqual({ PATH: "/bin", DAGWRIGHT_ENV_B64_TPL: "e3t4fX0=" });
  });

  it("gives tasks only what differs from the process's environment", () => {
    expect(envOverrides({ PATH: "/bin", A: "1", B: "2" }, { PATH: "/bin", B: "3" })).toEqual({
      A: "1",
      B: "2",
    });
  });
});
