/** The callbacks waiting on one signal, and the one listener that calls them. */
interface Watchers {
  readonly callbacks: Set<() => void>
  readonly listener: () => void
}

const watched = new WeakMap<AbortSignal, Watchers>()

/**
 * Calls `callback` once when `signal` aborts, unless the returned function is
 * called first. However many callbacks watch one signal, the signal carries
 * one `abort` listener of ours (added with the first, removed with the last),
 * so any number of waiters can share a caller's signal without Node's
 * `MaxListenersExceededWarning` and without changing the signal itself.
 * Adding and removing are O(1). An already-aborted signal is the caller's
 * check: the callback is then never called.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let watchers = watched.get(signal)
  if (watchers === undefined) {
    const callbacks = new Set<() => void>()
    const listener = (): void => {
      watched.delete(signal)
      for (const each of [...callbacks]) each()
      callbacks.clear()
    }
    watchers = { callbacks, listener }
    watched.set(signal, watchers)
    signal.addEventListener('abort', listener, { once: true })
  }
  const own = watchers
  // A wrapper per registration, so the same function registered twice is removed once each.
  const entry = (): void => callback()
  own.callbacks.add(entry)
  return () => {
    if (!own.callbacks.delete(entry) || own.callbacks.size > 0) return
    if (watched.get(signal) !== own) return
    watched.delete(signal)
    signal.removeEventListener('abort', own.listener)
  }
}
