import type { Command } from "commander";
import type { CommandContext } from "../context.js";

export function registerSchema(program: Command, ctx: CommandContext): void {
  program
    .command("schema")
    .description("print the JSON Schema of dagwright.yaml (for editor completion and CI checks)")
    .action(async () => {
      const { specJsonSchema } = await import("../../spec/json-schema.js");
      ctx.o.out(`${JSON.stringify(specJsonSchema(), null, 2)}\n`);
    });
}
