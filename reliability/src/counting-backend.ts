import type {
  AcquireResult,
  CacheEntry,
  LockBackend,
  LockGrant,
  LockInfo,
  StoredCacheEntry,
} from '@lockwork/core'

/** The methods of {@link LockBackend} a {@link CountingBackend} counts. */
export type BackendMethod = Exclude<keyof LockBackend, 'name'>

/**
 * A pass-through {@link LockBackend} that counts every call, to prove that
 * rejected input never reaches the backend. Has `waitForRelease` and
 * `waitForGrant` exactly when the wrapped backend does.
 */
export class CountingBackend implements LockBackend {
  readonly name: string
  readonly calls = new Map<BackendMethod, number>()
  readonly waitForRelease?: (key: string, timeoutMs: number, signal?: AbortSignal) => Promise<void>
  readonly waitForGrant?: (
    key: string,
    owner: string,
    ttlMs: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ) => Promise<LockGrant | undefined>
  readonly #inner: LockBackend

  constructor(inner: LockBackend) {
    this.#inner = inner
    this.name = inner.name
    const wait = inner.waitForRelease
    if (wait !== undefined) {
      this.waitForRelease = (key, timeoutMs, signal) => {
        this.#count('waitForRelease')
        return wait.call(inner, key, timeoutMs, signal)
      }
    }
    const grant = inner.waitForGrant
    if (grant !== undefined) {
      this.waitForGrant = (key, owner, ttlMs, timeoutMs, signal) => {
        this.#count('waitForGrant')
        return grant.call(inner, key, owner, ttlMs, timeoutMs, signal)
      }
    }
  }

  /** The total number of calls since construction or the last {@link reset}. */
  get total(): number {
    let sum = 0
    for (const n of this.calls.values()) sum += n
    return sum
  }

  /** Forgets the counts. */
  reset(): void {
    this.calls.clear()
  }

  acquire(key: string, owner: string, ttlMs: number): Promise<AcquireResult> {
    this.#count('acquire')
    return this.#inner.acquire(key, owner, ttlMs)
  }

  extend(key: string, owner: string, ttlMs: number): Promise<boolean> {
    this.#count('extend')
    return this.#inner.extend(key, owner, ttlMs)
  }

  release(key: string, owner: string): Promise<boolean> {
    this.#count('release')
    return this.#inner.release(key, owner)
  }

  peek(key: string): Promise<LockInfo | null> {
    this.#count('peek')
    return this.#inner.peek(key)
  }

  getCached(key: string): Promise<StoredCacheEntry | undefined> {
    this.#count('getCached')
    return this.#inner.getCached(key)
  }

  setCached(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    this.#count('setCached')
    return this.#inner.setCached(key, entry, ttlMs)
  }

  deleteCached(key: string): Promise<boolean> {
    this.#count('deleteCached')
    return this.#inner.deleteCached(key)
  }

  close(): Promise<void> {
    this.#count('close')
    return this.#inner.close()
  }

  #count(method: BackendMethod): void {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1)
  }
}
