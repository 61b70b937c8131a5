import { Document, visit } from "yaml";

/*
 * Quoting for rendered YAML read by Kubernetes and Argo. Three layers can change a string:
 * - YAML: the reader is go-yaml (YAML 1.1 rules: `yes`, `on`, `0755` are not strings; NEL, LS
 *   and PS are line breaks; DEL and C1 controls are refused). Anything but a plainly safe word
 *   is written double-quoted, with those characters escaped.
 * - Argo: every `{{...}}` in a template is evaluated and there is no escape for it (argo-workflows
 *   #8253: "You cannot escape `{{`"). Callers keep user strings containing `{{` out of templates.
 * - Kubernetes: `$(VAR)` in command, args and env values is expanded and `$$` reduces to `$`, so
 *   user strings there go through {@link escapeKubeVars}.
 */

/** A string go-yaml and `yaml` both read back as the same string when written plain. */
const SAFE_PLAIN = /^[A-Za-z_/][A-Za-z0-9_./-]*$/;
/** YAML 1.1 booleans and nulls (go-yaml reads these plain words as non-strings). */
const YAML11_WORDS = /^(y|n|yes|no|on|off|true|false|null)$/i;
/** Characters the `yaml` library leaves raw inside double quotes, but go-yaml mangles or refuses. */
const UNSAFE_RAW = /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/g;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** False when `s` has a lone surrogate, which UTF-8 (and so YAML and Kubernetes) cannot carry. */
export function isWellFormedUnicode(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/** `e0755`, `E10`: an exponent without a mantissa, which some YAML 1.1 readers take as a float. */
const BARE_EXPONENT = /^[eE][-+]?[0-9_]+$/;

function isSafePlain(s: string): boolean {
  return SAFE_PLAIN.test(s) && !YAML11_WORDS.test(s) && !BARE_EXPONENT.test(s);
}

/**
 * Serializes plain data (objects, arrays, strings, numbers, booleans) to YAML that reads back to
 * the same values under YAML 1.1 (go-yaml, Kubernetes) and 1.2. No anchors, no folded lines.
 * Strings must be well-formed Unicode (throws an Error otherwise).
 */
export function toYaml(value: unknown): string {
  const doc = new Document(value, { aliasDuplicateObjects: false });
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== "string") return;
      if (!isWellFormedUnicode(node.value))
        throw new Error(`toYaml: string is not well-formed Unicode: ${JSON.stringify(node.value)}`);
      if (!isSafePlain(node.value)) node.type = "QUOTE_DOUBLE";
    },
  });
  const text = doc.toString({ lineWidth: 0, doubleQuotedAsJSON: true });
  // Only double-quoted scalars can hold these characters, and `\uXXXX` is an escape there.
  return text.replace(UNSAFE_RAW, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** True when Argo would evaluate part of `s` as a template tag (`{{...}}` or `{{=...}}`). */
export function hasArgoTag(s: string): boolean {
  return s.includes("{{");
}

/**
 * Escapes `s` for a Kubernetes command, args or env `value`: every `$` is doubled, so `$(VAR)`
 * is never expanded and the container sees exactly `s`.
 */
export function escapeKubeVars(s: string): string {
  return s.replaceAll("$", () => "$$");
}

/**
 * What a container sees for a command, args or env `value` when no variable is defined: the
 * Kubernetes expansion rules (`$$` → `$`; `$(X)` kept as written when X is undefined).
 * The inverse of {@link escapeKubeVars}; for tests and tools that read manifests.
 */
export function expandKubeVars(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "$" && s[i + 1] === "$") {
      out += "$";
      i++;
    } else out += s[i];
  }
  return out;
}

/** UTF-8 base64, the form user strings take when they cannot appear literally in a template. */
export function toBase64(s: string): string {
  return Buffer.from(s, "utf8").toString("base64");
}
