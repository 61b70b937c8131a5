import { type Diagnostic, formatDiagnostic } from "../spec/diagnostic.js";

/** Where a command writes. Tests and the binary use process streams; kept injectable for reuse. */
export interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
  color: boolean;
}

/** Set once a reader closed stdout early (`dagwright status | head`). */
let stdoutClosed = false;
let stdoutWatched = false;

/**
 * Writes to stdout. When the reader closed the pipe, the rest is dropped quietly, as Unix tools
 * do, and the command goes on to its end (a run still records its tasks): without a listener, the
 * stream's EPIPE error would crash the process with a stack trace.
 */
function writeStdout(text: string): void {
  if (stdoutClosed) return;
  if (!stdoutWatched) {
    stdoutWatched = true;
    process.stdout.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") throw err;
      stdoutClosed = true;
    });
  }
  process.stdout.write(text);
}

/** The process's own streams; color only on a TTY without NO_COLOR. */
export function processOutput(): Output {
  return {
    out: writeStdout,
    err: (t) => process.stderr.write(t),
    color: Boolean(process.stderr.isTTY) && !process.env.NO_COLOR && process.env.TERM !== "dumb",
  };
}

const CODES = {
  red: [31, 39],
  yellow: [33, 39],
  green: [32, 39],
  dim: [2, 22],
  bold: [1, 22],
} as const;

/** Wraps `text` in an ANSI style when `on`. */
export function paint(on: boolean, style: keyof typeof CODES, text: string): string {
  if (!on) return text;
  const [a, b] = CODES[style];
  return `\u001b[${a}m${text}\u001b[${b}m`;
}

/** Prints diagnostics for humans: `file:line:col path: error: message` then an indented hint. */
export function printDiagnostics(o: Output, diagnostics: readonly Diagnostic[]): void {
  for (const d of diagnostics) {
    const label =
      d.severity === "error" ? paint(o.color, "red", "error") : paint(o.color, "yellow", "warning");
    const text = formatDiagnostic({ ...d, hint: undefined });
    o.err(`${label}: ${text}\n`);
    if (d.hint) o.err(`  ${paint(o.color, "dim", `hint: ${d.hint}`)}\n`);
  }
}
