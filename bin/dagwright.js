#!/usr/bin/env node
import { existsSync } from "node:fs";

const argv = process.argv.slice(2);

async function start() {
  if (argv[0] === "run") {
    // A run whose last identical run found everything fresh, with nothing changed since, is
    // answered from the no-change memo without loading the rest of the CLI (src/cli/no-change.ts).
    // The memo of runs started here: memoPath(cwd) in src/cli/no-change.ts.
    if (existsSync(".dagwright/cache/no-change.json")) {
      const { tryNoChangeRun } = await import("../dist/bundle/no-change.js");
      const code = await tryNoChangeRun(argv);
      if (code !== undefined) return code;
    }
    // A project that compiled TS tasks before (.dagwright/cache/ts) will most likely run some:
    // start their worker thread now, so it boots while the CLI loads (the run adopts it; an
    // unused one is stopped at the end).
    if (!argv.includes("--dry-run") && existsSync(".dagwright/cache/ts")) {
      const { prestartNodeWorkerThreads } = await import("../dist/bundle/prestart-workers.js");
      prestartNodeWorkerThreads(1);
    }
  }
  const { main } = await import("../dist/bundle/dagwright.js");
  return main(argv);
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
