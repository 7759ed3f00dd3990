/**
 * Waiting and wake-up for the SQLite backend.
 *
 * SQLite has no way to notify another process. Within one process a release
 * wakes waiters at once through an in-process channel: every backend instance
 * on the same file and table shares one, so a release through any instance
 * wakes this process's waiters, whatever instance they wait through. Across
 * processes a release of a lease that a waiter flagged touches the wake file
 * next to the database (`sqlite-wake-file.ts`), which waiting processes watch; polls of the
 * database remain as a safety net, and as the only way where the wake file
 * cannot be watched.
 */

/** In-process wake-up channels: channel name → key → waiters. */
const channels = new Map<string, Map<string, Set<() => void>>>()

/** Adds a waiter for `key` on `channel`; returns its removal. */
export function subscribe(channel: string, key: string, wake: () => void): () => void {
  let keys = channels.get(channel)
  if (keys === undefined) {
    keys = new Map()
    channels.set(channel, keys)
  }
  let waiters = keys.get(key)
  if (waiters === undefined) {
    waiters = new Set()
    keys.set(key, waiters)
  }
  waiters.add(wake)
  return () => {
    waiters.delete(wake)
    if (waiters.size === 0 && keys.get(key) === waiters) keys.delete(key)
    if (keys.size === 0 && channels.get(channel) === keys) channels.delete(channel)
  }
}

/** Wakes every waiter for `key` on `channel`. */
export function notify(channel: string, key: string): void {
  const waiters = channels.get(channel)?.get(key)
  if (waiters === undefined) return
  for (const wake of [...waiters]) wake()
}

/** A delay between `ms / 2` and `ms`, at least 1 ms. */
export function jitter(ms: number): number {
  return Math.max(1, Math.round(ms / 2 + (Math.random() * ms) / 2))
}

/** What {@link pollUntilFree} needs. */
export interface PollWait {
  /** The in-process channel a release on this file and table notifies. */
  readonly channel: string
  /** The key (lock or semaphore) waited for. */
  readonly key: string
  readonly timeoutMs: number
  readonly signal: AbortSignal | undefined
  /** The longest pause between two polls. */
  readonly pollMaxMs: number
  /**
   * Watches the wake file: calls `onChange` on a touch by any process and
   * returns the unwatch, or `undefined` where the file cannot be watched.
   */
  readonly watch?: ((onChange: () => void) => (() => void) | undefined) | undefined
  /** The longest pause between two safety polls while the wake file is watched. */
  readonly watchedPollMaxMs?: number
  /** The backend's set of pending waits: `close()` calls each to resolve it. */
  readonly pending: Set<() => void>
  /**
   * One look at the file: `undefined` when the wait is over (free, changed
   * hands, or the look failed: the caller's next attempt reports it), else
   * the milliseconds until the earliest lease that stands in the way runs
   * out (the next poll never comes later than that).
   */
  readonly look: () => Promise<number | undefined>
}

/**
 * Resolves when `look` says the wait is over, when a release on `channel`
 * for `key` is notified in this process, when `timeoutMs` ends, or when
 * `signal` aborts; never rejects. It subscribes first and looks second, so
 * a release between the two is not missed. The pause between polls starts
 * near 1 ms, doubles up to `pollMaxMs`, and never outlasts the lease that
 * stands in the way, so an expiry is seen at once.
 */
export function pollUntilFree(wait: PollWait): Promise<void> {
  const { signal, pending } = wait
  if (signal?.aborted) return Promise.resolve()
  return new Promise<void>((resolve) => {
    let done = false
    let pollTimer: NodeJS.Timeout | undefined
    const finish = (): void => {
      if (done) return
      done = true
      clearTimeout(pollTimer)
      clearTimeout(deadline)
      unsubscribe()
      unwatch?.()
      signal?.removeEventListener('abort', finish)
      pending.delete(finish)
      resolve()
    }
    const unsubscribe = subscribe(wait.channel, wait.key, finish)
    signal?.addEventListener('abort', finish, { once: true })
    pending.add(finish)
    const deadline = setTimeout(finish, Math.max(0, wait.timeoutMs))

    let pause = 1
    let polling = false
    let pollAgain = false
    const poll = async (): Promise<void> => {
      if (polling) {
        // A touch of the wake file during a poll: look once more when it ends.
        pollAgain = true
        return
      }
      polling = true
      clearTimeout(pollTimer)
      let remainingMs: number | undefined
      try {
        remainingMs = await wait.look()
      } catch {
        remainingMs = undefined
      } finally {
        polling = false
      }
      if (done) return
      if (remainingMs === undefined) {
        finish()
        return
      }
      if (pollAgain) {
        pollAgain = false
        void poll()
        return
      }
      pollTimer = setTimeout(poll, Math.min(jitter(pause), remainingMs))
      pause = Math.min(pause * 2, maxPause)
    }
    // Watch before the first look, like the subscription above.
    const unwatch = wait.watch?.(() => void poll())
    const maxPause =
      unwatch === undefined
        ? wait.pollMaxMs
        : Math.max(wait.pollMaxMs, wait.watchedPollMaxMs ?? wait.pollMaxMs)
    void poll()
  })
}
