import { createHash } from "node:crypto";

/** SHA-256 of a string (as UTF-8) or of raw bytes, as 64 lowercase hex characters. */
export function hashString(s: string | Buffer): string {
  return createHash("sha256").update(s).digest("hex");
}
