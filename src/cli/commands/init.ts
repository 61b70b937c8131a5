import { cpSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { DagwrightError } from "../../spec/errors.js";
import type { CommandContext } from "../context.js";
import { ensureGitignore } from "../ensure-gitignore.js";
import { packageFile } from "../package-files.js";

const TEMPLATE = packageFile("templates/init");
/**
 * What a run writes that is not the project's: the state, logs and caches (`.dagwright/`) and the
 * scratch root (`settings.scratch_dir`, which the template leaves at its default).
 */
const IGNORED = [".dagwright/", "scratch/"];

function listFiles(dir: string, prefix = ""): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? listFiles(path.join(dir, e.name), `${prefix}${e.name}/`)
      : [`${prefix}${e.name}`],
  );
}

/** `dir` as one POSIX shell word: as is when it is plain, else single-quoted. */
function shellWord(dir: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(dir) ? dir : `'${dir.replace(/'/g, `'\\''`)}'`;
}

/** `dagwright init [DIR]`: copies the starter project and a .gitignore, then says what to run. */
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
      const ignore = ensureGitignore(target, IGNORED);
      const gitignore = path.join(dir, ".gitignore");
      if (ignore.action === "created") ctx.o.out(`created ${gitignore}\n`);
      if (ignore.action === "updated")
        ctx.o.out(`updated ${gitignore} (added ${ignore.added.join(", ")})\n`);
      const cd = dir === "." ? "" : `cd ${shellWord(dir)} && `;
      ctx.o.out(`\nNext: ${cd}npx dagwright validate && npx dagwright run\n`);
    });
}
