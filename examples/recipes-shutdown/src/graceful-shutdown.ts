import type { Lockwork } from '@lockwork/core'

/** Options of {@link handleShutdown}. */
export interface GracefulShutdownOptions {
  /**
   * The process's own draining, run first: stop taking new work and wait for
   * the work in progress to end (it sees the returned signal abort). Locks it
   * still holds afterwards are released by `lw.close()` anyway, but work
   * still running under a released lock is no longer protected: end it here.
   */
  readonly drain?: () => Promise<void> | void
  /**
   * The longest the whole shutdown may take, in ms. Past it the process exits
   * with code 1 and whatever it still holds expires at its ttl. Default 10 000.
   */
  readonly timeoutMs?: number
  /** The signals that start the shutdown. Default `['SIGTERM', 'SIGINT']`. */
  readonly signals?: readonly NodeJS.Signals[]
  /** Ends the process. Default `process.exit`. */
  readonly exit?: (code: number) => void
}

/**
 * Installs a graceful shutdown for a process that uses lockwork: on SIGTERM
 * (or SIGINT) it aborts the returned signal, runs `drain`, then
 * `lw.close()`, which stops every `every` job (aborting a run in progress
 * and waiting for it), releases the locks still held through `lw`, and
 * closes the backend; then it exits 0. Another process waiting for one of
 * those keys gets it at once, not when its lease would have expired.
 *
 * A second signal, a failing drain or close, or the timeout exits 1.
 */
export function handleShutdown(lw: Lockwork, options: GracefulShutdownOptions = {}): AbortSignal {
  const controller = new AbortController()
  const exit = options.exit ?? ((code: number) => process.exit(code))
  const timeoutMs = options.timeoutMs ?? 10_000
  const signals = options.signals ?? ['SIGTERM', 'SIGINT']

  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    if (controller.signal.aborted) {
      exit(1) // a second signal: the operator wants out now
      return
    }
    controller.abort(new Error(`${signal} received`))
    const watchdog = setTimeout(() => {
      console.error(`shutdown took longer than ${timeoutMs} ms; exiting with leases left to expire`)
      exit(1)
    }, timeoutMs)
    watchdog.unref()
    try {
      await options.drain?.()
      await lw.close()
      clearTimeout(watchdog)
      exit(0)
    } catch (error) {
      console.error('shutdown failed:', error)
      exit(1)
    }
  }
  for (const signal of signals) process.on(signal, (s: NodeJS.Signals) => void shutdown(s))
  return controller.signal
}
