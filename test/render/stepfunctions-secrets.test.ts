import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { checkAslSecret, secretValueFrom } from "../../src/render/asl-secrets.js";
import { makeProject, runCli } from "../helpers.js";

const SM_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/vendor-AbC123";
const SSM_ARN = "arn:aws:ssm:us-east-1:123456789012:parameter/dagwright/state-url";

function problems(name: string, key = "token"): string[] {
  const out: string[] = [];
  checkAslSecret({ name, key }, 'task "a"', "tasks.a.secrets", (_path, message) => {
    out.push(message);
  });
  return out;
}

describe("Step Functions secret references", () => {
  it("turns a name, a Secrets Manager ARN and an SSM parameter ARN into what ECS reads in valueFrom", () => {
    expect(secretValueFrom({ name: "vendor", key: "token" })).toBe(
      "arn:aws:secretsmanager:<region>:<account>:secret:vendor:token::",
    );
    expect(secretValueFrom({ name: SM_ARN, key: "token" })).toBe(`${SM_ARN}:token::`);
    expect(secretValueFrom({ name: SSM_ARN, key: "ignored" })).toBe(SSM_ARN);
    expect(
      secretValueFrom({
        name: "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x",
        key: "k",
      }),
    ).toBe("arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x:k::");
  });

  it("accepts Secrets Manager names and ARNs and SSM parameter ARNs", () => {
    for (const name of ["vendor", "prod/api_key+v2=x.y@z-1", SM_ARN, SSM_ARN])
      expect(problems(name), name).toEqual([]);
  });

  it("refuses what ECS cannot read, naming the task and the value", () => {
    for (const name of [
      "two words",
      "arn:aws:secretsmanager:eu-west-1:1234:secret:short-account",
      "arn:aws:s3:::bucket/key",
      `${SM_ARN}:token::`,
      "x".repeat(513),
      "é",
    ])
      expect(problems(name), name).toEqual([
        `task "a": secret ${JSON.stringify(name)} is neither a Secrets Manager secret name nor the ARN of a Secrets Manager secret or SSM parameter, which is what ECS and Batch accept`,
      ]);
    expect(problems("vendor", "a:b")).toEqual([
      `task "a": key "a:b" of secret "vendor" cannot be a JSON key of an ECS secret (it needs printable ASCII, no ':' or space)`,
    ]);
  });
});

describe("render stepfunctions: secrets from the CLI and the spec", () => {
  const spec = (secret: string) => `graphs:
  g:
    tasks:
      a:
tasks:
  a:
    command: "true"
    secrets: [{name: ${JSON.stringify(secret)}, key: token, env: API_KEY}]
`;

  it("exits 2 naming the task and the value for a secret ECS cannot read", () => {
    const dir = makeProject({ "dagwright.yaml": spec("not a secret") });
    const r = runCli(["render", "stepfunctions", "g", "--image", "i:1", "--out", "sfn"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('task "a": secret "not a secret" is neither a Secrets Manager');
    expect(r.stderr).toContain("tasks.a.secrets");
  });

  /** The params file's container secrets of a render with `--state-secret stateSecret`. */
  function secretsWith(dir: string, stateSecret: string, out: string): unknown[] {
    const r = runCli(
      [
        "render",
        "stepfunctions",
        "g",
        "--image",
        "i:1",
        "--out",
        out,
        "--state-secret",
        stateSecret,
      ],
      dir,
    );
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(readFileSync(path.join(dir, out, "g.params.json"), "utf8")).container.secrets;
  }

  it("takes ARNs from the spec and --state-secret into the params file", () => {
    const dir = makeProject({ "dagwright.yaml": spec(SM_ARN) });
    expect(secretsWith(dir, SSM_ARN, "sfn")).toEqual([
      { name: "DAGWRIGHT_STATE_URL", valueFrom: SSM_ARN },
      { name: "API_KEY", valueFrom: `${SM_ARN}:token::` },
    ]);
    expect(secretsWith(dir, `${SM_ARN}:url`, "sfn2")[0]).toEqual({
      name: "DAGWRIGHT_STATE_URL",
      valueFrom: `${SM_ARN}:url::`,
    });
  });

  it("takes a whole secret's ARN (no JSON key) from --state-secret as the bare ARN", () => {
    const dir = makeProject({ "dagwright.yaml": spec(SM_ARN) });
    expect(secretsWith(dir, SM_ARN, "sfn")[0]).toEqual({
      name: "DAGWRIGHT_STATE_URL",
      valueFrom: SM_ARN,
    });
  });
});
