import type { ReleaseSubscriber } from './release-subscriber.js'

/** Slack added to a holder's remaining lease when waiting for its expiry, in ms. */
export const EXPIRY_SLACK_MS = 2

/** What {@link waitOnChannel} needs. */
export interface ChannelWait {
  /** The backend's release subscriber. */
  readonly subscriber: ReleaseSubscriber
  /** The backend's pending waits, settled by its `close()`. */
  readonly waiters: Set<() => void>
  /** The channel whose message ends the wait. */
  readonly channel: string
  readonly timeoutMs: number
  readonly signal: AbortSignal | undefined
  /**
   * Runs once the subscription stands: `null` when the wait is already over
   * (the key is free, or there is room), else the milliseconds until it ends
   * by itself (the earliest expiry that stands in the way).
   */
  readonly check: () => Promise<number | null>
  /** Wraps a Redis failure into the backend's error. */
  readonly fail: (error: unknown) => Error
}

/**
 * The wake-up of `waitForRelease` and `waitForPermits`: subscribes to the
 * channel, then checks once, so a release between the two is not missed.
 * Resolves on a message, once the check says the wait is over, at the
 * expiry the check reports (plus {@link EXPIRY_SLACK_MS}; expiry sends no
 * message), at `timeoutMs`, on abort, or when the backend closes (through
 * `waiters`). Rejects only when Redis fails. There is no polling.
 */
export function waitOnChannel(wait: ChannelWait): Promise<void> {
  const { signal, waiters } = wait
  if (signal?.aborted) return Promise.resolve()
  const deadline = performance.now() + wait.timeoutMs
  return new Promise<void>((resolve, reject) => {
    let settled = false
    let stop: (() => void) | undefined
    let timer = setTimeout(() => finish(), wait.timeoutMs)
    const wake = () => finish()
    const finish = (error?: unknown) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', wake)
      waiters.delete(wake)
      stop?.()
      if (error === undefined) resolve()
      else reject(wait.fail(error))
    }
    signal?.addEventListener('abort', wake, { once: true })
    waiters.add(wake)
    wait.subscriber
      .listen(wait.channel, wake)
      .then(async (unlisten) => {
        stop = unlisten
        if (settled) return unlisten()
        const untilOver = await wait.check()
        if (settled) return
        if (untilOver === null) return finish()
        clearTimeout(timer)
        const left = Math.min(deadline - performance.now(), untilOver + EXPIRY_SLACK_MS)
        timer = setTimeout(() => finish(), Math.max(0, left))
      })
      .catch(finish)
  })
}
