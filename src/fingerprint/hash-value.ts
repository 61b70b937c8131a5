import { canonicalJson } from "./canonical-json.js";
import { hashString } from "./hash-string.js";

/**
 * SHA-256 hex of {@link canonicalJson}`(v)`: equal for values that differ only in key order.
 *
 * @throws TypeError as {@link canonicalJson} does, naming the path of an unhashable value.
 */
export function hashValue(v: unknown): string {
  return hashString(canonicalJson(v));
}
