import fc from "fast-check";

/**
 * The hostile strings of the renderers' property tests: up to 6 parts, each one of `pieces`
 * (the target's quoting hazards) or a short string of any code units, joined.
 */
export function hostileStrings(pieces: readonly string[]): fc.Arbitrary<string> {
  return fc
    .array(fc.oneof(fc.constantFrom(...pieces), fc.string({ unit: "binary", maxLength: 4 })), {
      maxLength: 6,
    })
    .map((parts) => parts.join(""));
}
