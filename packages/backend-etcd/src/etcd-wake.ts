import type { Etcd3, Watcher } from 'etcd3'

/** Slack added to the holder's remaining time when waiting for its deadline, in ms. */
const EXPIRY_SLACK_MS = 2

/** What a wait learns from its first read: the revision it read at and the holder's remaining time. */
export interface LockState {
  /** The cluster revision of the read. */
  readonly revision: string
  /** Milliseconds until the holder's deadline; 0 or less when the key is free or expired. */
  readonly remainingMs: number
}

/**
 * Wake-on-release through etcd watches: one watch per waiting call, on the
 * owner key, from the revision after the read that found it held, so a
 * release between that read and the watch is delivered, not missed. A watch
 * that fails or ends wakes its caller early (the core simply tries again).
 */
export class ReleaseWatch {
  readonly #client: Etcd3
  readonly #waiters = new Set<() => void>()

  constructor(client: Etcd3) {
    this.#client = client
  }

  /**
   * Resolves when the key `target` (or a key under the prefix `target.key`) is deleted, when the holder's deadline passes, after
   * `timeoutMs`, or when `signal` aborts. Rejects only when the first read fails.
   */
  async wait(
    target: Buffer | { readonly key: Buffer; readonly prefix: true },
    read: () => Promise<LockState>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const deadline = performance.now() + timeoutMs
    const state = await read()
    if (state.remainingMs <= 0 || signal?.aborted) return
    const left = Math.min(deadline - performance.now(), state.remainingMs + EXPIRY_SLACK_MS)
    if (left <= 0) return
    await new Promise<void>((resolve) => {
      let settled = false
      let watcher: Watcher | undefined
      const finish = () => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        signal?.removeEventListener('abort', finish)
        this.#waiters.delete(finish)
        if (watcher !== undefined) cancel(watcher)
        resolve()
      }
      const timer = setTimeout(finish, left)
      signal?.addEventListener('abort', finish, { once: true })
      this.#waiters.add(finish)
      const builder = this.#client.watch()
      if (Buffer.isBuffer(target)) builder.key(target)
      else builder.prefix(target.key)
      builder
        .startRevision(String(BigInt(state.revision) + 1n))
        .only('delete')
        .create()
        .then(
          (created) => {
            watcher = created
            created.on('delete', finish)
            created.on('error', finish)
            created.on('end', finish)
            if (settled) cancel(created)
          },
          () => finish(),
        )
    })
  }

  /** Wakes every pending wait and cancels its watch. */
  async close(): Promise<void> {
    for (const finish of [...this.#waiters]) finish()
  }
}

/** Cancels a watch in the background; a failure there is of no interest (the stream is closing). */
function cancel(watcher: Watcher): void {
  watcher.cancel().catch(() => undefined)
}
