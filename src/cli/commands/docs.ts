import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { didYouMean } from "../../spec/did-you-mean.js";
import { UsageError } from "../../spec/errors.js";
import type { CommandContext } from "../context.js";
import { packageFile } from "../package-files.js";

/** One page of the bundled documentation (`docs/NAME.md` in the package). */
interface DocTopic {
  name: string;
  /** The page's first heading, without its `#`. */
  title: string;
  file: string;
}

/** The pages shipped in the package's `docs/`, by name; a page added there is listed with no code change. */
function docTopics(dir: string): DocTopic[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".md"))
    .map((f) => {
      const file = path.join(dir, f);
      const heading = readFileSync(file, "utf8")
        .split("\n")
        .find((l) => l.startsWith("# "));
      return { name: f.slice(0, -3), title: heading?.slice(2).trim() ?? "", file };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function listing(topics: readonly DocTopic[], examples: string): string {
  const width = Math.max(...topics.map((t) => t.name.length));
  const rows = topics.map((t) => `  ${t.name.padEnd(width)}  ${t.title}\n`).join("");
  const tail = existsSync(examples) ? `\nExample projects to copy: ${examples}\n` : "";
  return `Documentation topics (dagwright docs TOPIC prints one):\n${rows}${tail}`;
}

/** `dagwright docs [TOPIC]`: the markdown shipped with the package, readable offline. */
export function registerDocs(program: Command, ctx: CommandContext): void {
  program
    .command("docs")
    .description("print the documentation shipped with dagwright (no TOPIC: list the topics)")
    .argument("[TOPIC]", "a topic, e.g. running, spec or cli")
    .action((topic: string | undefined) => {
      const topics = docTopics(packageFile("docs"));
      if (topic === undefined) {
        ctx.o.out(listing(topics, packageFile("examples")));
        return;
      }
      const name = topic.replace(/\.md$/i, "");
      const found = topics.find((t) => t.name === name.toLowerCase());
      if (found === undefined) {
        const names = topics.map((t) => t.name);
        throw new UsageError(
          `no documentation topic "${topic}".${didYouMean(name, names)}`,
          `topics: ${names.join(", ")} (run \`dagwright docs\` to list them)`,
        );
      }
      ctx.o.out(readFileSync(found.file, "utf8"));
    });
}
