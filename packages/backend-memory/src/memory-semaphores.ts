import type { PermitAcquireResult, PermitHolder, PermitHolders } from '@lockwork/core'

/** One holder's permits as the memory store keeps them. */
interface Holding {
  readonly permits: number
  readonly fence: number
  expiresAt: number
}

/**
 * The semaphores of a {@link MemoryStore}: per key, the holders' permits with
 * millisecond deadlines on `performance.now()` (monotonic), expired holders
 * dropped whenever a key is touched; one fence counter for every semaphore
 * (so fences strictly increase per semaphore, also after every holder
 * expired, with nothing kept for a key once its holders are gone); and the
 * in-process waiters woken by a release.
 */
export class MemorySemaphores {
  readonly #holders = new Map<string, Map<string, Holding>>()
  readonly #waiters = new Map<string, Set<() => void>>()
  #fence = 0

  /** Takes `permits` of `key` for `owner` if they fit under `limit`; idempotent for the same owner (expiry refreshed). */
  acquire(key: string, owner: string, permits: number, limit: number, ttlMs: number): PermitAcquireResult {
    const now = performance.now()
    const holders = this.#live(key, now)
    const own = holders?.get(owner)
    if (own !== undefined) {
      own.expiresAt = now + ttlMs
      return { acquired: true, fence: own.fence, ttlMs }
    }
    if (inUse(holders) + permits > limit) return { acquired: false, holders: describe(holders, now) }
    const holding: Holding = { permits, fence: ++this.#fence, expiresAt: now + ttlMs }
    if (holders === undefined) this.#holders.set(key, new Map([[owner, holding]]))
    else holders.set(owner, holding)
    return { acquired: true, fence: holding.fence, ttlMs }
  }

  /** Resets the expiry of `owner`'s unexpired permits of `key`. */
  extend(key: string, owner: string, ttlMs: number): boolean {
    const now = performance.now()
    const own = this.#live(key, now)?.get(owner)
    if (own === undefined) return false
    own.expiresAt = now + ttlMs
    return true
  }

  /** Frees `owner`'s unexpired permits of `key` and wakes the key's waiters. */
  release(key: string, owner: string): boolean {
    const holders = this.#live(key, performance.now())
    if (holders?.delete(owner) !== true) return false
    if (holders.size === 0) this.#holders.delete(key)
    this.#wake(key)
    return true
  }

  /** The unexpired holders of `key`. */
  peek(key: string): PermitHolders {
    const now = performance.now()
    return describe(this.#live(key, now), now)
  }

  /**
   * Resolves when `permits` of `limit` may be free: at once if they are, on a
   * release of `key` (an in-process event), at the soonest holder's expiry,
   * at the timeout or on abort.
   */
  waitForPermits(
    key: string,
    permits: number,
    limit: number,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    return new Promise<void>((resolve) => {
      const now = performance.now()
      const holders = this.#live(key, now)
      if (signal?.aborted || inUse(holders) + permits <= limit) return resolve()
      let soonest = timeoutMs
      for (const holding of holders?.values() ?? []) soonest = Math.min(soonest, holding.expiresAt - now)
      const done = (): void => {
        clearTimeout(timer)
        this.#unsubscribe(key, done)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      this.#subscribe(key, done)
      const timer = setTimeout(done, Math.max(0, Math.ceil(soonest)))
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  /** The holders of `key` at `now`, dropping expired ones (and the key when none are left). */
  #live(key: string, now: number): Map<string, Holding> | undefined {
    const holders = this.#holders.get(key)
    if (holders === undefined) return undefined
    for (const [owner, holding] of holders) if (holding.expiresAt <= now) holders.delete(owner)
    if (holders.size > 0) return holders
    this.#holders.delete(key)
    return undefined
  }

  #subscribe(key: string, wake: () => void): void {
    let waiting = this.#waiters.get(key)
    if (waiting === undefined) {
      waiting = new Set()
      this.#waiters.set(key, waiting)
    }
    waiting.add(wake)
  }

  #unsubscribe(key: string, wake: () => void): void {
    const waiting = this.#waiters.get(key)
    waiting?.delete(wake)
    if (waiting?.size === 0) this.#waiters.delete(key)
  }

  #wake(key: string): void {
    const waiting = this.#waiters.get(key)
    if (waiting === undefined) return
    for (const wake of [...waiting]) wake()
  }
}

/** The permits held by `holders`. */
function inUse(holders: Map<string, Holding> | undefined): number {
  let sum = 0
  for (const holding of holders?.values() ?? []) sum += holding.permits
  return sum
}

/** `holders` as the contract reports them, remaining time measured at `now`. */
function describe(holders: Map<string, Holding> | undefined, now: number): PermitHolders {
  const list: PermitHolder[] = []
  let sum = 0
  for (const [owner, holding] of holders ?? []) {
    sum += holding.permits
    list.push({
      owner,
      permits: holding.permits,
      fence: holding.fence,
      remainingMs: Math.max(1, Math.ceil(holding.expiresAt - now)),
    })
  }
  return { inUse: sum, holders: list }
}
