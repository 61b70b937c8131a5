/** The prefix rendered manifests give env values an engine must not evaluate (`{{...}}` in Argo). */
const RENDERED_PREFIX = "DAGWRIGHT_ENV_B64_";

/**
 * The environment a project sees: `env` with every `DAGWRIGHT_ENV_B64_<NAME>` (base64 of UTF-8,
 * as rendered manifests carry values Argo would otherwise evaluate) decoded into `<NAME>` and
 * the encoded variable left out. Returns a new object; `env` is not changed.
 */
export function decodeRenderedEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  let decoded: NodeJS.ProcessEnv | undefined;
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith(RENDERED_PREFIX) || v === undefined || k.length === RENDERED_PREFIX.length)
      continue;
    decoded ??= { ...env };
    decoded[k.slice(RENDERED_PREFIX.length)] = Buffer.from(v, "base64").toString("utf8");
    delete decoded[k];
  }
  return decoded ?? env;
}

/**
 * The variables of `env` that `base` lacks or holds with another value: what a project's tasks
 * must be given on top of the process environment their launchers start from.
 */
export function envOverrides(
  env: NodeJS.ProcessEnv,
  base: NodeJS.ProcessEnv,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && base[k] !== v) out[k] = v;
  return out;
}
