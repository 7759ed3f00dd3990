import type { ListedCacheEntry, ListedLock } from '@lockwork/core'
import NodeCache from 'node-cache'
import { MemorySemaphores } from './memory-semaphores.js'

/** One lease as the memory store keeps it. */
interface Lease {
  readonly owner: string
  readonly fence: number
  expiresAt: number
}

/** A cache entry as the memory store keeps it. */
interface CacheRecord {
  readonly value: string
  readonly computeMs: number
}

/**
 * The state shared by every memory backend created over it: leases, the fence
 * counter, the cache and the waiters. Pass one store to several
 * `createMemoryBackend` calls to have them see the same locks (as separate
 * "instances" in one process); by default each backend gets its own.
 *
 * Leases live in a `Map` with millisecond deadlines on `performance.now()`
 * (monotonic, so wall-clock steps do not move them); the cache lives in
 * node-cache without cloning. Fences come from one store-wide counter, so they
 * strictly increase per key without keeping anything per key after release.
 */
export class MemoryStore {
  /** @internal The semaphores (their own namespace: semaphore `k` and lock `k` are unrelated). */
  readonly semaphores = new MemorySemaphores()
  readonly #leases = new Map<string, Lease>()
  readonly #waiters = new Map<string, Set<() => void>>()
  readonly #cache = new NodeCache({ useClones: false, stdTTL: 0, checkperiod: 60 })
  #fence = 0

  /**
   * Takes `key` if free or expired; idempotent for the same owner. Returns the
   * lease's fence when `owner` holds it now, or 0 when someone else does
   * (fences start at 1): a number, so the common path allocates nothing but the lease.
   */
  acquire(key: string, owner: string, ttlMs: number): number {
    const now = performance.now()
    const current = this.#live(key, now)
    if (current) return current.owner === owner ? current.fence : 0
    const fence = ++this.#fence
    this.#leases.set(key, { owner, fence, expiresAt: now + ttlMs })
    return fence
  }

  /** Resets the lease's expiry if `owner` holds it. */
  extend(key: string, owner: string, ttlMs: number): boolean {
    const now = performance.now()
    const current = this.#live(key, now)
    if (!current || current.owner !== owner) return false
    current.expiresAt = now + ttlMs
    return true
  }

  /** Frees the lease if `owner` holds it, and wakes the key's waiters. */
  release(key: string, owner: string): boolean {
    const current = this.#live(key, performance.now())
    if (!current || current.owner !== owner) return false
    this.#leases.delete(key)
    this.#wake(key)
    return true
  }

  /** The unexpired lease of `key`, with its remaining ms. */
  peek(key: string): { owner: string; fence: number; remainingMs: number } | null {
    const now = performance.now()
    const current = this.#live(key, now)
    return current ? describeLease(current, now) : null
  }

  /**
   * @internal The lease that refused an {@link MemoryStore.acquire} just made for `key`,
   * with its remaining ms (at least 1). Unlike {@link MemoryStore.peek} it
   * does not drop a lease that expired since: the refusal and this call are
   * two clock readings, and a lease can expire between them.
   */
  refusedBy(key: string): { owner: string; fence: number; remainingMs: number } | null {
    const current = this.#leases.get(key)
    return current ? describeLease(current, performance.now()) : null
  }

  /** Registers `wake` to be called when `key` is released; returns the unsubscribe function. */
  onRelease(key: string, wake: () => void): () => void {
    let set = this.#waiters.get(key)
    if (!set) {
      set = new Set()
      this.#waiters.set(key, set)
    }
    set.add(wake)
    return () => {
      const waiting = this.#waiters.get(key)
      waiting?.delete(wake)
      if (waiting?.size === 0) this.#waiters.delete(key)
    }
  }

  /** A cache entry with its remaining ms, or undefined. */
  getCached(key: string): (CacheRecord & { remainingMs: number }) | undefined {
    const record = this.#cache.get<CacheRecord>(key)
    const expiresAt = this.#cache.getTtl(key)
    if (record === undefined || expiresAt === undefined) return undefined
    const remainingMs = expiresAt === 0 ? Number.MAX_SAFE_INTEGER : expiresAt - Date.now()
    if (remainingMs <= 0) {
      this.#cache.del(key)
      return undefined
    }
    return { value: record.value, computeMs: record.computeMs, remainingMs }
  }

  /** Writes a cache entry that expires after `ttlMs`. */
  setCached(key: string, record: CacheRecord, ttlMs: number): void {
    // node-cache takes seconds; fractions keep millisecond precision.
    this.#cache.set<CacheRecord>(key, { value: record.value, computeMs: record.computeMs }, ttlMs / 1000)
  }

  /** Deletes a cache entry; returns whether an unexpired one existed (node-cache's `del` also counts expired ones). */
  deleteCached(key: string): boolean {
    const existed = this.getCached(key) !== undefined
    this.#cache.del(key)
    return existed
  }

  /** Every unexpired lease whose key starts with `prefix`, with its waiters (for `list`). */
  listLeases(prefix: string): ListedLock[] {
    const listed: ListedLock[] = []
    for (const key of this.#leases.keys()) {
      if (!key.startsWith(prefix)) continue
      const holder = this.peek(key)
      if (holder !== null) listed.push({ key, ...holder, waiting: this.#waiters.get(key)?.size ?? 0 })
    }
    return listed
  }

  /** Every unexpired cache entry whose key starts with `prefix`, with its size in UTF-8 bytes (for `list`). */
  listCached(prefix: string): ListedCacheEntry[] {
    const listed: ListedCacheEntry[] = []
    for (const key of this.#cache.keys()) {
      if (!key.startsWith(prefix)) continue
      const entry = this.getCached(key)
      if (entry !== undefined)
        listed.push({ key, size: Buffer.byteLength(entry.value, 'utf8'), remainingMs: entry.remainingMs })
    }
    return listed
  }

  /** The live lease of `key` at `now`, dropping it when expired. */
  #live(key: string, now: number): Lease | undefined {
    const lease = this.#leases.get(key)
    if (lease && lease.expiresAt <= now) {
      this.#leases.delete(key)
      return undefined
    }
    return lease
  }

  #wake(key: string): void {
    const waiting = this.#waiters.get(key)
    if (!waiting) return
    for (const wake of [...waiting]) wake()
  }
}

/** A lease as `peek` and a refusal report it: owner, fence and its remaining ms at `now`, at least 1. */
function describeLease(lease: Lease, now: number): { owner: string; fence: number; remainingMs: number } {
  return {
    owner: lease.owner,
    fence: lease.fence,
    remainingMs: Math.max(1, Math.ceil(lease.expiresAt - now)),
  }
}
