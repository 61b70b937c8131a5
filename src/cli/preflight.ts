/**
 * What a spec needs from the machine, checked before anything runs: the runtimes its tasks start
 * (python3, Rscript, sh, a command's program, the DuckDB driver), the state store, the artifact
 * location and the directories a run writes. `dagwright doctor` runs every check; `dagwright run`
 * runs the runtime checks for the tasks it selected, reusing the versions planning already probed,
 * so a preflight costs one PATH lookup per runtime and never starts a process.
 */
import { accessSync, constants, existsSync, statSync } from "node:fs";
import path from "node:path";
import { dagwrightOpensDatabase, duckdbDriverVersion } from "../spec/duckdb-database.js";
import { DagwrightError } from "../spec/errors.js";
import type { TaskKind, TaskSpec } from "../spec/types.js";
import { maskPassword, parseStateUrl } from "../state/state-url.js";
import type { Output } from "./output.js";
import { paint } from "./output.js";
import type { RunContext } from "./run-context.js";

/** `fail` makes doctor exit 3 and stops a run; `warn` is printed and lets both go on. */
export type CheckStatus = "ok" | "warn" | "fail";

/** One line of `dagwright doctor`: what was checked, what was found and, when not ok, the fix. */
export interface Check {
  /** Stable for scripts: `runtime:Rscript`, `command:duckdb`, `state`, `artifacts`, `dir:scratch`. */
  id: string;
  status: CheckStatus;
  /** What was found: `Rscript 4.3.2 at /usr/bin/Rscript (R tasks: clean)`. */
  message: string;
  /** The exact fix (a command to run, a variable to set), when status is not `ok`. */
  fix?: string;
}

interface Runtime {
  /** The program the task kind starts. */
  binary: string;
  /** For messages: `R tasks: a, b`. */
  label: string;
  install: string;
}

const RUNTIMES: Partial<Record<TaskKind, Runtime>> = {
  python: {
    binary: "python3",
    label: "Python",
    install:
      "install Python 3: sudo apt-get install -y python3 (Debian/Ubuntu), brew install python (macOS)",
  },
  r: {
    binary: "Rscript",
    label: "R",
    install:
      "install R: sudo apt-get install -y r-base-core (Debian/Ubuntu), brew install r (macOS)",
  },
  shell: {
    binary: "sh",
    label: "shell",
    install: "install a POSIX shell: sudo apt-get install -y dash (Debian/Ubuntu)",
  },
};

/** Where the environment and files are looked up; `env.PATH` is searched like execvp does. */
export interface LookupOptions {
  env: NodeJS.ProcessEnv;
  /** The project root: what a relative program path (`./bin/x`) is relative to. */
  cwd: string;
}

/**
 * The executable file `program` names: itself when it contains a slash (relative to `cwd`), else
 * the first match in `env.PATH` (an empty entry is `cwd`; unset, `/usr/bin:/bin`). Stats files;
 * starts nothing.
 */
