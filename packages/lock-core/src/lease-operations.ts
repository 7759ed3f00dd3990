import type { AcquireResult, LockBackend, LockGrant, PermitAcquireResult } from './backend.js'
import { LockBusyError, type LockLostReason, LockTimeoutError, type LockworkError } from './errors.js'
import { labelOf } from './owner-label.js'

/** The refused outcome of one attempt: who holds a lock, or the holders of a semaphore. */
export type RefusedAttempt =
  | Extract<AcquireResult, { acquired: false }>
  | Extract<PermitAcquireResult, { acquired: false }>

/** What the core asks for in one attempt; the fields a kind of lease does not use are ignored. */
export interface LeaseRequest {
  readonly backend: LockBackend
  /** The full key (prefix included) passed to the backend. */
  readonly key: string
  /** The key as the caller named it, for error messages. */
  readonly displayKey: string
  readonly owner: string
  readonly ttlMs: number
  /** Semaphores: how many permits to take (default 1). */
  readonly permits?: number
  /** Semaphores: the limit the attempt is made under. */
  readonly limit?: number
}

/**
 * The backend calls behind one kind of lease (a lock, a semaphore's
 * permits). The wait loop ({@link acquireWithWait}), the handle (`Lock`) and
 * the renewal of a late lease use only these, so waiting, fairness, backoff,
 * auto-extension and loss detection exist once for every kind. Each kind is
 * one shared object: nothing is allocated per acquisition.
 *
 * @internal
 */
export interface LeaseOperations {
  /** How messages name the thing: `'lock'` or `'semaphore'`. */
  readonly noun: string
  /**
   * Whether one holder excludes every other. Then, while a waiter of this
   * process holds the key, the next waiter here waits for that local release
   * instead of asking the backend; with a shared lease it tries at once.
   */
  readonly exclusive: boolean
  /** The key of this process's waiter queue for `fullKey` (kinds live in separate namespaces). */
  queueKey(fullKey: string): string
  /** One atomic attempt; never waits. */
  attempt(request: LeaseRequest): Promise<AcquireResult | PermitAcquireResult>
  /** How long, in ms, until the soonest holder's lease ends by itself: the longest useful sleep. */
  heldForMs(refused: RefusedAttempt): number
  /** Whether {@link LeaseOperations.waitForWake} can be woken by the backend (otherwise: back off). */
  canWake(backend: LockBackend): boolean
  /** The backend's wake-up: resolves when the lease may have become free, at the timeout or on abort. */
  waitForWake(request: LeaseRequest, timeoutMs: number, signal: AbortSignal): Promise<void>
  /**
   * The backend's grant-on-release wait ({@link LockBackend.waitForGrant}),
   * or `undefined` when this kind of lease or this backend has none.
   */
  grantWait(
    backend: LockBackend,
  ):
    | ((
        request: LeaseRequest,
        timeoutMs: number,
        signal: AbortSignal | undefined,
      ) => Promise<LockGrant | undefined>)
    | undefined
  /** The error for a refused attempt that must not wait. */
  busyError(request: LeaseRequest, refused: RefusedAttempt): LockworkError
  /** The error for a wait that ended with the lease still taken (`refused`: the last answer, if any). */
  timeoutError(request: LeaseRequest, waitedMs: number, refused: RefusedAttempt | undefined): LockworkError
  extend(backend: LockBackend, key: string, owner: string, ttlMs: number): Promise<boolean>
  release(backend: LockBackend, key: string, owner: string): Promise<boolean>
  /** Why `owner` no longer holds `key`, or `undefined` while it does. */
  lostReason(backend: LockBackend, key: string, owner: string): Promise<LockLostReason | undefined>
  /**
   * Waits, while a handle watches its lease, until `key` may have changed:
   * the backend's wake-up where it serves that purpose, `undefined` to poll.
   */
  watchWait(
    backend: LockBackend,
  ): ((key: string, timeoutMs: number, signal: AbortSignal) => Promise<void>) | undefined
}

/** The operations of a plain lock: the backend's required methods and its `waitForRelease`. */
export const lockOperations: LeaseOperations = {
  noun: 'lock',
  exclusive: true,
  queueKey: (fullKey) => fullKey,
  attempt: (request) => request.backend.acquire(request.key, request.owner, request.ttlMs),
  heldForMs: (refused) => ('holder' in refused ? refused.holder.remainingMs : 0),
  canWake: (backend) => backend.waitForRelease !== undefined,
  // The backend's promise as it is (no async wrapper): a waiter woken by a release in this
  // process then tries before the releasing caller's next acquire, as in a plain FIFO hand-off.
  waitForWake: (request, timeoutMs, signal) =>
    request.backend.waitForRelease?.(request.key, timeoutMs, signal) ?? Promise.resolve(),
  grantWait: (backend) => (backend.waitForGrant === undefined ? undefined : waitForGrant),
  busyError: (request, refused) =>
    'holder' in refused
      ? new LockBusyError(request.displayKey, refused.holder.remainingMs, {
          holderLabel: labelOf(refused.holder.owner)?.text,
        })
      : new LockBusyError(request.displayKey),
  timeoutError: (request, waitedMs, refused) =>
    new LockTimeoutError(request.displayKey, waitedMs, {
      holderLabel:
        refused !== undefined && 'holder' in refused ? labelOf(refused.holder.owner)?.text : undefined,
    }),
  extend: (backend, key, owner, ttlMs) => backend.extend(key, owner, ttlMs),
  release: (backend, key, owner) => backend.release(key, owner),
  lostReason: async (backend, key, owner) => {
    const holder = await backend.peek(key)
    if (holder === null) return 'released-elsewhere'
    return holder.owner === owner ? undefined : 'taken'
  },
  watchWait: (backend) => (backend.waitForRelease ? backend.waitForRelease.bind(backend) : undefined),
}

/** {@link LeaseOperations.grantWait} of a plain lock. */
function waitForGrant(
  request: LeaseRequest,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<LockGrant | undefined> {
  const { backend } = request
  return (
    backend.waitForGrant?.(request.key, request.owner, request.ttlMs, timeoutMs, signal) ??
    Promise.resolve(undefined)
  )
}
