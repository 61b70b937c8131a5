import crypto from "node:crypto";

// The one-shot `crypto.hash` (Node 20.12+) is several times cheaper than createHash for the short
// strings fingerprints are made of; fall back to createHash on older Node 20 releases.
const oneShot = (crypto as { hash?: (alg: string, data: string | Buffer) => string }).hash;

/** SHA-256 of a string (as UTF-8) or of raw bytes, as 64 lowercase hex characters. */
export function hashString(s: string | Buffer): string {
  if (oneShot !== undefined) return oneShot("sha256", s);
  return crypto.createHash("sha256").update(s).digest("hex");
}