export function findProgram(program: string, { env, cwd }: LookupOptions): string | undefined {
  if (program.includes("/")) {
    const file = path.resolve(cwd, program);
    return isExecutableFile(file) ? file : undefined;
  }
  // Without PATH, execvp searches the system's default path.
  for (const dir of (env.PATH ?? "/usr/bin:/bin").split(path.delimiter)) {
    const file = path.resolve(cwd, dir, program);
    if (isExecutableFile(file)) return file;
  }
  return undefined;
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** `a, b, c` or `a, b, c and 4 more`. */
function listNames(names: readonly string[]): string {
  const shown = names.slice(0, 3).join(", ");
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}

/**
 * One check per runtime the `tasks` need: python3 (or `DAGWRIGHT_PYTHON`) for Python tasks,
 * Rscript for R tasks, sh for shell scripts and shell-string commands, this Node for TS/JS
 * tasks, and `@duckdb/node-api` for tasks on the project database ({@link checkDuckdbDriver}).
 * `versions` are those planning probed (`runtimeVersions`: binary → version or `"missing"`); a
 * runtime found on PATH whose version probe failed is a warning.
 */
export function checkRuntimes(
  tasks: readonly TaskSpec[],
  versions: Readonly<Record<string, string>>,
  lookup: LookupOptions,
): Check[] {
  const users = new Map<TaskKind, string[]>();
  for (const t of tasks) {
    const kind = t.kind === "command" && t.command && "shell" in t.command ? "shell" : t.kind;
    const names = users.get(kind);
    if (names === undefined) users.set(kind, [t.name]);
    else names.push(t.name);
  }
  const checks: Check[] = [];
  const node = users.get("node");
  if (node)
    checks.push({
      id: "runtime:node",
      status: "ok",
      message: `node ${process.version} (this process; TS/JS tasks: ${listNames(node)})`,
    });
  for (const [kind, names] of users) {
    const runtime = RUNTIMES[kind];
    if (runtime !== undefined) checks.push(checkRuntime(kind, runtime, names, versions, lookup));
  }
  const onDatabase = tasks.filter(dagwrightOpensDatabase).map((t) => t.name);
  if (onDatabase.length > 0) checks.push(checkDuckdbDriver(onDatabase));
  return checks;
}

/**
 * The check for the optional `@duckdb/node-api` package that SQL tasks and `duckdb://` outputs
 * need (`names`: the tasks that use the project database); `version` answers which is installed.
 */
export function checkDuckdbDriver(
  names: readonly string[],
  version: () => string | undefined = duckdbDriverVersion,
): Check {
  const found = version();
  const users = `DuckDB tasks: ${listNames(names)}`;
  return found === undefined
    ? {
        id: "runtime:duckdb",
        status: "fail",
        message: `the npm package @duckdb/node-api is not installed (${users})`,
        fix: "install it in your project, next to dagwright: npm install @duckdb/node-api",
      }
    : { id: "runtime:duckdb", status: "ok", message: `@duckdb/node-api ${found} (${users})` };
}

function checkRuntime(
  kind: TaskKind,
  runtime: Runtime,
  names: readonly string[],
  versions: Readonly<Record<string, string>>,
  lookup: LookupOptions,
): Check {
  const custom = kind === "python" ? lookup.env.DAGWRIGHT_PYTHON : undefined;
  const binary = custom || runtime.binary;
  const id = `runtime:${runtime.binary}`;
  const users = `${runtime.label} tasks: ${listNames(names)}`;
  const found = findProgram(binary, lookup);
  if (found === undefined) {
    return custom
      ? {
          id,
          status: "fail",
          message: `DAGWRIGHT_PYTHON=${custom} not found (${users})`,
          fix: "point DAGWRIGHT_PYTHON at a Python 3 interpreter, or unset it to use python3 from PATH",
        }
      : {
          id,
          status: "fail",
          message: `${binary} not found on PATH (${users})`,
          fix: runtime.install,
        };
  }
  // Planning probes `python3` and `Rscript` by name; a DAGWRIGHT_PYTHON has no probed version.
  const version = custom ? undefined : versions[runtime.binary];
  if (version === "missing")
    return {
      id,
      status: "warn",
      message: `${binary} at ${found} did not answer \`${binary} --version\` (${users})`,
      fix: `run \`${found} --version\` to see why; reinstall if it fails (${runtime.install})`,
    };
  const shown = version === undefined ? binary : `${binary} ${version}`;
  return { id, status: "ok", message: `${shown} at ${found} (${users})` };
}

/**
 * One check per program that `command:` argv tasks start by name (`[duckdb, -c, ...]`), looked up
 * on the task's own PATH when its `env` sets one. Programs written with `${VAR}` are left out:
 * their name is known only per item.
 */
export function checkCommandPrograms(tasks: readonly TaskSpec[], lookup: LookupOptions): Check[] {
  const starts = new Map<string, { program: string; taskPath?: string; names: string[] }>();
  for (const t of tasks) {
    if (t.kind !== "command" || !t.command || !("argv" in t.command)) continue;
    const program = t.command.argv[0];
    if (program === undefined || program.includes("${")) continue;
    const key = `${program}\0${t.env.PATH ?? ""}`;
    const seen = starts.get(key);
    if (seen) seen.names.push(t.name);
    else
      starts.set(key, {
        program,
        ...(t.env.PATH ? { taskPath: t.env.PATH } : {}),
        names: [t.name],
      });
  }
  return [...starts.values()].map(({ program, taskPath, names }): Check => {
    const env = taskPath === undefined ? lookup.env : { ...lookup.env, PATH: taskPath };
    const found = findProgram(program, { env, cwd: lookup.cwd });
    const id = `command:${program}`;
    const users = `command tasks: ${listNames(names)}`;
    if (found !== undefined)
      return { id, status: "ok", message: `${program} at ${found} (${users})` };
    return {
      id,
      status: "fail",
      message: `${program} not found ${program.includes("/") ? "or not executable" : "on PATH"} (${users})`,
      fix: `install ${program}, or fix the command of ${names[0]} in the spec`,
    };
  });
}

/**
 * `run`'s preflight: the runtimes of the selected tasks, checked before any task starts (a
 * selection without R tasks needs no R). A missing runtime stops the run with `E_ENV` (exit 3)
 * and its install hint, after closing the store; with `dryRun` it is printed as a warning instead.
 */
export async function preflightRun(rc: RunContext, o: Output, dryRun: boolean): Promise<void> {
  const tasks = rc.selected.map((name) => rc.graph.tasks[name]!.spec);
  const checks = checkRuntimes(tasks, rc.plan.runtime, { env: process.env, cwd: rc.spec.root });
  const failed = checks.filter((c) => c.status === "fail");
  if (failed.length === 0) return;
  if (dryRun) {
    for (const c of failed)
      o.err(
        `${paint(o.color, "yellow", "warning")}: ${c.message}; a real run would stop here\n  hint: ${c.fix}\n`,
      );
    return;
  }
  await rc.store.close();
  throw failed.length === 1
    ? new DagwrightError("E_ENV", `${failed[0]!.message}; nothing was run`, {
        hint: failed[0]!.fix,
      })
    : new DagwrightError(
        "E_ENV",
        `${failed.length} runtimes missing; nothing was run:\n${failed.map((c) => `  ✗ ${c.message} — ${c.fix}`).join("\n")}`,
        { hint: "`dagwright doctor` checks everything the spec needs" },
      );
}

/**
 * Whether a run can create or write `dir`: it is a writable directory, or it does not exist yet
 * and its nearest existing ancestor is one.
 */
export function checkWritableDir(id: string, label: string, dir: string): Check {
  let existing = dir;
  while (!existsSync(existing) && path.dirname(existing) !== existing)
    existing = path.dirname(existing);
  const later = existing === dir ? "" : " (created on the first run)";
  if (!statSync(existing).isDirectory())
    return {
      id,
      status: "fail",
      message: `${label} ${dir}: ${existing} is not a directory`,
      fix: `move ${existing} away`,
    };
  try {
    accessSync(existing, constants.W_OK | constants.X_OK);
  } catch {
    return {
      id,
      status: "fail",
      message: `${label} ${dir}: ${existing} is not writable`,
      fix: `make it writable: chmod u+wx ${existing} (or run as its owner)`,
    };
  }
  return { id, status: "ok", message: `${label} ${dir} is writable${later}` };
}

/**
 * Whether the state store named by `DAGWRIGHT_STATE_URL` (default `.dagwright/state.db`) can be
 * opened: the URL parses; an existing SQLite file opens at a schema this dagwright reads (a new
 * one only needs a writable directory, so doctor creates no file); PostgreSQL answers and accepts
 * the login (opening it creates or migrates the schema, as the first run would).
 */
export async function checkStateStore(root: string, env: NodeJS.ProcessEnv): Promise<Check> {
  const url = env.DAGWRIGHT_STATE_URL;
  const id = "state";
  try {
    const location =
      url === undefined || url === ""
        ? { kind: "sqlite" as const, file: path.join(root, ".dagwright", "state.db") }
        : parseStateUrl(url, root);
    if (location.kind === "postgres") {
      const { openPostgresStore } = await import("../state/postgres-store.js");
      const store = await openPostgresStore(location.url);
      await store.close();
      return { id, status: "ok", message: `state store: PostgreSQL ${store.displayUrl}` };
    }
    const shown = `state store: SQLite ${location.file}`;
    if (!existsSync(location.file)) {
      const dir = checkWritableDir(id, "state store directory", path.dirname(location.file));
      return dir.status === "ok" ? { ...dir, message: `${shown} (created on the first run)` } : dir;
    }
    const { openSqliteStore } = await import("../state/sqlite-store.js");
    await openSqliteStore(location.file).close();
    return { id, status: "ok", message: shown };
  } catch (error) {
    return failedCheck(id, "state store", error, url);
  }
}

/**
 * Whether the artifact location in `DAGWRIGHT_ARTIFACTS_URL` answers (one listing for S3, a stat
 * for a volume, which must also be writable); undefined when none is configured.
 */
export async function checkArtifacts(env: NodeJS.ProcessEnv): Promise<Check | undefined> {
  const url = env.DAGWRIGHT_ARTIFACTS_URL;
  if (url === undefined || url === "") return undefined;
  const id = "artifacts";
  try {
    const { openArtifactStore, parseArtifactLocation } = await import(
      "../artifacts/open-artifact-store.js"
    );
    const store = await openArtifactStore(url);
    try {
      await store.exists([".dagwright-doctor-check"]);
    } finally {
      await store.close();
    }
    const location = parseArtifactLocation(url);
    if (location.kind === "volume") {
      const dir = checkWritableDir(id, "artifact location", location.path);
      if (dir.status !== "ok") return dir;
    }
    return { id, status: "ok", message: `artifact location: ${store.location}` };
  } catch (error) {
    return failedCheck(id, "artifact location", error, url);
  }
}

function failedCheck(id: string, what: string, error: unknown, url: string | undefined): Check {
  if (error instanceof DagwrightError)
    return {
      id,
      status: "fail",
      message: `${what}: ${error.message}`,
      ...(error.hint === undefined ? {} : { fix: error.hint }),
    };
  const shown = url === undefined ? "" : ` ${maskPassword(url)}`;
  return {
    id,
    status: "fail",
    message: `${what}${shown}: ${error instanceof Error ? error.message : String(error)}`,
    fix: "unexpected: please report it at the project's issue tracker",
  };
}
