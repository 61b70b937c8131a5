/** Values for `${NAME}` references: item values over the task's environment. */
export type ArgVars = Readonly<Record<string, string | undefined>>;

/**
 * Splits an argument string the way a POSIX shell splits words, without running one: blanks
 * separate words, `'...'` is literal, `"..."` keeps blanks and honours `\"`, `\\`, `\$`, and a
 * backslash outside quotes escapes the next character. `${NAME}` outside single quotes is replaced
 * by `vars[NAME]` as literal text of the current word, so a value is never split, re-quoted or
 * globbed. Nothing else is expanded (`$HOME`, `*`, `~`, `;` stay as written).
 *
 * @throws Error on an unterminated quote or `${`, or a `${NAME}` that `vars` does not define
 *   (the message names the variable and the text).
 */
export function tokenizeArgs(text: string, vars: ArgVars = {}): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`${why} in ${JSON.stringify(text)}`);
  };
  // Reads `${NAME}` starting at text[i] === "$"; returns the index after "}".
  const expand = (at: number): number => {
    const end = text.indexOf("}", at + 2);
    if (end < 0) fail("unterminated ${");
    const name = text.slice(at + 2, end);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      fail(`invalid variable name ${JSON.stringify(name)}`);
    const value = vars[name];
    if (value === undefined) {
      fail(`\${${name}} is not set (neither an item value nor an environment variable)`);
    }
    word += value;
    return end + 1;
  };

  while (i < text.length) {
    const c = text[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) fail("unterminated single quote");
      word += text.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= text.length) fail("unterminated double quote");
        const d = text[i]!;
        if (d === '"') {
          i++;
          break;
        }
        if (d === "\\" && i + 1 < text.length && '"\\$'.includes(text[i + 1]!)) {
          word += text[i + 1];
          i += 2;
        } else if (d === "$" && text[i + 1] === "{") {
          i = expand(i);
        } else {
          word += d;
          i++;
        }
      }
    } else if (c === "\\") {
      if (i + 1 < text.length) word += text[i + 1];
      i += 2;
    } else if (c === "$" && text[i + 1] === "{") {
      i = expand(i);
    } else {
      word += c;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * Fills every `${NAME}` in `text` from `vars` (no quoting rules; for paths).
 * @throws Error naming the first variable that `vars` does not define.
 */
export function fillVars(text: string, vars: ArgVars): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) {
      throw new Error(
        `\${${name}} is not set (neither an item value nor an environment variable) in ${JSON.stringify(text)}`,
      );
    }
    return value;
  });
}
