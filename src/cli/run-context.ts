import { FsReads } from "../fingerprint/fs-reads.js";
import type { Selection } from "../graph/select-tasks.js";
import { openProject } from "../session/open-project.js";
import type { Project } from "../session/project.js";
import type { RunScope, ScopeSelection } from "../session/run-scope.js";
import type { CommandContext } from "./context.js";
import { loadForCommand } from "./load.js";

export { openStore } from "../session/open-store.js";

/** Flags shared by `run`, `status` and `explain`. */
export interface RunFlags extends Selection {
  env?: string;
  set?: string[];
}

/** What a command that reads or writes state works on: one graph and selection of the project. */
export type RunContext = RunScope;

/** The project's selection for a command's graph argument and flags. */
export function selectionOf(graph: string | undefined, flags: RunFlags): ScopeSelection {
  const { env, set, only, from, to, tags } = flags;
  return {
    ...(graph === undefined ? {} : { graph }),
    ...(only ? { only } : {}),
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
    ...(tags ? { tags } : {}),
    ...(env === undefined ? {} : { configEnv: env }),
    ...(set ? { set } : {}),
  };
}

/**
 * Opens the project of the command's spec (found in the working directory, or `-f FILE`),
 * through the spec cache (src/cli/load.ts), in this process's environment. Every file-system
 * read and environment variable consulted is recorded in `reads`; notices go to stderr.
 */
export async function openCommandProject(
  ctx: CommandContext,
  reads: FsReads = new FsReads(),
): Promise<Project> {
  const loaded = await loadForCommand(ctx, { cache: true, reads });
  return openProject(loaded.spec.root, {
    loaded,
    reads,
    env: process.env,
    cwd: process.cwd(),
    notice: (line) => ctx.o.err(`${line}\n`),
  });
}
