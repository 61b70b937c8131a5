import { createRequire } from "node:module";
import { DagwrightError } from "./errors.js";

/**
 * Loads `name`, an optional peer dependency of dagwright (`pg`, `@aws-sdk/client-s3`): a package
 * only some projects need, so it is not installed with dagwright but by the project that uses the
 * feature, next to dagwright. Resolution starts at dagwright's own files and walks up, so it finds
 * the project's `node_modules`.
 *
 * Synchronous (a `require`), so it behaves the same in the ES modules of `dist/` and in the
 * CommonJS bundle of the CLI, and a module can load its driver at its top level.
 *
 * @param feature what needs the package, as the user turned it on (for the message).
 * @throws DagwrightError `E_ENV` when the package is not installed, naming the command that
 *   installs it. Any other failure (the package itself is broken) is rethrown as is.
 */
export function requireOptional<T>(name: string, feature: string): T {
  try {
    return createRequire(import.meta.url)(name) as T;
  } catch (error) {
    if (!isMissing(error, name)) throw error;
    throw new DagwrightError(
      "E_ENV",
      `${feature} needs the npm package ${name}, which is not installed (it is an optional dependency of dagwright)`,
      { cause: error, hint: `install it in your project: npm install ${name}` },
    );
  }
}

/** Whether `error` says that `name` itself (not one of its own dependencies) cannot be found. */
function isMissing(error: unknown, name: string): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== "MODULE_NOT_FOUND" && code !== "ERR_MODULE_NOT_FOUND") return false;
  return (error.message.split("\n")[0] ?? "").includes(`'${name}'`);
}
