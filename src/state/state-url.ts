import path from "node:path";
import { DagwrightError } from "../spec/errors.js";

/** Where `DAGWRIGHT_STATE_URL` points: a SQLite file (absolute path) or a PostgreSQL URL. */
export type StateLocation = { kind: "sqlite"; file: string } | { kind: "postgres"; url: string };

/** The forms {@link parseStateUrl} accepts, for messages and docs. */
export const STATE_URL_FORMS =
  "sqlite:PATH, sqlite://PATH, a plain file path, postgres://… or postgresql://…";

/**
 * A scheme as RFC 3986 spells it, but of two characters or more: a single letter before `:` is a
 * Windows drive (`C:\x`), which {@link parseStateUrl} names as such instead of calling it a scheme.
 */
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]+):/;
const DRIVE = /^[A-Za-z]:([\\/]|$)/;

/**
 * Parses the value of `DAGWRIGHT_STATE_URL`. Pure: touches no file. `sqlite:PATH`,
 * `sqlite://PATH` (so `sqlite:///abs/state.db` is absolute) and a plain path name a SQLite file,
 * relative paths resolved against `root`; `postgres://…` and `postgresql://…` (any case) name a
 * PostgreSQL database, passed on unchanged.
 *
 * Any other `word:` prefix of two or more characters is a scheme and rejected, so `mysql://x` or
 * `redis://…` never silently becomes a SQLite file named `mysql:/x`; a file whose name has a colon
 * is written `./name:x.db` or `sqlite:name:x.db`. A drive-letter path (`C:\x`, `C:/x`) is rejected
 * too: dagwright runs on POSIX systems, where it would be a file named `C:\x` in the project.
 *
 * @throws DagwrightError `E_USAGE` (exit 2) naming the variable and the supported forms.
 */
export function parseStateUrl(url: string, root: string): StateLocation {
  if (/^postgres(ql)?:\/\//i.test(url)) return { kind: "postgres", url };
  if (DRIVE.test(url)) {
    throw new DagwrightError(
      "E_USAGE",
      `DAGWRIGHT_STATE_URL=${JSON.stringify(url)} is a Windows drive path; dagwright runs on POSIX systems (Linux, macOS, WSL)`,
      { hint: `use a POSIX path such as .dagwright/state.db; supported: ${STATE_URL_FORMS}` },
    );
  }
  const scheme = SCHEME.exec(url)?.[1];
  if (scheme !== undefined && scheme.toLowerCase() !== "sqlite") {
    throw new DagwrightError(
      "E_USAGE",
      `DAGWRIGHT_STATE_URL=${JSON.stringify(maskPassword(url))}: unsupported scheme "${scheme}:"`,
      {
        hint: `set it to one of: ${STATE_URL_FORMS} (a file whose name contains ":" is written ./NAME)`,
      },
    );
  }
  const file = scheme === undefined ? url : url.replace(/^sqlite:(\/\/)?/i, "");
  if (file === "") {
    throw new DagwrightError(
      "E_USAGE",
      `DAGWRIGHT_STATE_URL=${JSON.stringify(url)} names no file`,
      {
        hint: "e.g. sqlite:.dagwright/state.db, or unset it for the default .dagwright/state.db",
      },
    );
  }
  return { kind: "sqlite", file: path.resolve(root, file) };
}

/** `url` with the password of `scheme://user:password@host` replaced by `***`; safe to print. */
export function maskPassword(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]*@/, "$1***@");
}
