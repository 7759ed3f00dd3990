import type { LockBackend } from './backend.js'
import { LockBusyError, LockTimeoutError } from './errors.js'

/** The first backoff delay when a backend has no `waitForRelease`, in ms. */
export const INITIAL_BACKOFF_MS = 1
/** The longest backoff delay between attempts, in ms. */
export const MAX_BACKOFF_MS = 100

/** Where a successful acquisition landed. */
export interface Acquisition {
  readonly fence: number
  readonly ttlMs: number
  /** `performance.now()` just before the winning attempt was sent: the lease cannot expire earlier than this + ttlMs. */
  readonly sentAt: number
}

/** What {@link acquireWithWait} needs. */
export interface AcquireAttempt {
  readonly backend: LockBackend
  /** The full key (prefix included) passed to the backend. */
  readonly key: string
  /** The key as the caller named it, for error messages. */
  readonly displayKey: string
  readonly owner: string
  readonly ttlMs: number
  /** How long to keep trying, in ms; 0 tries once. */
  readonly waitMs: number
  readonly signal?: AbortSignal | undefined
}

/**
 * Tries to acquire until it succeeds or `waitMs` has passed. Between attempts
 * it uses the backend's `waitForRelease` when present (wake-on-release),
 * otherwise jittered exponential backoff from ~1 ms capped at
 * {@link MAX_BACKOFF_MS}; it never sleeps past the deadline nor past the
 * holder's remaining lease. An aborted `signal` rejects with its reason.
 *
 * @throws LockBusyError when `waitMs` is 0 and the key is held.
 * @throws LockTimeoutError when the key is still held at the deadline.
 */
export async function acquireWithWait(attempt: AcquireAttempt): Promise<Acquisition> {
  const { backend, key, owner, ttlMs, waitMs, signal } = attempt
  const start = performance.now()
  const deadline = start + waitMs
  let backoff = INITIAL_BACKOFF_MS
  for (;;) {
    signal?.throwIfAborted()
    const sentAt = performance.now()
    const result = await backend.acquire(key, owner, ttlMs)
    if (result.acquired) return { fence: result.fence, ttlMs: result.ttlMs, sentAt }
    signal?.throwIfAborted()
    const now = performance.now()
    const left = deadline - now
    if (left <= 0) {
      if (waitMs === 0) throw new LockBusyError(attempt.displayKey, result.holder.remainingMs)
      throw new LockTimeoutError(attempt.displayKey, Math.round(now - start))
    }
    // The holder's lease ends by itself after remainingMs: never wait longer than that.
    const holderLeft = Math.max(1, result.holder.remainingMs + 1)
    if (backend.waitForRelease) {
      await backend.waitForRelease(key, Math.ceil(Math.min(left, holderLeft)), signal)
    } else {
      await sleep(Math.min(jitter(backoff), left, holderLeft), signal)
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)
    }
  }
}

/** A delay between half and all of `ms`, so contending waiters spread out. */
export function jitter(ms: number): number {
  return ms / 2 + Math.random() * (ms / 2)
}

/**
 * Resolves after `ms`, or as soon as `signal` aborts (it never rejects; the
 * caller checks the signal).
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, Math.max(0, ms))
    signal?.addEventListener('abort', done, { once: true })
  })
}
