/**
 * An object whose properties are made by `makers` on first read: a command uses a few of the
 * store's statements, and preparing all of them took ~1.5 ms of every command.
 */
export function lazily<T extends Record<string, () => unknown>>(
  makers: T,
): { readonly [K in keyof T]: ReturnType<T[K]> } {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(makers)) {
    Object.defineProperty(out, key, {
      configurable: true,
      enumerable: true,
      get() {
        const value = makers[key]!();
        Object.defineProperty(out, key, { value, enumerable: true });
        return value;
      },
    });
  }
  return out as { readonly [K in keyof T]: ReturnType<T[K]> };
}
