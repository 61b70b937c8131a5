const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function childPath(parent: string, key: string): string {
  if (IDENTIFIER.test(key)) return parent === "" ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

function fail(path: string, what: string): never {
  throw new TypeError(`${path === "" ? "(root)" : path}: cannot fingerprint ${what}`);
}

function write(value: unknown, path: string, key: string, ancestors: Set<object>): string {
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
      if (!Number.isFinite(v)) fail(path, `a non-finite number (${v})`);
      return JSON.stringify(v);
    case "undefined":
      return "null";
    case "function":
      return fail(path, "a function");
    case "symbol":
      return fail(path, "a symbol");
    case "bigint":
      return fail(path, "a bigint; convert it to a string");
  }
  if (v === null) return "null";
  const obj = v as object;
  if (
    obj instanceof Map ||
    obj instanceof Set ||
    obj instanceof WeakMap ||
    obj instanceof WeakSet
  ) {
    fail(path, `a ${obj.constructor.name}; convert it to an object or array`);
  }
  if (obj instanceof Promise) fail(path, "a Promise; await it first");
  if (ancestors.has(obj)) fail(path, "a cycle (the value contains itself)");
  ancestors.add(obj);
  let out: string;
  if (Array.isArray(obj)) {
    const items: string[] = [];
    for (let i = 0; i < obj.length; i++) {
      items.push(write(obj[i], `${path}[${i}]`, String(i), ancestors));
    }
    out = `[${items.join(",")}]`;
  } else {
    const record = obj as Record<string, unknown>;
    // Code-unit order, never locale order: the hash must not depend on the machine's locale.
    const keys = Object.keys(record).sort();
    const members: string[] = [];
    for (const k of keys) {
      const item = record[k];
      if (item === undefined) continue;
      members.push(`${JSON.stringify(k)}:${write(item, childPath(path, k), k, ancestors)}`);
    }
    out = `{${members.join(",")}}`;
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
  return write(value, "", "", new Set());
}
