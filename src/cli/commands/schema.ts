import type { Command } from "commander";
import { specJsonSchema } from "../../spec/json-schema.js";
import type { CommandContext } from "../context.js";

export function registerSchema(program: Command, ctx: CommandContext): void {
  program
    .command("schema")
    .description("print the JSON Schema of dagwright.yaml (for editor completion and CI checks)")
    .action(() => {
      ctx.o.out(`${JSON.stringify(specJsonSchema(), null, 2)}\n`);
    });
}
