/*
 * Airflow renders every string of a templated operator field (KubernetesPodOperator's `cmds`,
 * `arguments`, `env_vars`, `image`, ...; BashOperator's `bash_command`, `env`) with Jinja before
 * running it. Jinja evaluates `{{`, `{%` and `{#`, turns `\r` and `\r\n` into `\n`, drops one
 * trailing newline, and Airflow reads a string ending in a template extension (`.sh`, `.json`,
 * `.yaml`, ...) as the path of a template file. {@link jinjaLiteral} writes a string so that
 * Jinja's output is exactly the string.
 */

/** Extensions some operator reads as a template file (`template_ext`). */
const TEMPLATE_EXT = [".sh", ".bash", ".json", ".yaml", ".yml", ".sql", ".hql", ".j2", ".jinja2"];
const NEEDS_ESCAPE = /[{\r]/;

/**
 * Jinja template text that renders to exactly `s` under Airflow's default environment: unchanged
 * when nothing in it is special, else every `{` and `\r` becomes an expression printing it, and a
 * final empty expression keeps a trailing newline and hides a template extension.
 */
export function jinjaLiteral(s: string): string {
  const endsSpecial = s.endsWith("\n") || TEMPLATE_EXT.some((ext) => s.toLowerCase().endsWith(ext));
  if (!NEEDS_ESCAPE.test(s) && !endsSpecial) return s;
  const body = s.replace(/[{\r]/g, (ch) => (ch === "{" ? "{{ '{' }}" : "{{ '\\r' }}"));
  return endsSpecial ? `${body}{{ '' }}` : body;
}

/** Characters `shlex.quote` leaves unquoted. */
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** `shlex.quote(s)`: one POSIX shell word whose value is exactly `s` (which must not hold NUL). */
export function shellQuote(s: string): string {
  if (s === "") return "''";
  if (SHELL_SAFE.test(s)) return s;
  return `'${s.replaceAll("'", `'"'"'`)}'`;
}
