import { MAX_DURATION_MS } from '@lockwork/core'
import type { ReleaseListener } from './release-listener.js'

/** Extra time a waiter gives an expiring lease before it re-tries (expiry sends no notification). */
export const EXPIRY_SLACK_MS = 25
/** How long a waiter sleeps between re-tries while the listener is down. */
export const FALLBACK_POLL_MS = 200

/** What {@link listenThenLook} needs. */
export interface ListenWait {
  readonly listener: ReleaseListener
  /** The notification payload that wakes this wait. */
  readonly payload: string
  readonly timeoutMs: number
  readonly signal: AbortSignal | undefined
  /** The backend's set of pending waits: `close()` calls each to resolve it. */
  readonly pending: Set<() => void>
  /**
   * One look, after `LISTEN` is active: `undefined` when the wait is over
   * at once (free), else the milliseconds until the earliest lease that
   * stands in the way runs out. A rejection counts as "look again soon".
   */
  readonly look: () => Promise<number | undefined>
}

/**
 * Resolves when `payload` is notified, when the lease in the way runs out
 * (plus {@link EXPIRY_SLACK_MS}), when `timeoutMs` ends or `signal` aborts;
 * never rejects. Listens first, then looks, so a release after the call
 * starts is never missed. While the listening connection is down, or when
 * the look fails, it resolves after a short pause instead, so the caller
 * re-tries.
 */
export function listenThenLook(wait: ListenWait): Promise<void> {
  const { listener, signal, pending, timeoutMs } = wait
  if (signal?.aborted || !(timeoutMs > 0)) return Promise.resolve()
  const started = Date.now()
  return new Promise<void>((resolve) => {
    let done = false
    let timer: NodeJS.Timeout | undefined
    const finish = (): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      unsubscribe()
      signal?.removeEventListener('abort', finish)
      pending.delete(finish)
      resolve()
    }
    const wakeWithin = (ms: number): void => {
      if (done) return
      clearTimeout(timer)
      timer = setTimeout(
        finish,
        Math.max(0, Math.min(ms, timeoutMs - (Date.now() - started), MAX_DURATION_MS)),
      )
    }
    const unsubscribe = listener.subscribe(wait.payload, finish)
    signal?.addEventListener('abort', finish, { once: true })
    pending.add(finish)
    wakeWithin(timeoutMs)
    const pause = () => FALLBACK_POLL_MS * (0.5 + Math.random())
    void (async () => {
      if (!(await listener.ready())) return wakeWithin(pause())
      if (done) return
      let remainingMs: number | undefined
      try {
        remainingMs = await wait.look()
      } catch {
        return wakeWithin(pause())
      }
      if (remainingMs === undefined) return finish()
      wakeWithin(remainingMs + EXPIRY_SLACK_MS)
    })()
  })
}
