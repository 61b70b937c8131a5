import { type Diagnostic, formatDiagnostic } from "../spec/diagnostic.js";

/** Where a command writes. Tests and the binary use process streams; kept injectable for reuse. */
export interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
  /** dagwright's own colours. */
  color: boolean;
  /**
   * Keep the colours (SGR sequences) of task output shown on the terminal; every other escape
   * sequence is removed either way (sanitize-terminal.ts). Default false.
   */
  taskColors?: boolean;
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

/**
 * Whether to colour, for the CLI's arguments and environment, first rule that applies:
 * `--color` turns on dagwright's colours and keeps the colours of task output; `NO_COLOR` (not
 * empty) turns both off; `FORCE_COLOR=0` (or `false`) turns both off and any other `FORCE_COLOR`
 * acts as `--color`; otherwise dagwright colours a TTY unless `TERM=dumb`, and task output loses
 * its colours.
 */
export function colorChoice(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  isTTY: boolean,
): Pick<Output, "color" | "taskColors"> {
  const end = argv.indexOf("--");
  if ((end < 0 ? argv : argv.slice(0, end)).includes("--color"))
    return { color: true, taskColors: true };
  if (env.NO_COLOR) return { color: false, taskColors: false };
  const force = env.FORCE_COLOR;
  if (force === "0" || force === "false") return { color: false, taskColors: false };
  if (force !== undefined) return { color: true, taskColors: true };
  return { color: isTTY && env.TERM !== "dumb", taskColors: false };
}

/** The process's own streams, coloured as {@link colorChoice} says for `argv`. */
export function processOutput(argv: readonly string[] = []): Output {
  return {
    out: writeStdout,
    err: (t) => process.stderr.write(t),
    ...colorChoice(argv, process.env, Boolean(process.stderr.isTTY)),
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
