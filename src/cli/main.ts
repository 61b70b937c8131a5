import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { DagwrightError, SpecError } from "../spec/errors.js";
import { registerDocs } from "./commands/docs.js";
import { registerDoctor } from "./commands/doctor.js";
import { registerEvents } from "./commands/events.js";
import { registerExplain } from "./commands/explain.js";
import { registerGraph } from "./commands/graph.js";
import { registerInit } from "./commands/init.js";
import { registerLogs } from "./commands/logs.js";
import { registerLs } from "./commands/ls.js";
import { registerRender } from "./commands/render.js";
import { registerRun } from "./commands/run.js";
import { registerRunTask } from "./commands/run-task.js";
import { registerSchema } from "./commands/schema.js";
import { registerStatus } from "./commands/status.js";
import { registerValidate } from "./commands/validate.js";
import { registerWorker } from "./commands/worker.js";
import { type CommandContext, EXIT, type GlobalOptions } from "./context.js";
import { type Output, paint, printDiagnostics, processOutput } from "./output.js";
import { packageFile } from "./package-files.js";

/** For bin/dagwright.cjs, once main() returned. */
export { commandEndsProcess, exitIfDone } from "./exit.js";

function version(): string {
  const pkg = JSON.parse(readFileSync(packageFile("package.json"), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/** Builds the command tree. Each command returns its exit code through `setExit`. */
export function buildProgram(
  o: Output,
  setExit: (code: number) => void,
  argv: readonly string[] = [],
): Command {
  const program = new Command("dagwright")
    .description(
      "One pipeline definition: incremental local runs, rendered to the orchestrators you operate.",
    )
    .version(version(), "-V, --version")
    .addOption(
      new Option(
        "-f, --file <FILE>",
        "spec file (default: dagwright.yaml, else kptn.yaml, in the current directory)",
      ),
    )
    .addOption(new Option("--debug", "print stack traces for internal errors"))
    .addOption(
      new Option(
        "--color",
        "colour the output even when it is not a terminal, and keep task output's colours (also FORCE_COLOR=1)",
      ),
    )
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ writeOut: o.out, writeErr: o.err })
    .exitOverride();
  program.addHelpText(
    "after",
    "\nExit codes: 0 success, 1 a task failed, 2 bad input (spec, flags), 3 environment problem.\nDocs: `dagwright docs` lists the topics; `dagwright docs spec` (spec fields), `dagwright docs cli` (commands).",
  );
  const ctx: CommandContext = {
    o,
    setExit,
    globals: () => program.opts<GlobalOptions>(),
    argv,
  };
  registerRun(program, ctx);
  registerRender(program, ctx);
  registerRunTask(program, ctx);
  registerStatus(program, ctx);
  registerExplain(program, ctx);
  registerValidate(program, ctx);
  registerGraph(program, ctx);
  registerLs(program, ctx);
  registerLogs(program, ctx);
  registerEvents(program, ctx);
  registerSchema(program, ctx);
  registerInit(program, ctx);
  registerDoctor(program, ctx);
  registerDocs(program, ctx);
  registerWorker(program, ctx);
  return program;
}

/**
 * Runs the CLI with `argv` (without node and script) and resolves to the exit code. Never throws:
 * user errors are printed with their fix, internal errors without a stack unless `--debug`.
 */
export async function main(argv: string[], o: Output = processOutput(argv)): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(
    o,
    (c) => {
      code = c;
      // Also set it now: if the event loop drains while cleanup awaits an unreferenced handle,
      // Node exits without resuming us, and must still exit with this code.
      process.exitCode = c;
    },
    argv,
  );
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (err) {
    return reportError(o, err, argv.includes("--debug"));
  }
}

function reportError(o: Output, err: unknown, debug: boolean): number {
  if (err instanceof CommanderError) {
    if (
      err.code === "commander.helpDisplayed" ||
      err.code === "commander.version" ||
      err.code === "commander.help"
    )
      return EXIT.ok;
    return EXIT.badInput; // commander already printed the message
  }
  if (err instanceof SpecError) {
    printDiagnostics(o, err.diagnostics);
    const n = err.diagnostics.filter((d) => d.severity === "error").length;
    o.err(`${n} error${n === 1 ? "" : "s"}; nothing was run\n`);
    return EXIT.badInput;
  }
  if (err instanceof DagwrightError) {
    o.err(`${paint(o.color, "red", "error")}: ${err.message}\n`);
    if (err.hint) o.err(`  ${paint(o.color, "dim", `hint: ${err.hint}`)}\n`);
    if (debug && err.stack) o.err(`${err.stack}\n`);
    return err.code === "E_ENV"
      ? EXIT.environment
      : err.code === "E_TASK"
        ? EXIT.taskFailed
        : err.code === "E_INTERNAL"
          ? EXIT.internal
          : EXIT.badInput;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  o.err(`${paint(o.color, "red", "internal error")}: ${e.message}\n`);
  o.err(
    debug
      ? `${e.stack}\n`
      : "  rerun with --debug for the stack trace, and report it at the project's issue tracker\n",
  );
  return EXIT.internal;
}
