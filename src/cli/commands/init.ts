import { cpSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { DagwrightError } from "../../spec/errors.js";
import type { CommandContext } from "../context.js";
import { packageFile } from "../package-files.js";

const TEMPLATE = packageFile("templates/init");

function listFiles(dir: string, prefix = ""): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? listFiles(path.join(dir, e.name), `${prefix}${e.name}/`)
      : [`${prefix}${e.name}`],
  );
}

export function registerInit(program: Command, ctx: CommandContext): void {
  program
    .command("init")
    .description("create a small working example project (Python, TypeScript and shell tasks)")
    .argument("[DIR]", "directory to create the project in", ".")
    .option("--force", "overwrite files that already exist")
    .action((dir: string, opts: { force?: boolean }) => {
      const target = path.resolve(dir);
      const files = listFiles(TEMPLATE);
      const clashes = files.filter((f) => existsSync(path.join(target, f)));
      if (clashes.length > 0 && !opts.force) {
        throw new DagwrightError("E_USAGE", `${dir} already has ${clashes.join(", ")}`, {
          hint: "choose an empty directory, or pass --force to overwrite these files",
        });
      }
      mkdirSync(target, { recursive: true });
      cpSync(TEMPLATE, target, { recursive: true, force: true });
      for (const f of files) ctx.o.out(`created ${path.join(dir, f)}\n`);
      const cd = dir === "." ? "" : `cd ${JSON.stringify(dir).slice(1, -1)} && `;
      ctx.o.out(`\nNext: ${cd}dagwright validate && dagwright graph main\n`);
    });
}
