import type { SecretRef } from "../spec/types.js";

/**
 * Secret values shorter than this are not redacted: replacing every `1`, `yes` or `dev` in a log
 * would mangle ordinary output while hiding nothing an attacker could not guess.
 */
export const MIN_SECRET_LENGTH = 4;

/** What replaces a secret value in logs, messages and events. */
export const REDACTED = "***";

const MARK = Buffer.from(REDACTED);

/**
 * The values a task's declared `secrets` have in `env` (the environment the task is started
 * with), without duplicates and without values shorter than {@link MIN_SECRET_LENGTH}.
 */
export function secretValues(
  secrets: readonly SecretRef[],
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  const out = new Set<string>();
  for (const s of secrets) {
    const v = env[s.env];
    if (v !== undefined && v.length >= MIN_SECRET_LENGTH) out.add(v);
  }
  return [...out];
}

/** `text` with every occurrence of one of `values` replaced by {@link REDACTED}. */
export function redactText(text: string, values: readonly string[]): string {
  let out = text;
  // Longest first, so a secret that contains another is replaced whole.
  for (const v of [...values].sort((a, b) => b.length - a.length)) {
    if (out.includes(v)) out = out.split(v).join(REDACTED);
  }
  return out;
}

/**
 * Redacts a byte stream written in chunks of any size: a value split across two chunks is still
 * found, because the last `longest - 1` bytes of each chunk are held back until the next one (or
 * {@link StreamRedactor.end}). Works on bytes, so a chunk may end inside a UTF-8 character.
 */
export class StreamRedactor {
  private readonly secrets: Buffer[];
  private readonly hold: number;
  private carry: Buffer = Buffer.alloc(0);

  /** @param values the secret values (see {@link secretValues}); at least one. */
  constructor(values: readonly string[]) {
    this.secrets = values.map((v) => Buffer.from(v)).sort((a, b) => b.length - a.length);
    this.hold = Math.max(0, ...this.secrets.map((s) => s.length)) - 1;
  }

  /** The redacted bytes that are safe to write now (possibly none). */
  write(chunk: Buffer | string): Buffer {
    const data =
      this.carry.length === 0
        ? Buffer.from(chunk)
        : Buffer.concat([this.carry, Buffer.from(chunk)]);
    // A value starting before `safe` lies wholly inside `data` if it is there at all.
    const safe = data.length - this.hold;
    const parts: Buffer[] = [];
    let pos = 0;
    const find = this.finder(data);
    for (;;) {
      const hit = find(pos);
      if (hit === undefined || hit.at >= safe) break;
      parts.push(data.subarray(pos, hit.at), MARK);
      pos = hit.at + hit.length;
    }
    const cut = Math.max(pos, safe);
    parts.push(data.subarray(pos, cut));
    this.carry = Buffer.from(data.subarray(cut));
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** The bytes held back, redacted: call once the stream has ended. */
  end(): Buffer {
    const rest = this.carry;
    this.carry = Buffer.alloc(0);
    const parts: Buffer[] = [];
    let pos = 0;
    const find = this.finder(rest);
    for (let hit = find(0); hit !== undefined; hit = find(pos)) {
      parts.push(rest.subarray(pos, hit.at), MARK);
      pos = hit.at + hit.length;
    }
    parts.push(rest.subarray(pos));
    return Buffer.concat(parts);
  }

  /**
   * Finds in `data` the earliest occurrence of a secret at or after `from` (the longest one at a
   * tie), for increasing `from`. Each secret's next occurrence is remembered and searched again
   * only once passed, so many hits cost one pass per secret, not one per hit.
   */
  private finder(data: Buffer): (from: number) => { at: number; length: number } | undefined {
    const next = this.secrets.map(() => -2); // -2: not searched yet; -1: none further
    return (from) => {
      let best: { at: number; length: number } | undefined;
      for (const [i, s] of this.secrets.entries()) {
        let at = next[i]!;
        if (at === -1) continue;
        if (at < from) {
          at = data.indexOf(s, from);
          next[i] = at;
          if (at === -1) continue;
        }
        if (best === undefined || at < best.at) best = { at, length: s.length };
      }
      return best;
    };
  }
}
