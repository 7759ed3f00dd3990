import { onAbort } from './abort-watch.js'
import type { LockBackend, LockInfo } from './backend.js'
import { LockBusyError, LockTimeoutError } from './errors.js'
import { labelOf } from './owner-label.js'
import { WaiterQueue } from './waiter-queue.js'

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
 * Tries to acquire until it succeeds or `waitMs` has passed.
 *
 * The first attempt goes straight to the backend. If the key is held, the
 * caller joins this process's queue for the key ({@link WaiterQueue}): only
 * the queue's head contends, the others wait in arrival order without
 * touching the backend, so a release wakes one waiter per process however
 * many wait. Between its attempts the head uses the backend's
 * `waitForRelease` when present (wake-on-release), otherwise jittered
 * exponential backoff from ~1 ms capped at {@link MAX_BACKOFF_MS}; a release
 * through this process wakes it at once. It never sleeps past the deadline
 * nor past the holder's remaining lease. An aborted `signal` rejects with its
 * reason. A caller arriving while others of this process wait joins the end
 * of the queue without trying first.
 *
 * @throws LockBusyError when `waitMs` is 0 and the key is held.
 * @throws LockTimeoutError when the key is still held at the deadline.
 */
export async function acquireWithWait(attempt: AcquireAttempt): Promise<Acquisition> {
  const { backend, key, owner, ttlMs, waitMs, signal } = attempt
  const start = performance.now()
  let holder: LockInfo | undefined
  if (waitMs === 0 || WaiterQueue.find(backend, key) === undefined) {
    signal?.throwIfAborted()
    const sentAt = performance.now()
    const result = await backend.acquire(key, owner, ttlMs)
    if (result.acquired) return { fence: result.fence, ttlMs: result.ttlMs, sentAt }
    signal?.throwIfAborted()
    if (waitMs === 0)
      throw new LockBusyError(
        attempt.displayKey,
        result.holder.remainingMs,
        labelOf(result.holder.owner)?.text,
      )
    holder = result.holder
  }
  return waitInLine(attempt, start, holder)
}

/** The waiting part of {@link acquireWithWait}: in this process's queue for the key, then as its head. */
async function waitInLine(
  attempt: AcquireAttempt,
  start: number,
  firstHolder: LockInfo | undefined,
): Promise<Acquisition> {
  const { backend, key, owner, ttlMs, signal } = attempt
  const deadline = start + attempt.waitMs
  const { queue, waiter } = WaiterQueue.join(backend, key)
  let holder = firstHolder
  /** The last holder seen, for the timeout's message. */
  let lastHolder = firstHolder
  const timeout = () =>
    new LockTimeoutError(
      attempt.displayKey,
      Math.round(performance.now() - start),
      lastHolder === undefined ? undefined : labelOf(lastHolder.owner)?.text,
    )
  let backoff = INITIAL_BACKOFF_MS
  /** Whether the key was last held by a waiter of this process (a local hand-off). */
  let fromLocal = false
  try {
    if (!queue.isHead(waiter)) {
      await queue.awaitTurn(waiter, deadline, signal)
      signal?.throwIfAborted()
      if (!queue.isHead(waiter)) throw timeout()
      // What the holder looked like before our turn says nothing now: try at once,
      // unless a waiter of this process holds the key: then its release wakes us.
      holder = undefined
      const heldMs = queue.heldLocallyMs()
      if (heldMs > 0) {
        fromLocal = true
        const parked = queue.beginPark(signal)
        if (parked !== undefined) {
          try {
            await sleep(Math.min(heldMs, deadline - performance.now()), parked.signal)
          } finally {
            queue.endPark(parked)
          }
        }
        signal?.throwIfAborted()
        // Fairness across processes: now and then let a waiter elsewhere try first.
        const yieldMs = queue.yieldMs()
        if (yieldMs > 0) {
          await sleep(Math.min(yieldMs, deadline - performance.now()), signal)
          signal?.throwIfAborted()
        }
      }
    }
    for (;;) {
      if (holder !== undefined) {
        const left = deadline - performance.now()
        if (left <= 0) throw timeout()
        // The holder's lease ends by itself after remainingMs: never wait longer than that.
        const bound = Math.min(left, Math.max(1, holder.remainingMs + 1))
        const parked = queue.beginPark(signal)
        if (parked !== undefined) {
          try {
            if (backend.waitForRelease) await backend.waitForRelease(key, Math.ceil(bound), parked.signal)
            else {
              await sleep(Math.min(jitter(backoff), bound), parked.signal)
              backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)
            }
          } finally {
            queue.endPark(parked)
          }
        }
        signal?.throwIfAborted()
      }
      const sentAt = performance.now()
      const result = await backend.acquire(key, owner, ttlMs)
      queue.noteAttempt(performance.now() - sentAt)
      if (result.acquired) {
        queue.heldByWaiter(sentAt + result.ttlMs, fromLocal)
        return { fence: result.fence, ttlMs: result.ttlMs, sentAt }
      }
      signal?.throwIfAborted()
      holder = result.holder
      lastHolder = holder
      fromLocal = false
    }
  } finally {
    queue.leave(waiter)
  }
}

/** A delay between half and all of `ms`, so contending waiters spread out. */
export function jitter(ms: number): number {
  return ms / 2 + Math.random() * (ms / 2)
}

/**
 * Resolves after `ms`, or as soon as `signal` aborts (it never rejects; the
 * caller checks the signal). Any number of concurrent sleeps may share one
 * signal: they add a single listener to it between them.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    let unwatch: (() => void) | undefined
    const done = () => {
      clearTimeout(timer)
      unwatch?.()
      resolve()
    }
    const timer = setTimeout(done, Math.max(0, ms))
    if (signal !== undefined) unwatch = onAbort(signal, done)
  })
}
