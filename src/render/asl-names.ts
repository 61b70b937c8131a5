import { assignNames, type LabelRequest, type NameRule } from "./names.js";

/** The longest state name Step Functions accepts. */
export const ASL_NAME_MAX = 80;

const SAFE = /^[A-Za-z0-9_.-]+$/;

/**
 * State names: letters, digits, `_`, `.` and `-` only (so a name is never JSONPath, never ends
 * in `.$`, has no control characters, and is safe inside an intrinsic-function string and an
 * S3 key), at most 80 characters. Other characters become `-`; such a name is not exact, so it
 * gets a hash and two names that differ only there stay distinct.
 */
export const ASL_NAME_RULE: NameRule = {
  maxLength: ASL_NAME_MAX,
  readable: (name, maxLength) => {
    let label = name.replace(/[^A-Za-z0-9_.-]+/g, "-");
    let exact = label === name && label !== "";
    if (label === "") label = "state";
    if (label.length > maxLength) {
      label = label.slice(0, maxLength);
      exact = false;
    }
    return { label, exact };
  },
};

/** True when `s` is a name {@link assignStateNames} can produce. */
export function isSafeStateName(s: string): boolean {
  return s.length <= ASL_NAME_MAX && SAFE.test(s);
}

/**
 * Distinct state names for `requests` (see {@link ASL_NAME_RULE} and `assignNames`):
 * deterministic, independent of the order of the requests.
 */
export function assignStateNames(requests: readonly LabelRequest[]): Map<string, string> {
  return assignNames(requests, ASL_NAME_RULE);
}
