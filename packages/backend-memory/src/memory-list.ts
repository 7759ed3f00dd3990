import {
  type ListedCacheEntry,
  type ListedLock,
  type ListOptions,
  type ListPage,
  listByKey,
} from '@lockwork/core'
import type { MemoryStore } from './memory-store.js'

/** Ascending key order (UTF-16 code units), the order the cursor's `after` is compared in. */
function byKey(a: { readonly key: string }, b: { readonly key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0
}

/** Up to `limit` entries of `entries` after `after`, in key order. */
function pageOf<T extends { readonly key: string }>(
  entries: T[],
  after: string | undefined,
  limit: number,
): T[] {
  return entries
    .filter((entry) => after === undefined || entry.key > after)
    .sort(byKey)
    .slice(0, limit)
}

/**
 * One page of the memory store's unexpired locks (with how many callers wait
 * for each) and cache entries under `options.prefix`, in key order. Every
 * call looks at every key of the store: fine for the sizes one process holds.
 */
export function listMemory(store: MemoryStore, options: ListOptions): Promise<ListPage> {
  return listByKey(options, {
    locks: async (prefix, after, limit): Promise<ListedLock[]> =>
      pageOf(store.listLeases(prefix), after, limit),
    cacheEntries: async (prefix, after, limit): Promise<ListedCacheEntry[]> =>
      pageOf(store.listCached(prefix), after, limit),
  })
}
