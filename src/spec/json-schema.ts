import { z } from "zod";
import { specFileSchema } from "./schema.js";

/** JSON Schema (draft 2020-12) of dagwright.yaml, generated from the zod schema. */
export function specJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(specFileSchema, {
    target: "draft-2020-12",
    unrepresentable: "any",
  }) as Record<string, unknown>;
  return { ...schema, $id: "https://dagwright.dev/schema/dagwright.schema.json" };
}
