import type { Output } from "./output.js";

/** Exit codes of the CLI contract (DESIGN.md); 70 is an internal error (a bug). */
export const EXIT = { ok: 0, taskFailed: 1, badInput: 2, environment: 3, internal: 70 } as const;

/** Options every command accepts (declared on the root program). */
export interface GlobalOptions {
  file?: string;
  debug?: boolean;
  /** Read by processOutput from the arguments, before parsing. */
  color?: boolean;
}

/** What command modules get from the program: output, the exit code setter and global flags. */
export interface CommandContext {
  o: Output;
  setExit: (code: number) => void;
  globals: () => GlobalOptions;
  /** The arguments the CLI was called with (without node and script). */
  argv: readonly string[];
}
