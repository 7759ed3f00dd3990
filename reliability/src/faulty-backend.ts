import {
  type AcquireResult,
  BackendError,
  type CacheEntry,
  type LockBackend,
  type LockInfo,
  type StoredCacheEntry,
} from '@lockwork/core'
import { sleep } from './clock.js'

/**
 * A pass-through {@link LockBackend} over a real backend, with faults a
 * client meets on a real network injected on demand:
 *
 * - {@link FaultyBackend.delayAcquireReplies}: the next acquisitions reach
 *   the store at once, but their replies arrive late (a slow network or a
 *   stalled client), so the lease is already running down when `acquire`
 *   sees it.
 * - {@link FaultyBackend.failReleases}: the next releases reject with a
 *   `BackendError` without reaching the store, as when the connection drops
 *   before the command is sent: the lease stays until its ttl.
 *
 * Everything else goes to the wrapped backend unchanged. Has
 * `waitForRelease` exactly when the wrapped backend does.
 */
export class FaultyBackend implements LockBackend {
  readonly name: string
  readonly waitForRelease?: (key: string, timeoutMs: number, signal?: AbortSignal) => Promise<void>
  readonly #inner: LockBackend
  #acquireDelays: number[] = []
  #releaseFailures = 0

  constructor(inner: LockBackend) {
    this.#inner = inner
    this.name = inner.name
    const wait = inner.waitForRelease
    if (wait !== undefined) this.waitForRelease = (key, ms, signal) => wait.call(inner, key, ms, signal)
  }

  /** Delays the replies of the next `delaysMs.length` acquisitions, one delay each. */
  delayAcquireReplies(...delaysMs: number[]): void {
    this.#acquireDelays.push(...delaysMs)
  }

  /** Makes the next `count` releases fail before they reach the store. */
  failReleases(count: number): void {
    this.#releaseFailures += count
  }

  async acquire(key: string, owner: string, ttlMs: number): Promise<AcquireResult> {
    const delay = this.#acquireDelays.shift()
    const result = await this.#inner.acquire(key, owner, ttlMs)
    if (delay !== undefined) await sleep(delay)
    return result
  }

  extend(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.#inner.extend(key, owner, ttlMs)
  }

  release(key: string, owner: string): Promise<boolean> {
    if (this.#releaseFailures > 0) {
      this.#releaseFailures--
      const cause = Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' })
      return Promise.reject(new BackendError(this.name, 'release failed: connection lost', { cause }))
    }
    return this.#inner.release(key, owner)
  }

  peek(key: string): Promise<LockInfo | null> {
    return this.#inner.peek(key)
  }

  getCached(key: string): Promise<StoredCacheEntry | undefined> {
    return this.#inner.getCached(key)
  }

  setCached(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    return this.#inner.setCached(key, entry, ttlMs)
  }

  deleteCached(key: string): Promise<boolean> {
    return this.#inner.deleteCached(key)
  }

  close(): Promise<void> {
    return this.#inner.close()
  }
}
