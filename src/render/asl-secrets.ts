import type { SecretCheck, SecretKey } from "./deployment-plan.js";

/**
 * Secret references of a Step Functions render. A container's secrets are the task definition's
 * (ECS `secrets[].valueFrom`, Batch `secrets`), which take the ARN of a Secrets Manager secret
 * (with `:json-key::` after it) or of an SSM parameter. A reference in the spec (or
 * `--state-secret`) is one of:
 *
 * - a Secrets Manager secret name (letters, digits, `/_+=.@-`, at most 512): the params file
 *   gets its ARN with `<region>` and `<account>` placeholders;
 * - a Secrets Manager secret ARN (`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME`); with an
 *   empty key, the whole secret's value is used (`valueFrom` is the bare ARN);
 * - an SSM parameter ARN (`arn:aws:ssm:REGION:ACCOUNT:parameter/NAME`), which holds one value:
 *   its key is not used.
 */

const PREFIX = "arn:aws(?:-[a-z]+)*:";
const REGION_ACCOUNT = String.raw`[a-z]{2}(?:-[a-z]+)+-\d+:\d{12}`;
const SECRET_NAME = "[A-Za-z0-9/_+=.@-]{1,512}";
const SECRETS_MANAGER_ARN = new RegExp(
  `^${PREFIX}secretsmanager:${REGION_ACCOUNT}:secret:${SECRET_NAME}$`,
);
const SSM_ARN = new RegExp(`^${PREFIX}ssm:${REGION_ACCOUNT}:parameter/[A-Za-z0-9/_.-]{1,2048}$`);
const NAME = new RegExp(`^${SECRET_NAME}$`);
/** A JSON key of `valueFrom`: printable ASCII without `:` (which separates its fields). */
const JSON_KEY = /^[\x21-\x39\x3b-\x7e]{1,256}$/;

/** Whether `ref` is the ARN of a Secrets Manager secret (with no JSON key after it). */
export function isSecretsManagerArn(ref: string): boolean {
  return SECRETS_MANAGER_ARN.test(ref);
}

/** What ECS puts in `secrets[].valueFrom` for a valid reference (see {@link checkAslSecret}). */
export function secretValueFrom(s: SecretKey): string {
  if (SSM_ARN.test(s.name)) return s.name;
  const arn = SECRETS_MANAGER_ARN.test(s.name)
    ? s.name
    : `arn:aws:secretsmanager:<region>:<account>:secret:${s.name}`;
  return s.key === "" ? arn : `${arn}:${s.key}::`;
}

/**
 * Reports (through `fail`) a reference that is none of the three forms above, or a JSON key
 * `valueFrom` cannot carry, naming `where` (the task) and the value. Has the signature of
 * deployment-plan's {@link SecretCheck}, for `PlanOptions.checkSecret`.
 */
export const checkAslSecret: SecretCheck = (s, where, path, fail, task) => {
  if (SSM_ARN.test(s.name)) return;
  if (!SECRETS_MANAGER_ARN.test(s.name) && !NAME.test(s.name)) {
    fail(
      path,
      `${where}: secret ${JSON.stringify(s.name)} is neither a Secrets Manager secret name nor the ARN of a Secrets Manager secret or SSM parameter, which is what ECS and Batch accept`,
      "use a name of letters, digits and /_+=.@- (e.g. dagwright-state), or a full ARN such as arn:aws:secretsmanager:us-east-1:123456789012:secret:dagwright-state or arn:aws:ssm:us-east-1:123456789012:parameter/dagwright/state-url",
      task,
    );
    return;
  }
  if (s.key !== "" && !JSON_KEY.test(s.key))
    fail(
      path,
      `${where}: key ${JSON.stringify(s.key)} of secret ${JSON.stringify(s.name)} cannot be a JSON key of an ECS secret (it needs printable ASCII, no ':' or space)`,
      "rename the key in the secret's JSON and in the spec",
      task,
    );
};
