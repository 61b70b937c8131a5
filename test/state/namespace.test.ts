import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { currentBranch, namespaceFor } from "../../src/state/namespace.js";

describe("namespaceFor", () => {
  it("joins the cache namespace and the branch with @", () => {
    expect(namespaceFor("sales", "main")).toBe("sales@main");
    expect(namespaceFor("sales", "feature/x")).toBe("sales@feature/x");
  });
});

describe("currentBranch", () => {
  let dir: string;
  const writeHead = (gitDir: string, content: string): void => {
    mkdirSync(gitDir, { recursive: true });
    writeFileSync(join(gitDir, "HEAD"), content);
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "dagwright-branch-"));
    vi.stubEnv("DAGWRIGHT_BRANCH", "");
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads the branch name from .git/HEAD, slashes included", () => {
    writeHead(join(dir, ".git"), "ref: refs/heads/feature/new-model\n");
    expect(currentBranch(dir)).toBe("feature/new-model");
  });

  it("gives the short commit for a detached HEAD", () => {
    writeHead(join(dir, ".git"), "0123456789abcdef0123456789abcdef01234567\n");
    expect(currentBranch(dir)).toBe("0123456");
  });

  it('gives "default" when the directory is not in a git repository', () => {
    expect(currentBranch(dir)).toBe("default");
  });

  it("finds the repository from a project in a subdirectory", () => {
    writeHead(join(dir, ".git"), "ref: refs/heads/main\n");
    const project = join(dir, "pipelines", "sales");
    mkdirSync(project, { recursive: true });
    expect(currentBranch(project)).toBe("main");
  });

  it("follows a .git file to a worktree's git directory", () => {
    writeHead(join(dir, "repo", ".git", "worktrees", "wt"), "ref: refs/heads/wt-branch\n");
    mkdirSync(join(dir, "wt"));
    writeFileSync(join(dir, "wt", ".git"), "gitdir: ../repo/.git/worktrees/wt\n");
    expect(currentBranch(join(dir, "wt"))).toBe("wt-branch");
  });

  it("lets DAGWRIGHT_BRANCH override the repository", () => {
    writeHead(join(dir, ".git"), "ref: refs/heads/main\n");
    vi.stubEnv("DAGWRIGHT_BRANCH", "ci-42");
    expect(currentBranch(dir)).toBe("ci-42");
  });
});
