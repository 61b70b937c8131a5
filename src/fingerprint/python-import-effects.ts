import { splitTopLevel } from "../spec/python-source.js";

/** A call: a name, attribute, subscript or call result followed by `(`. */
const CALL = /[\p{L}\p{N}_)\]]\s*\(/u;
const DEF_HEAD = /^(?:async\s+)?def\s+[\p{L}_][\p{L}\p{N}_]*\s*\(/u;
const CLASS_HEAD = /^class\s+[\p{L}_][\p{L}\p{N}_]*\s*/u;

/** Decorators that only wrap or mark what they decorate; any other may register it somewhere. */
const INERT_DECORATORS = new Set(
  [
    "property",
    "staticmethod",
    "classmethod",
    "abstractmethod",
    "abc.abstractmethod",
    "cache",
    "lru_cache",
    "cached_property",
    "wraps",
    "total_ordering",
    "dataclass",
    "contextmanager",
    "asynccontextmanager",
    "overload",
    "override",
    "final",
    "unique",
  ].flatMap((n) => [
    n,
    `functools.${n}`,
    `dataclasses.${n}`,
    `contextlib.${n}`,
    `typing.${n}`,
    `enum.${n}`,
  ]),
);

/** Bases whose subclassing runs nothing of the project's. */
const INERT_BASES = new Set(
  [
    "object",
    "Exception",
    "BaseException",
    "ValueError",
    "RuntimeError",
    "TypeError",
    "KeyError",
    "dict",
    "list",
    "str",
    "int",
    "float",
    "tuple",
    "Enum",
    "IntEnum",
    "StrEnum",
    "Flag",
    "IntFlag",
    "NamedTuple",
    "TypedDict",
    "Protocol",
    "Generic",
    "ABC",
  ].flatMap((n) => [n, `enum.${n}`, `typing.${n}`, `abc.${n}`]),
);

function inertDecorator(code: string): boolean {
  const name = /^@\s*([\p{L}\p{N}_.\s]+)/u.exec(code)?.[1]?.replace(/\s+/gu, "") ?? "";
  return INERT_DECORATORS.has(name) || /\.(?:setter|getter|deleter)$/u.test(name);
}

/** Whether a `def` header's defaults or annotations (evaluated on import) call something. */
function defHeadCalls(head: string): boolean {
  return CALL.test(head.replace(DEF_HEAD, ""));
}

function classHeadRuns(head: string): boolean {
  const rest = head.replace(CLASS_HEAD, "");
  if (!rest.startsWith("(")) return false;
  const close = rest.lastIndexOf(")");
  for (const base of splitTopLevel(rest.slice(1, close < 0 ? rest.length : close))) {
    // `metaclass=…` and other class keywords run the project's code.
    if (/(?<![=<>!])=(?!=)/u.test(base) || CALL.test(base)) return true;
    if (!INERT_BASES.has(base.replace(/\[.*\]$/u, "").replace(/\s+/gu, ""))) return true;
  }
  return false;
}

/** Whether a class-level line (not inside a method) runs something on import. */
function classLineRuns(code: string): boolean {
  if (code.startsWith("@")) return !inertDecorator(code);
  if (DEF_HEAD.test(code)) return defHeadCalls(code);
  if (CLASS_HEAD.test(code)) return classHeadRuns(code);
  return CALL.test(code);
}

/**
 * Whether evaluating a top-level statement on import may run code whose effects other functions
 * could see (registering a function in a shared table, say): a decorator other than the inert
 * ones (`property`, `functools.cache`, `dataclass`, `contextmanager`, …); a `def` whose default
 * values or annotations call something; a class with a base or keyword beyond inert builtins
 * (`object`, `Exception`, `Enum`, `NamedTuple`, …) or a call at class level (not inside a
 * method); an assignment whose value or annotation calls something. Function bodies never count:
 * they do not run on import. `head` is the statement's first non-decorator logical line, `body`
 * the logical lines after it.
 */
export function runsOnImport(
  kind: string,
  decorators: readonly string[],
  head: string,
  body: readonly { indent: number; code: string }[],
): boolean {
  if (decorators.some((d) => !inertDecorator(d))) return true;
  if (kind === "assign") return CALL.test(head);
  if (kind === "def") return defHeadCalls(head);
  if (kind !== "class") return false;
  if (classHeadRuns(head)) return true;
  const level = body[0]?.indent;
  return body.some((l) => l.indent === level && classLineRuns(l.code));
}
