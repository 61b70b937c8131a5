import { readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/**
 * The state-store namespace of a cache namespace on a branch: `"sales@main"`. Cache namespaces are
 * spec names (no `@`), so the first `@` always separates the two parts, even when the branch
 * contains one.
 */
export function namespaceFor(cacheNamespace: string, branch: string): string {
  return `${cacheNamespace}@${branch}`;
}

/**
 * The git branch of the repository containing `root` (searched upwards), read from `HEAD` without
 * spawning git: the branch name (`feature/x` keeps its slash), the short commit (7 hex digits) for
 * a detached HEAD, or `"default"` when there is no repository or HEAD is unreadable.
 * A non-empty `DAGWRIGHT_BRANCH` environment variable overrides all of this. Never throws.
 */
export function currentBranch(root: string, env: NodeJS.ProcessEnv = process.env): string {
  const override = env.DAGWRIGHT_BRANCH?.trim();
  if (override) return override;
  const gitDir = findGitDir(resolve(root));
  if (gitDir === undefined) return "default";
  let head: string;
  try {
    head = readFileSync(join(gitDir, "HEAD"), "utf8").trim();
  } catch {
    return "default";
  }
  const ref = /^ref:\s*(\S+)$/.exec(head)?.[1];
  if (ref !== undefined) return ref.startsWith("refs/heads/") ? ref.slice(11) : ref;
  if (/^[0-9a-f]{40,64}$/i.test(head)) return head.slice(0, 7).toLowerCase();
  return "default";
}

/** The git directory for `dir` or its nearest ancestor: `.git/`, or where a `.git` file points. */
function findGitDir(dir: string): string | undefined {
  for (let current = dir; ; current = dirname(current)) {
    const dotGit = join(current, ".git");
    try {
      if (statSync(dotGit).isDirectory()) return dotGit;
      // Worktrees and submodules: `.git` is a file "gitdir: <path>".
      const pointer = /^gitdir:\s*(.+)$/m.exec(readFileSync(dotGit, "utf8"))?.[1]?.trim();
      if (pointer !== undefined) return resolve(current, pointer);
    } catch {
      // no .git here; keep looking upwards
    }
    if (dirname(current) === current) return undefined;
  }
}
