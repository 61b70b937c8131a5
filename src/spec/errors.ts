import type { Diagnostic } from "./diagnostic.js";

/**
 * Stable error codes. Scripts and tests match on these, never on message text.
 * `E_SPEC` and `E_USAGE` map to exit code 2, `E_ENV` to exit code 3 (see DESIGN.md).
 */
export type ErrorCode = "E_SPEC" | "E_USAGE" | "E_ENV" | "E_TASK" | "E_INTERNAL";

/** Base class of every error dagwright raises on purpose. Only `cli/` turns it into an exit code. */
export class DagwrightError extends Error {
  readonly code: ErrorCode;
  /** How to fix it: a key, flag or command. Printed on its own line by the CLI. */
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; hint?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "DagwrightError";
    this.code = code;
    this.hint = options.hint;
  }
}

/** A spec (or selection) was rejected; carries every problem found, not just the first. */
export class SpecError extends DagwrightError {
  readonly diagnostics: readonly Diagnostic[];

  constructor(diagnostics: readonly Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === "error");
    super(
      "E_SPEC",
      `${errors.length} problem${errors.length === 1 ? "" : "s"} in the pipeline spec`,
    );
    this.name = "SpecError";
    this.diagnostics = diagnostics;
  }
}

/** A command-line usage problem (unknown graph, unknown task in --only, bad flag value). */
export class UsageError extends DagwrightError {
  constructor(message: string, hint?: string) {
    super("E_USAGE", message, hint === undefined ? {} : { hint });
    this.name = "UsageError";
  }
}
