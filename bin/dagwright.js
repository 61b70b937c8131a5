#!/usr/bin/env node
const argv = process.argv.slice(2);

async function start() {
  // A `run` whose last identical run found everything fresh, with nothing changed since, is
  // answered from the no-change memo without loading the rest of the CLI (src/cli/no-change.ts).
  if (argv[0] === "run") {
    const { tryNoChangeRun } = await import("../dist/bundle/no-change.js");
    const code = await tryNoChangeRun(argv);
    if (code !== undefined) return code;
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
