import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { specJsonSchema } from "../../src/spec/json-schema.js";
import { REPO } from "../helpers.js";

describe("JSON Schema of dagwright.yaml", () => {
  it("matches the committed schema/dagwright.schema.json (run `npm run schema:write` after changing the zod schema)", () => {
    const committed = JSON.parse(
      readFileSync(path.join(REPO, "schema", "dagwright.schema.json"), "utf8"),
    );
    expect(specJsonSchema()).toEqual(committed);
  });

  it("describes task fields and rejects unknown ones", () => {
    const schema = specJsonSchema() as {
      properties: {
        tasks: {
          additionalProperties: {
            properties: Record<string, unknown>;
            additionalProperties: boolean;
          };
        };
      };
    };
    const task = schema.properties.tasks.additionalProperties;
    expect(Object.keys(task.properties)).toEqual(
      expect.arrayContaining(["file", "command", "outputs", "map_over", "compute", "secrets"]),
    );
    expect(task.additionalProperties).toBe(false);
  });
});
