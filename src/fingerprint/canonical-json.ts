const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** Renders the path to a value only when an error needs it: `args.when`, `a[1]`, `["odd key"]`. */
function pathOf(trail: readonly (string | number)[]): string {
  let out = "";
  for (const step of trail) {
    if (typeof step === "number") out += `[${step}]`;
    else if (IDENTIFIER.test(step)) out += out === "" ? step : `.${step}`;
    else out += `[${JSON.stringify(step)}]`;
  }
  return out === "" ? "(root)" : out;
}

function fail(trail: readonly (string | number)[], what: string): never {
  throw new TypeError(`${pathOf(trail)}: cannot fingerprint ${what}`);
}

function write(
  value: unknown,
  key: string,
  trail: (string | number)[],
  ancestors: Set<object>,
): string {
  let v = value;
  // Dates, Buffers and user classes decide their own JSON form, exactly like JSON.stringify.
  if (
    typeof v === "object" &&
    v !== null &&
    typeof (v as { toJSON?: unknown }).toJSON === "function"
  ) {
    v = (v as { toJSON: (key: string) => unknown }).toJSON(key);
  }
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "boolean":
      return v ? "true" : "false";
    case "number":
      if (!Number.isFinite(v)) fail(trail, `a non-finite number (${v})`);
      return JSON.stringify(v);
    case "undefined":
      return "null";
    case "function":
      return fail(trail, "a function");
    case "symbol":
      return fail(trail, "a symbol");
    case "bigint":
      return fail(trail, "a bigint; convert it to a string");
  }
  if (v === null) return "null";
  const obj = v as object;
  if (
    obj instanceof Map ||
    obj instanceof Set ||
    obj instanceof WeakMap ||
    obj instanceof WeakSet
  ) {
    fail(trail, `a ${obj.constructor.name}; convert it to an object or array`);
  }
  if (obj instanceof Promise) fail(trail, "a Promise; await it first");
  if (ancestors.has(obj)) fail(trail, "a cycle (the value contains itself)");
  ancestors.add(obj);
  let out: string;
  if (Array.isArray(obj)) {
    out = "[";
    for (let i = 0; i < obj.length; i++) {
      trail.push(i);
      out += (i === 0 ? "" : ",") + write(obj[i], String(i), trail, ancestors);
      trail.pop();
    }
    out += "]";
  } else {
    const record = obj as Record<string, unknown>;
    // Code-unit order, never locale order: the hash must not depend on the machine's locale.
    const keys = Object.keys(record).sort();
    out = "{";
    let first = true;
    for (const k of keys) {
      const item = record[k];
      if (item === undefined) continue;
      trail.push(k);
      out += `${first ? "" : ","}${JSON.stringify(k)}:${write(item, k, trail, ancestors)}`;
      trail.pop();
      first = false;
    }
    out += "}";
  }
  ancestors.delete(obj);
  return out;
}

/**
 * Deterministic JSON for hashing: object keys sorted by UTF-16 code unit at every depth, no
 * whitespace, `undefined` properties dropped (`undefined` in arrays and at the top becomes
 * `null`, as in `JSON.stringify`), arrays kept in order, `toJSON` honoured (so a `Date` is its
 * ISO string). Two values that `JSON.parse` would read back equal give the same string.
 *
 * @throws TypeError naming the offending path (`args.when: cannot fingerprint a function`) for
 *   functions, symbols, bigints, non-finite numbers, Maps/Sets, Promises and cyclic references.
 *   Shared, non-cyclic references are fine.
 */
export function canonicalJson(value: unknown): string {
  return write(value, "", [], new Set());
}
