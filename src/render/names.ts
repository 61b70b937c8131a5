import { createHash } from "node:crypto";

/** The longest DNS-1123 label Kubernetes accepts (names of pods, labels, Argo task names). */
export const DNS_LABEL_MAX = 63;

const DNS_LABEL = /^[a-z]([a-z0-9-]*[a-z0-9])?$/;

/**
 * True when `s` is a DNS-1123 label that also starts with a letter: lowercase `[a-z0-9-]`,
 * 1–63 characters, starting with a letter and ending alphanumeric. (Argo rejects DAG task names
 * that begin with a digit, so digits are not accepted first even though DNS-1123 allows them.)
 */
export function isDnsLabel(s: string): boolean {
  return s.length <= DNS_LABEL_MAX && DNS_LABEL.test(s);
}

/**
 * The readable part of a label for `name`, at most `maxLength` characters: accents dropped,
 * lowercased, every run of other characters turned into one `-`, trimmed, and prefixed with `t-`
 * when it would start with a digit. `exact` is false when information was lost beyond case and
 * separators (truncated, or nothing readable left), which forces a hash in {@link assignDnsLabels}.
 */
export function toDnsLabel(
  name: string,
  maxLength = DNS_LABEL_MAX,
): { label: string; exact: boolean } {
  let s = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  let exact = s !== "";
  if (s === "") s = "n";
  if (/^[0-9]/.test(s)) s = `t-${s}`;
  if (s.length > maxLength) {
    s = s.slice(0, maxLength).replace(/-+$/, "");
    exact = false;
  }
  return { label: s, exact };
}

/** One label wanted: `key` identifies it (unique), `name` is what the label is made from. */
export interface LabelRequest {
  key: string;
  name: string;
  /** Appended verbatim after the readable part (and after the hash), e.g. `-items`. */
  suffix?: string;
  /** Limit for the whole label, suffix included (default 63). */
  maxLength?: number;
}

function shortHash(key: string, length: number): string {
  return createHash("sha256").update(key).digest("hex").slice(0, length);
}

/**
 * A target's identifier rule for {@link assignNames}: the longest identifier, and the readable
 * form of a name within a length (`exact` false when information was lost, which forces a hash).
 */
export interface NameRule {
  maxLength: number;
  readable: (name: string, maxLength: number) => { label: string; exact: boolean };
}

/** Kubernetes DNS-1123 labels that start with a letter (see {@link isDnsLabel}). */
export const DNS_LABEL_RULE: NameRule = { maxLength: DNS_LABEL_MAX, readable: toDnsLabel };

/**
 * Maps every request to a distinct DNS-1123 label (see {@link isDnsLabel}); see
 * {@link assignNames} for how. Throws like it.
 */
export function assignDnsLabels(
  requests: readonly LabelRequest[],
  reserved: readonly string[] = [],
): Map<string, string> {
  return assignNames(requests, DNS_LABEL_RULE, reserved);
}

/**
 * Maps every request to a distinct identifier under `rule`, deterministically:
 * the readable form of the name plus the suffix when that is lossless and unique; otherwise the
 * readable form truncated to fit, `-`, and the first 6 hex digits of SHA-256 of the request's
 * `key` (longer when even those collide). Identifiers never equal one of `reserved`.
 * The result depends only on the set of requests, not on their order.
 * Throws an Error when two requests share a key, or a suffix leaves no room for a name.
 */
export function assignNames(
  requests: readonly LabelRequest[],
  rule: NameRule,
  reserved: readonly string[] = [],
): Map<string, string> {
  const byKey = new Map<string, LabelRequest>();
  for (const r of requests) {
    if (byKey.has(r.key)) throw new Error(`assignNames: duplicate key ${JSON.stringify(r.key)}`);
    byKey.set(r.key, r);
  }
  const keys = [...byKey.keys()].sort();
  const hashLength = new Map<string, number>();
  const label = (key: string): string => {
    const r = byKey.get(key)!;
    const suffix = r.suffix ?? "";
    const max = (r.maxLength ?? rule.maxLength) - suffix.length;
    const h = hashLength.get(key) ?? 0;
    if (h === 0) return rule.readable(r.name, max).label + suffix;
    const room = max - h - 1;
    if (room < 1) throw new Error(`assignNames: no room for a name in ${max} characters`);
    return `${rule.readable(r.name, room).label}-${shortHash(key, h)}${suffix}`;
  };
  for (const key of keys) {
    const r = byKey.get(key)!;
    const max = (r.maxLength ?? rule.maxLength) - (r.suffix ?? "").length;
    if (!rule.readable(r.name, max).exact) hashLength.set(key, 6);
  }
  const taken = new Set(reserved);
  for (;;) {
    const owners = new Map<string, string[]>();
    for (const key of keys) {
      const l = label(key);
      owners.set(l, [...(owners.get(l) ?? []), key]);
    }
    let changed = false;
    for (const [l, ks] of owners) {
      if (ks.length < 2 && !taken.has(l)) continue;
      for (const k of ks) {
        const h = hashLength.get(k) ?? 0;
        hashLength.set(k, h === 0 ? 6 : Math.min(h + 2, 64));
        changed = changed || h < 64;
      }
    }
    if (!changed) break;
  }
  return new Map(keys.map((k) => [k, label(k)]));
}
