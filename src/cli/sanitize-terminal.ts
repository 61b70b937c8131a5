/**
 * Task output made safe to show on a terminal. A task's bytes can carry escape sequences that
 * retitle the window (OSC), clear the screen or move the cursor (CSI), set clipboard contents
 * (OSC 52) or talk to the terminal in other ways; dagwright prints task output (failure tails,
 * `run -v` lines, `logs`) only after this.
 *
 * @module
 */

// One pass over: ESC followed by CSI (`[` params intermediates final), an OSC/DCS/SOS/PM/APC
// string (ended by BEL or ST, or by the end of the text), or one more character (two-character
// sequences such as `ESC c`); the same for the 8-bit introducers (U+009B CSI, U+009D OSC, …);
// and single control characters: C0 but tab and newline, DEL, C1.
const CONTROLS =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal controls on purpose
  /(?:\u001b\[|\u009b)([0-?]*)([ -/]*)([@-~])?|(?:\u001b[\]PX^_]|[\u0090\u0098\u009d-\u009f])[^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c)?|\u001b[\s\S]?|[\u0000-\u0008\u000b-\u001a\u001c-\u001f\u007f-\u009f]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal controls on purpose
const ANY_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

/** What {@link sanitizeTerminal} keeps. */
export interface SanitizeOptions {
  /** Keep SGR sequences (`ESC [ … m`: colours, bold) when true (`--color`). */
  colors: boolean;
}

/**
 * `text` with every terminal escape sequence removed (SGR colours kept when `colors`) and every
 * other control character but tab and newline shown in caret notation (`^M` for a carriage
 * return, `^[` for a lone ESC, `^?` for DEL, `M-^[` for C1 controls), so nothing in the text can
 * act on the terminal or hide the text around it.
 */
export function sanitizeTerminal(text: string, options: SanitizeOptions): string {
  if (!ANY_CONTROL.test(text)) return text; // most lines are plain text
  return text.replace(
    CONTROLS,
    (seq: string, params: string | undefined, inter: string | undefined, final?: string) => {
      if (seq.length === 1 && seq !== "\u001b" && seq !== "\u009b") return caret(seq);
      const sgr = final === "m" && inter === "" && /^[\d;:]*$/.test(params ?? "x");
      return options.colors && sgr && seq.startsWith("\u001b[") ? seq : "";
    },
  );
}

function caret(c: string): string {
  const code = c.charCodeAt(0);
  if (code === 0x7f) return "^?";
  if (code >= 0x80) return `M-^${String.fromCharCode(code - 0x80 + 0x40)}`;
  return `^${String.fromCharCode(code + 0x40)}`;
}

/**
 * `event` with {@link sanitizeTerminal} applied to each string and each string in an array among
 * its fields (task output, errors, item keys, reasons). The same object when nothing changed.
 */
export function sanitizeEvent<T extends object>(event: T, options: SanitizeOptions): T {
  let out: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(event)) {
    let clean: unknown = value;
    if (typeof value === "string") clean = sanitizeTerminal(value, options);
    else if (Array.isArray(value) && value.some((v) => typeof v === "string")) {
      const mapped = value.map((v) => (typeof v === "string" ? sanitizeTerminal(v, options) : v));
      if (mapped.some((v, i) => v !== value[i])) clean = mapped;
    }
    if (clean !== value) {
      out ??= { ...(event as Record<string, unknown>) };
      out[key] = clean;
    }
  }
  return (out ?? event) as T;
}
