import type { LockBackend } from './backend.js'
import { type LeaseOperations, lockOperations } from './lease-operations.js'
import type { Acquisition } from './wait.js'

/** How many extensions {@link renewIfExpired} tries before giving up on a lease. */
const MAX_RENEWALS = 3

/**
 * Whether a lease just acquired is still inside its conservative local
 * deadline: the common case, decided without a promise, so callers await
 * {@link renewIfExpired} only when it has work to do.
 */
export function leaseFresh(acquisition: Acquisition): boolean {
  return performance.now() < acquisition.sentAt + acquisition.ttlMs
}

/**
 * Makes sure a lease (a lock, or a semaphore's permits: `operations`) that was just acquired is still held by its
 * conservative local deadline (`sentAt + ttlMs`) before a `Lock` is handed
 * out. When the reply came so late that the deadline has passed, the lease
 * may be gone: it is extended at once, which succeeds only if the backend
 * still holds it for `owner` (so nobody else can have held it in between),
 * and the deadline restarts from that request. Resolves the acquisition to
 * use, or `undefined` when the lease was lost before it could be used (the
 * extension was refused, or kept coming back too late; then it is released,
 * best effort, so it does not block others until its ttl).
 *
 * @throws BackendError when an extension fails; the lease is released, best effort.
 */
export async function renewIfExpired(
  backend: LockBackend,
  key: string,
  owner: string,
  acquisition: Acquisition,
  operations: LeaseOperations = lockOperations,
): Promise<Acquisition | undefined> {
  let current = acquisition
  for (let renewal = 0; performance.now() >= current.sentAt + current.ttlMs; renewal++) {
    if (renewal === MAX_RENEWALS) {
      await operations.release(backend, key, owner).catch(() => false)
      return undefined
    }
    const sentAt = performance.now()
    let extended: boolean
    try {
      extended = await operations.extend(backend, key, owner, current.ttlMs)
    } catch (error) {
      await operations.release(backend, key, owner).catch(() => false)
      throw error
    }
    if (!extended) return undefined
    current = { fence: current.fence, ttlMs: current.ttlMs, sentAt }
  }
  return current
}
