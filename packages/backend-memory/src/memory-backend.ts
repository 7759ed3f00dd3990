import {
  type AcquireResult,
  backendClosedError,
  type CacheEntry,
  type ListOptions,
  type ListPage,
  type LockBackend,
  type LockInfo,
  type PermitAcquireResult,
  type PermitHolders,
  type StoredCacheEntry,
} from '@lockwork/core'
import { listMemory } from './memory-list.js'
import { MemoryStore } from './memory-store.js'

/** Options of {@link createMemoryBackend}. */
export interface MemoryBackendOptions {
  /** The state to use; share one store between backends to have them see the same locks. Default: a new store. */
  readonly store?: MemoryStore
}

/**
 * The lock contract for one process, in memory. Locks are not shared with
 * other processes: use `@lockwork/sqlite` for several processes on one
 * machine, Redis or PostgreSQL for a fleet.
 */
export class MemoryBackend implements LockBackend {
  readonly name = 'memory'
  readonly #store: MemoryStore
  #closed = false

  constructor(options: MemoryBackendOptions = {}) {
    this.#store = options.store ?? new MemoryStore()
  }

  async acquire(key: string, owner: string, ttlMs: number): Promise<AcquireResult> {
    this.#open()
    const fence = this.#store.acquire(key, owner, ttlMs)
    if (fence > 0) return { acquired: true, fence, ttlMs }
    // Refused means held by someone else; that lease stays in the map until the next call for the key,
    // even when it expires between the refusal's clock reading and this one.
    const holder = this.#store.refusedBy(key)
    if (holder === null) throw new Error(`memory: ${key} was refused but has no holder`)
    return { acquired: false, holder }
  }

  async extend(key: string, owner: string, ttlMs: number): Promise<boolean> {
    this.#open()
    return this.#store.extend(key, owner, ttlMs)
  }

  async release(key: string, owner: string): Promise<boolean> {
    this.#open()
    return this.#store.release(key, owner)
  }

  async peek(key: string): Promise<LockInfo | null> {
    this.#open()
    return this.#store.peek(key)
  }

  async getCached(key: string): Promise<StoredCacheEntry | undefined> {
    this.#open()
    return this.#store.getCached(key)
  }

  async setCached(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    this.#open()
    this.#store.setCached(key, entry, ttlMs)
  }

  async deleteCached(key: string): Promise<boolean> {
    this.#open()
    return this.#store.deleteCached(key)
  }

  /** Resolves on release of `key` (an in-process event), at its holder's expiry, at the timeout, or on abort. */
  async waitForRelease(key: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    this.#open()
    return new Promise<void>((resolve) => {
      const holder = this.#store.peek(key)
      if (holder === null || signal?.aborted) return resolve()
      const done = () => {
        clearTimeout(timer)
        unsubscribe()
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const unsubscribe = this.#store.onRelease(key, done)
      const timer = setTimeout(done, Math.min(timeoutMs, holder.remainingMs))
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  /** {@inheritDoc @lockwork/core#LockBackend.list} Also reports how many callers wait for each lock. */
  async list(options: ListOptions): Promise<ListPage> {
    this.#open()
    return listMemory(this.#store, options)
  }

  async acquirePermits(
    key: string,
    owner: string,
    permits: number,
    limit: number,
    ttlMs: number,
  ): Promise<PermitAcquireResult> {
    this.#open()
    return this.#store.semaphores.acquire(key, owner, permits, limit, ttlMs)
  }

  async extendPermits(key: string, owner: string, ttlMs: number): Promise<boolean> {
    this.#open()
    return this.#store.semaphores.extend(key, owner, ttlMs)
  }

  async releasePermits(key: string, owner: string): Promise<boolean> {
    this.#open()
    return this.#store.semaphores.release(key, owner)
  }

  async peekPermits(key: string): Promise<PermitHolders> {
    this.#open()
    return this.#store.semaphores.peek(key)
  }

  /** Resolves when permits of `key` are released (an in-process event), at the soonest holder's expiry, at the timeout, or on abort. */
  async waitForPermits(
    key: string,
    permits: number,
    limit: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    this.#open()
    return this.#store.semaphores.waitForPermits(key, permits, limit, timeoutMs, signal)
  }

  async close(): Promise<void> {
    this.#closed = true
  }

  #open(): void {
    if (this.#closed) throw backendClosedError(this.name, 'call')
  }
}

/** Creates an in-process backend; pass `store` to share state between several backends. */
export function createMemoryBackend(options: MemoryBackendOptions = {}): MemoryBackend {
  return new MemoryBackend(options)
}
