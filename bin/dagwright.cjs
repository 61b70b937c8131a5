#!/usr/bin/env node
// CommonJS, like everything it loads on the way to running a command: Node starts an ES module
// entry point a few milliseconds later than a CommonJS one.
const { existsSync, readFileSync, renameSync, rmSync, writeFileSync } = require("node:fs");
const { createRequire } = require("node:module");
const path = require("node:path");
const vm = require("node:vm");

const argv = process.argv.slice(2);
const CLI = path.join(__dirname, "..", "dist", "bundle", "dagwright.cjs");

/**
 * What the code cache is kept for: the command (the first word that looks like one), and whether
 * it only plans (`run --dry-run` compiles little of what `run` does).
 */
const COMMAND =
  (argv.find((a) => /^[a-z][a-z-]*$/.test(a)) ?? "") +
  (argv.includes("--dry-run") ? " --dry-run" : "");
/** Commands a cache is rewritten for, at most (argv words that are not commands count too). */
const MAX_COMMANDS = 32;

/**
 * The CLI's script (scripts/bundle.mjs), compiled with V8's code cache: compiling its half
 * megabyte from source takes ~25 ms of every command, deserializing the cache ~4 ms. The cache
 * holds the code of every function compiled before it was written, so it is written after a
 * command: first when there is none or V8 rejected it (another Node, other V8 flags), then once
 * after each command it was not written after yet (a `run` after `--version` compiles most of
 * the CLI anew: ~8 ms of a 1,000-task run), keeping what it held. It sits next to the script, one
 * file per V8 version: a line of JSON naming those commands, then V8's data. A directory we may not
 * write to just means no cache. DAGWRIGHT_CODE_CACHE=0 turns it off.
 */
function loadCli() {
  const useCache = process.env.DAGWRIGHT_CODE_CACHE !== "0";
  const cacheFile = `${CLI}.${process.versions.v8}-${process.arch}.cache`;
  let cachedData;
  let commands = [];
  if (useCache) {
    try {
      const file = readFileSync(cacheFile);
      const eol = file.indexOf(10);
      commands = JSON.parse(file.subarray(0, eol).toString()).commands;
      if (!Array.isArray(commands)) throw new Error("no command list");
      cachedData = file.subarray(eol + 1);
    } catch {
      // none yet, or not ours: written anew
      commands = [];
    }
  }
  // The wrapper of Node's own CommonJS loader, on the script's first line: line numbers hold.
  const script = new vm.Script(
    `(function (exports, require, module, __filename, __dirname) {${readFileSync(CLI, "utf8")}\n})`,
    {
      filename: CLI,
      cachedData,
      importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    },
  );
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(CLI), module, CLI, path.dirname(CLI));
  const fresh = cachedData !== undefined && !script.cachedDataRejected;
  const save =
    useCache && (!fresh || (!commands.includes(COMMAND) && commands.length < MAX_COMMANDS))
      ? () => {
          const tmp = `${cacheFile}.${process.pid}.tmp`;
          const header = JSON.stringify({ commands: [...(fresh ? commands : []), COMMAND] });
          try {
            writeFileSync(
              tmp,
              Buffer.concat([Buffer.from(`${header}\n`), script.createCachedData()]),
            );
            renameSync(tmp, cacheFile);
          } catch {
            // A read-only install runs without a cache.
            rmSync(tmp, { force: true });
          }
        }
      : () => {};
  return { cli: module.exports, save };
}

async function start() {
  if (argv[0] === "run") {
    // A run whose last identical run found everything fresh, with nothing changed since, is
    // answered from the no-change memo without loading the rest of the CLI (src/cli/no-change.ts).
    // The memo of runs started here: memoPath(cwd) in src/cli/no-change.ts.
    if (existsSync(".dagwright/cache/no-change.json")) {
      const { tryNoChangeRun, exitIfDone } = require("../dist/bundle/no-change.cjs");
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
