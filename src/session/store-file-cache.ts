import type { FileHash, FileHashCache } from "../fingerprint/hash-file.js";
import type { StateStore } from "../state/state-store.js";

/**
 * A file hash cache over the store: reads hit the store's cache, writes are batched until
 * `flush`, which writes them in one transaction.
 */
export function storeFileCache(store: StateStore): { cache: FileHashCache; flush: () => void } {
  const pending = new Map<string, FileHash>();
  return {
    cache: {
      get: (p) => pending.get(p) ?? store.getFileHash(p),
      put: (p, h) => {
        pending.set(p, h);
      },
    },
    flush: () => {
      if (pending.size === 0) return;
      store.putFileHashes([...pending].map(([p, h]) => ({ path: p, ...h })));
      pending.clear();
    },
  };
}
