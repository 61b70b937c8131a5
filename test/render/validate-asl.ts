import { createRequire } from "node:module";

/**
 * Test-only checks of an Amazon States Language definition, from npm (devDependencies):
 * `asl-validator` (schema, JSONPaths, ARNs, transitions, unreachable states) and constructing an
 * `aws-local-stepfunctions` StateMachine (its own validation: what it can execute). Returns the
 * problems, empty when valid. Not covered: IAM, service quotas, anything about an AWS account.
 */
export async function validateAsl(definition: unknown): Promise<string[]> {
  const errors: string[] = [];
  const result = aslValidator(definition, { checkPaths: true, checkArn: true });
  if (!result.isValid)
    for (const e of result.errors) errors.push(`asl-validator: ${e["Error code"]}: ${e.Message}`);
  const { StateMachine } = await localStepFunctions();
  try {
    new StateMachine(definition as never, {
      validationOptions: { checkArn: true, checkPaths: true },
    });
  } catch (e) {
    errors.push(`aws-local-stepfunctions: ${(e as Error).message}`);
  }
  return errors;
}

type AslValidator = (
  definition: unknown,
  options: { checkPaths: boolean; checkArn: boolean },
) => { isValid: boolean; errors: { "Error code": string; Message: string }[] };

const aslValidator = createRequire(import.meta.url)("asl-validator") as AslValidator;

/**
 * `aws-local-stepfunctions`, after polyfilling `Promise.withResolvers` (it declares Node 22;
 * dagwright supports Node 20).
 */
export async function localStepFunctions(): Promise<typeof import("aws-local-stepfunctions")> {
  const P = Promise as unknown as { withResolvers?: unknown };
  P.withResolvers ??= function withResolvers<T>() {
    let resolve!: (v: T) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<T>((a, b) => {
      resolve = a;
      reject = b;
    });
    return { promise, resolve, reject };
  };
  return import("aws-local-stepfunctions");
}
