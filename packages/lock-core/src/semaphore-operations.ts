import type { LockBackend, PermitHolders } from './backend.js'
import { LockBusyError, LockTimeoutError } from './errors.js'
import { INTERNAL_SEPARATOR } from './key.js'
import type { LeaseOperations, LeaseRequest, RefusedAttempt } from './lease-operations.js'

/** The semaphore capability methods, all of them present. */
export type SemaphoreBackend = LockBackend &
  Required<Pick<LockBackend, 'acquirePermits' | 'extendPermits' | 'releasePermits' | 'peekPermits'>>

/** The capability methods a backend must have for semaphores and reader-writer locks. */
const REQUIRED = ['acquirePermits', 'extendPermits', 'releasePermits', 'peekPermits'] as const

/** The semaphore methods `backend` lacks (none: it supports semaphores). */
export function missingPermitMethods(backend: LockBackend): string[] {
  return REQUIRED.filter((method) => typeof backend[method] !== 'function')
}

/** Narrows a backend checked by {@link missingPermitMethods}. */
function permitBackend(backend: LockBackend): SemaphoreBackend {
  return backend as SemaphoreBackend
}

/** The holders a refused attempt reported (none for a lock's refusal). */
function holdersOf(refused: RefusedAttempt | undefined): PermitHolders | undefined {
  return refused !== undefined && 'holders' in refused ? refused.holders : undefined
}

/** Why permits are not free, for messages: `2 of 2 permits in use, the soonest holder's lease ends in 180 ms`. */
function describeHolders(request: LeaseRequest, refused: RefusedAttempt | undefined): string {
  const holders = holdersOf(refused)
  const permits = request.permits ?? 1
  const wanted = `${permits} permit${permits === 1 ? '' : 's'}`
  if (holders === undefined || holders.holders.length === 0) return `${wanted} not free`
  return `${wanted} not free: ${holders.inUse} of ${request.limit ?? '?'} in use by ${holders.holders.length} holder${
    holders.holders.length === 1 ? '' : 's'
  }, the soonest lease ends in ${soonestExpiryMs(holders)} ms`
}

/** Milliseconds until the first of `holders` expires (0 when none). */
function soonestExpiryMs(holders: PermitHolders): number {
  let soonest = Number.POSITIVE_INFINITY
  for (const holder of holders.holders) soonest = Math.min(soonest, holder.remainingMs)
  return soonest === Number.POSITIVE_INFINITY ? 0 : soonest
}

/**
 * The operations behind a semaphore's permits: the backend's optional
 * semaphore capability. The backend is checked for it when the semaphore is
 * created ({@link missingPermitMethods}).
 *
 * @internal
 */
export const semaphoreOperations: LeaseOperations = {
  noun: 'semaphore',
  exclusive: false,
  // U+0000 cannot start a full key, so semaphore queues never meet lock queues.
  queueKey: (fullKey) => `\u0000semaphore${INTERNAL_SEPARATOR}${fullKey}`,
  attempt: (request) =>
    permitBackend(request.backend).acquirePermits(
      request.key,
      request.owner,
      request.permits ?? 1,
      request.limit ?? 1,
      request.ttlMs,
    ),
  heldForMs: (refused) => {
    const holders = holdersOf(refused)
    return holders === undefined ? 0 : soonestExpiryMs(holders)
  },
  canWake: (backend) => backend.waitForPermits !== undefined,
  // The backend's promise as it is, like the lock's: no extra turns before a woken waiter tries.
  // Permits are not handed over on release: a released permit may suit any of several waiters.
  grantWait: () => undefined,
  waitForWake: (request, timeoutMs, signal) =>
    request.backend.waitForPermits?.(
      request.key,
      request.permits ?? 1,
      request.limit ?? 1,
      timeoutMs,
      signal,
    ) ?? Promise.resolve(),
  busyError: (request, refused) => {
    const holders = holdersOf(refused)
    return new LockBusyError(
      request.displayKey,
      holders === undefined ? undefined : soonestExpiryMs(holders),
      { message: `semaphore "${request.displayKey}": ${describeHolders(request, refused)}` },
    )
  },
  timeoutError: (request, waitedMs, refused) =>
    new LockTimeoutError(request.displayKey, waitedMs, {
      message: `semaphore "${request.displayKey}": ${describeHolders(request, refused)} after waiting ${waitedMs} ms`,
    }),
  extend: (backend, key, owner, ttlMs) => permitBackend(backend).extendPermits(key, owner, ttlMs),
  release: (backend, key, owner) => permitBackend(backend).releasePermits(key, owner),
  lostReason: async (backend, key, owner) => {
    const { holders } = await permitBackend(backend).peekPermits(key)
    return holders.some((holder) => holder.owner === owner) ? undefined : 'released-elsewhere'
  },
  // A semaphore's wake-up reports free permits, not a change of one holder's: poll.
  watchWait: () => undefined,
}
