import type { LockBackend } from './backend.js'
import { type Duration, toMs } from './duration.js'
import { LockBusyError, LockTimeoutError } from './errors.js'
import { leaseFresh, renewIfExpired } from './fresh-lease.js'
import type { LeaseOperations } from './lease-operations.js'
import type { Lock, LockInit } from './lock.js'
import { optionalBoolean, optionalSignal } from './options.js'
import { type OwnerLabel, ownerToken } from './owner-label.js'
import { channels, leaseKind } from './telemetry.js'
import { type AcquireAttempt, acquireWithWait } from './wait.js'

/**
 * What a primitive (locks, semaphores, reader-writer locks) needs from the
 * client that created it: the backend, the defaults, and the client's
 * lifecycle (closed or not, which handles it must release on close).
 *
 * @internal
 */
export interface LeaseHost {
  readonly backend: LockBackend
  readonly prefix: string
  readonly defaultTtlMs: number
  readonly defaultWaitMs: number
  readonly onReleaseError: ((error: unknown, key: string) => void) | undefined
  /** The client's owner label, carried by every owner token it makes. */
  readonly label: OwnerLabel
  /** The key the backend sees for a user key. */
  fullKey(key: string): string
  /** Throws the closed-client `BackendError` once the client is closed. */
  throwIfClosed(operation: string): void
  /** Whether the client is closed (or closing). */
  readonly closed: boolean
  /** Records a handle the client must release on close; the handle forgets itself when it stops holding. */
  track(handle: Lock): void
  /** Drops a handle from the client's tracking once it no longer holds (pass as `onSettled`). */
  readonly forget: (handle: Lock) => void
}

/** The options every acquisition takes, as validated by {@link resolveLeaseOptions}. */
export interface ResolvedLeaseOptions {
  readonly ttlMs: number
  readonly waitMs: number
  readonly signal: AbortSignal | undefined
  readonly autoExtend: boolean
}

/** The options every acquisition takes (`ttl`, `wait`, `signal`, `autoExtend`), before validation. */
export interface LeaseOptionsInput {
  readonly ttl?: Duration
  readonly wait?: Duration
  readonly signal?: AbortSignal
  readonly autoExtend?: boolean
}

/**
 * Validates `ttl`, `wait`, `signal` and `autoExtend`, filling in the
 * client's defaults.
 *
 * @throws InvalidArgumentError naming the option (e.g. `options.ttl`).
 */
export function resolveLeaseOptions(
  host: Pick<LeaseHost, 'defaultTtlMs' | 'defaultWaitMs'>,
  opts: LeaseOptionsInput,
  autoExtendDefault: boolean,
  argument = 'options',
): ResolvedLeaseOptions {
  return {
    ttlMs: opts.ttl === undefined ? host.defaultTtlMs : toMs(opts.ttl, `${argument}.ttl`),
    waitMs: opts.wait === undefined ? host.defaultWaitMs : toMs(opts.wait, `${argument}.wait`, true),
    signal: optionalSignal(opts.signal, `${argument}.signal`),
    autoExtend: optionalBoolean(opts.autoExtend, `${argument}.autoExtend`, autoExtendDefault),
  }
}

/** A validated request for one lease. */
export interface ResolvedLease extends ResolvedLeaseOptions {
  readonly operations: LeaseOperations
  /** The key as the caller named it (for handles and messages). */
  readonly key: string
  /** The key the backend sees. */
  readonly fullKey: string
  /** Semaphores: how many permits, under which limit. */
  readonly permits?: number
  readonly limit?: number
}

/**
 * Acquires a lease (waiting up to `request.waitMs`) and wraps it in a handle
 * made by `create`, tracked by the client so that `close()` releases it.
 * Never resolves a handle whose local deadline has already passed: a lease
 * whose reply came that late is extended at once, or, if it is gone,
 * acquired again within what is left of the wait.
 *
 * @throws LockBusyError when `waitMs` is 0 and the lease is taken.
 * @throws LockTimeoutError when it is still taken when the wait ends.
 */
export async function acquireLease<H extends Lock>(
  host: LeaseHost,
  request: ResolvedLease,
  create: (init: LockInit) => H,
): Promise<H> {
  const { operations, fullKey } = request
  const backend = host.backend
  host.throwIfClosed('acquire')
  request.signal?.throwIfAborted()
  const owner = ownerToken(host.label)
  const start = performance.now()
  const attempt: AcquireAttempt = {
    operations,
    backend,
    key: fullKey,
    displayKey: request.key,
    owner,
    ttlMs: request.ttlMs,
    permits: request.permits,
    limit: request.limit,
    signal: request.signal,
    waitMs: request.waitMs,
    start,
  }
  if (channels.acquireStart.hasSubscribers) {
    const kind = leaseKind(operations.noun)
    channels.acquireStart.publish({
      kind,
      backend: backend.name,
      key: request.key,
      owner,
      waitMs: request.waitMs,
    })
  }
  try {
    return await acquireLoop(host, request, create, attempt)
  } catch (error) {
    if (channels.failed.hasSubscribers) {
      const kind = leaseKind(operations.noun)
      const reason =
        error instanceof LockBusyError ? 'busy' : error instanceof LockTimeoutError ? 'timeout' : 'error'
      const waitedMs = performance.now() - start
      channels.failed.publish({
        kind,
        backend: backend.name,
        key: request.key,
        owner,
        reason,
        waitedMs,
        error,
      })
    }
    throw error
  }
}

/** The attempts of {@link acquireLease}, until one yields a fresh lease. */
async function acquireLoop<H extends Lock>(
  host: LeaseHost,
  request: ResolvedLease,
  create: (init: LockInit) => H,
  first: AcquireAttempt,
): Promise<H> {
  const { operations, fullKey } = request
  const { backend, owner } = first
  const start = first.start ?? performance.now()
  let attempt = first
  for (;;) {
    const acquired = await acquireWithWait(attempt)
    const acquisition = leaseFresh(acquired)
      ? acquired
      : await renewIfExpired(backend, fullKey, owner, acquired, operations)
    if (acquisition !== undefined) {
      const handle = create({
        backend,
        fullKey,
        key: request.key,
        owner,
        acquisition,
        operations,
        autoExtend: request.autoExtend,
        onReleaseError: host.onReleaseError,
        onSettled: host.forget,
        startedAt: start,
      })
      if (host.closed) {
        // Closed while this acquisition was in flight: hand the lease back at once.
        await handle.release().catch(() => undefined)
        host.throwIfClosed('acquire')
      }
      host.track(handle)
      return handle
    }
    // The lease ran out before its reply arrived: not acquired.
    const waited = performance.now() - start
    const refused = { acquired: false, holders: { inUse: 0, holders: [] } } as const
    if (request.waitMs === 0) throw operations.busyError(attempt, refused)
    if (waited >= request.waitMs) throw operations.timeoutError(attempt, Math.round(waited), undefined)
    attempt = { ...attempt, waitMs: request.waitMs - waited, start: undefined }
  }
}

/**
 * Runs `fn` with `handle` and releases it afterwards, also when `fn` throws.
 * Settles exactly as `fn` did; a failed release goes to the handle's
 * `onReleaseError` (see `Lock[Symbol.asyncDispose]`).
 */
export async function runHolding<H extends Lock, T>(
  handle: H,
  fn: (handle: H) => Promise<T> | T,
): Promise<T> {
  let result: T
  try {
    result = await fn(handle)
  } catch (error) {
    await handle[Symbol.asyncDispose]()
    throw error
  }
  await handle[Symbol.asyncDispose]()
  return result
}
