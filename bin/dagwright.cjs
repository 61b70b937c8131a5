#!/usr/bin/env node
// CommonJS, like everything it loads on the way to running a command: Node starts an ES module
// entry point a few milliseconds later than a CommonJS one.
const {
  accessSync,
  constants,
  existsSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} = require("node:fs");
const { createRequire } = require("node:module");
const path = require("node:path");
const vm = require("node:vm");

const argv = process.argv.slice(2);
const CLI = path.join(__dirname, "..", "dist", "bundle", "dagwright.cjs");

/** The CLI's commands (src/cli/main.ts registers them). */
const COMMANDS = new Set(
  "run run-task status explain validate graph ls render schema init logs events doctor docs worker".split(
    " ",
  ),
);
/**
 * What the code cache is kept for: the command (the first of its words that names one, so option
 * values never count), and whether it only plans (`run --dry-run` compiles little of what `run`
 * does).
 */
const COMMAND =
  (argv.find((a) => COMMANDS.has(a)) ?? "") + (argv.includes("--dry-run") ? " --dry-run" : "");

/**
 * The CLI's script (scripts/bundle.mjs), compiled with V8's code cache: compiling its half
 * megabyte from source takes ~25 ms of every command, deserializing the cache ~4 ms. The cache
 * holds the code of every function compiled before it was written, so it is written after a
 * command: first when there is none or V8 rejected it (another Node, other V8 flags), then once
 * after each command it was not written after yet (a `run` after `--version` compiles most of
 * the CLI anew: ~8 ms of a 1,000-task run), keeping what it held. It sits next to the script, one
 * file per V8 version: a line of JSON naming the script's size and mtime (V8 itself checks only the
 * length of the source: a script replaced in place must not meet the old cache) and those
 * commands, then V8's data. A directory we may not write to just means no cache.
 * DAGWRIGHT_CODE_CACHE=0 turns it off.
 */
function loadCli() {
  const useCache = process.env.DAGWRIGHT_CODE_CACHE !== "0";
  const cacheFile = `${CLI}.${process.versions.v8}-${process.arch}.cache`;
  const st = statSync(CLI);
  const source = `${st.size}:${st.mtimeMs}`;
  let cachedData;
  let commands = [];
  if (useCache) {
    try {
      const file = readFileSync(cacheFile);
      const eol = file.indexOf(10);
      const header = JSON.parse(file.subarray(0, eol).toString());
      if (header.source !== source || !Array.isArray(header.commands))
        throw new Error("another script's");
      commands = header.commands;
      cachedData = file.subarray(eol + 1);
    } catch {
      // none yet, or not this script's: written anew
      commands = [];
    }
  }
  // The wrapper of Node's own CommonJS loader, on the script's first line: line numbers hold. The
  // script has no import() left (esbuild turns them into require), so it needs no ESM hook.
  const script = new vm.Script(
    `(function (exports, require, module, __filename, __dirname) {${readFileSync(CLI, "utf8")}\n})`,
    { filename: CLI, cachedData },
  );
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(CLI), module, CLI, path.dirname(CLI));
  const fresh = cachedData !== undefined && !script.cachedDataRejected;
  const save =
    useCache && (!fresh || !commands.includes(COMMAND)) && writable(path.dirname(CLI))
      ? () => {
          const tmp = `${cacheFile}.${process.pid}.tmp`;
          const header = JSON.stringify({
            source,
            commands: [...(fresh ? commands : []), COMMAND],
          });
          try {
            writeFileSync(
              tmp,
              Buffer.concat([Buffer.from(`${header}\n`), script.createCachedData()]),
            );
            renameSync(tmp, cacheFile);
          } catch {
            rmSync(tmp, { force: true });
          }
        }
      : () => {};
  return { cli: module.exports, save };
}

/** Whether a cache could be written there (a read-only install runs without, at no cost). */
function writable(dir) {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

async function start() {
  if (argv[0] === "run") {
    // A run whose last identical run found everything fresh, with nothing changed since, is
    // answered from the no-change memo without loading the rest of the CLI (src/cli/no-change.ts).
    // The memo of runs started here: memoPath(cwd) in src/cli/no-change.ts.
    if (existsSync(".dagwright/cache/no-change.json")) {
      const {
        tryNoChangeRun,
        commandEndsProcess,
        exitIfDone,
      } = require("../dist/bundle/no-change.cjs");
      commandEndsProcess();
      const code = await tryNoChangeRun(argv);
      if (code !== undefined) {
        await exitIfDone(code);
        return code;
      }
    }
    // A project that compiled TS tasks before (.dagwright/cache/ts) will most likely run some:
    // start their worker thread now, so it boots while the CLI loads (the run adopts it; an
    // unused one is stopped at the end).
    if (!argv.includes("--dry-run") && existsSync(".dagwright/cache/ts")) {
      const { prestartNodeWorkerThreads } = require("../dist/bundle/prestart-workers.cjs");
      prestartNodeWorkerThreads(1);
    }
  }
  const { cli, save } = loadCli();
  cli.commandEndsProcess();
  const code = await cli.main(argv);
  save();
  // Ends the process now if the command left nothing but its state store open (src/cli/exit.ts).
  await cli.exitIfDone(code);
  return code;
}

start().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err);
    process.exitCode = 70;
  },
);
