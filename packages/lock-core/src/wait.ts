import { onAbort } from './abort-watch.js'
import {
  type LeaseOperations,
  type LeaseRequest,
  lockOperations,
  type RefusedAttempt,
} from './lease-operations.js'
import { channels, leaseKind } from './telemetry.js'
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
export interface AcquireAttempt extends LeaseRequest {
  /** The kind of lease: a lock (the default) or a semaphore's permits. */
  readonly operations?: LeaseOperations
  /** How long to keep trying, in ms; 0 tries once. */
  readonly waitMs: number
  readonly signal?: AbortSignal | undefined
  /**
   * `performance.now()` when the caller began, if it read it just before:
   * the wait counts from it, and a first attempt sent straight away uses it
   * as its `sentAt` (earlier than the send, so never later than the lease).
   * Saves two clock reads per acquire on the common path. Default: read here.
   */
  readonly start?: number | undefined
}

/**
 * Tries to acquire until it succeeds or `waitMs` has passed: a lock, or a
 * semaphore's permits (`attempt.operations`; "the key is held" then means
 * "too few permits are free", and the holder's remaining lease is the
 * soonest holder's).
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
  const { backend, waitMs, signal } = attempt
  const operations = attempt.operations ?? lockOperations
  const start = attempt.start ?? performance.now()
  let refused: RefusedAttempt | undefined
  if (waitMs === 0 || WaiterQueue.find(backend, operations.queueKey(attempt.key)) === undefined) {
    signal?.throwIfAborted()
    const sentAt = start
    const result = await operations.attempt(attempt)
    if (result.acquired) return { fence: result.fence, ttlMs: result.ttlMs, sentAt }
    signal?.throwIfAborted()
    if (waitMs === 0) throw operations.busyError(attempt, result)
    refused = result
  }
  return waitInLine(attempt, operations, start, refused)
}

/**
 * The rest of {@link acquireWithWait} for a caller that made the first
 * attempt itself, at `start`, and was refused: waits in line as
 * `acquireWithWait` would have.
 */
export function waitAfterRefusal(
  attempt: AcquireAttempt,
  start: number,
  refused: RefusedAttempt,
): Promise<Acquisition> {
  return waitInLine(attempt, attempt.operations ?? lockOperations, start, refused)
}

/** The waiting part of {@link acquireWithWait}: in this process's queue for the key, then as its head. */
async function waitInLine(
  attempt: AcquireAttempt,
  operations: LeaseOperations,
  start: number,
  firstRefusal: RefusedAttempt | undefined,
): Promise<Acquisition> {
  const { backend, signal } = attempt
  const deadline = start + attempt.waitMs
  let holder = firstRefusal
  const timeout = () => operations.timeoutError(attempt, Math.round(performance.now() - start), holder)
  const { queue, waiter } = WaiterQueue.join(backend, operations.queueKey(attempt.key))
  if (channels.wait.hasSubscribers) {
    const kind = leaseKind(operations.noun)
    channels.wait.publish({ kind, backend: backend.name, key: attempt.displayKey, owner: attempt.owner })
  }
  const canWake = operations.canWake(backend)
  const grantWait = operations.grantWait(backend)
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
      // (Only for an exclusive lease: heldByWaiter is never recorded for a shared one.)
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
        const bound = Math.min(left, Math.max(1, operations.heldForMs(holder) + 1))
        if (grantWait !== undefined) {
          // Queued in the backend: a release hands the key over with its message, no attempt needed.
          // Only the caller's signal ends it: a release through this process grants to the oldest
          // waiter queued in the backend, which may be this one; the grant then arrives by itself.
          const grant = await grantWait(attempt, Math.ceil(bound), signal)
          if (grant !== undefined) {
            const sentAt = performance.now()
            if (signal?.aborted) {
              // Handed over as the caller gave up: pass it on at once rather than let it strand.
              await operations.release(backend, attempt.key, attempt.owner).catch(() => false)
              signal.throwIfAborted()
            }
            queue.heldByWaiter(sentAt + grant.remainingMs, false)
            return { fence: grant.fence, ttlMs: grant.remainingMs, sentAt }
          }
          // Otherwise the wait ended without a grant (no longer queued): the key may be free, try it.
        } else {
          const parked = queue.beginPark(signal)
          if (parked !== undefined) {
            try {
              if (canWake) await operations.waitForWake(attempt, Math.ceil(bound), parked.signal)
              else {
                await sleep(Math.min(jitter(backoff), bound), parked.signal)
                backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)
              }
            } finally {
              queue.endPark(parked)
            }
          }
        }
        signal?.throwIfAborted()
      }
      const sentAt = performance.now()
      const result = await operations.attempt(attempt)
      queue.noteAttempt(performance.now() - sentAt)
      if (result.acquired) {
        if (operations.exclusive) queue.heldByWaiter(sentAt + result.ttlMs, fromLocal)
        return { fence: result.fence, ttlMs: result.ttlMs, sentAt }
      }
      signal?.throwIfAborted()
      holder = result
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
