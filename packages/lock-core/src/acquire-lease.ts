import type { LockBackend } from './backend.js'
import { type Duration, toMs } from './duration.js'
import { LockBusyError, LockTimeoutError } from './errors.js'
import { leaseFresh, renewIfExpired } from './fresh-lease.js'
import type { LeaseOperations } from './lease-operations.js'
import type { Lock, LockInit } from './lock.js'
import { optionalBoolean, optionalSignal } from './options.js'
import { type OwnerLabel, ownerToken } from './owner-label.js'
import { channels, leaseKind } from './telemetry.js'
import { type AcquireAttempt, type Acquisition, acquireWithWait, waitAfterRefusal } from './wait.js'
import { WaiterQueue } from './waiter-queue.js'

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
  const names = leaseOptionNames(argument)
  return {
    ttlMs: opts.ttl === undefined ? host.defaultTtlMs : toMs(opts.ttl, names.ttl),
    waitMs: opts.wait === undefined ? host.defaultWaitMs : toMs(opts.wait, names.wait, true),
    signal: optionalSignal(opts.signal, names.signal),
    autoExtend: optionalBoolean(opts.autoExtend, names.autoExtend, autoExtendDefault),
  }
}

/** How errors name the lease options of an argument (e.g. `options.ttl`). */
export interface LeaseOptionNames {
  readonly ttl: string
  readonly wait: string
  readonly signal: string
  readonly autoExtend: string
}

/** The names under the usual argument, made once rather than on every call. */
const OPTIONS_NAMES: LeaseOptionNames = {
  ttl: 'options.ttl',
  wait: 'options.wait',
  signal: 'options.signal',
  autoExtend: 'options.autoExtend',
}

/** The {@link LeaseOptionNames} under `argument`. */
export function leaseOptionNames(argument: string): LeaseOptionNames {
  if (argument === 'options') return OPTIONS_NAMES
  return {
    ttl: `${argument}.ttl`,
    wait: `${argument}.wait`,
    signal: `${argument}.signal`,
    autoExtend: `${argument}.autoExtend`,
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
    // The common case in one step, without the wait loop's promises: nobody in this
    // process waits for the key, so the first attempt goes straight to the backend.
    if (request.waitMs === 0 || WaiterQueue.find(backend, operations.queueKey(fullKey)) === undefined) {
      const result = await operations.attempt(attempt)
      if (!result.acquired) {
        request.signal?.throwIfAborted()
        if (request.waitMs === 0) throw operations.busyError(attempt, result)
        return await acquireLoop(host, request, create, attempt, waitAfterRefusal(attempt, start, result))
      }
      // A first attempt sent straight away was sent after `start`: the lease cannot end before start + ttl.
      const acquisition: Acquisition = { fence: result.fence, ttlMs: result.ttlMs, sentAt: start }
      // leaseFresh, with its clock reading kept for the handle's telemetry.
      const now = performance.now()
      if (now >= start + result.ttlMs)
        return await acquireLoop(host, request, create, attempt, Promise.resolve(acquisition))
      const handle = newHandle(host, request, create, owner, acquisition, start, now)
      if (host.closed) await giveBack(host, handle)
      host.track(handle)
      return handle
    }
    return await acquireLoop(host, request, create, attempt, acquireWithWait(attempt))
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

/** The handle over a lease just acquired (`create`), not yet tracked by the client. */
function newHandle<H extends Lock>(
  host: LeaseHost,
  request: ResolvedLease,
  create: (init: LockInit) => H,
  owner: string,
  acquisition: Acquisition,
  startedAt: number,
  now?: number,
): H {
  return create({
    backend: host.backend,
    fullKey: request.fullKey,
    key: request.key,
    owner,
    acquisition,
    operations: request.operations,
    autoExtend: request.autoExtend,
    onReleaseError: host.onReleaseError,
    onSettled: host.forget,
    startedAt,
    now,
  })
}

/** The client closed while an acquisition was in flight: hands the lease back at once and rejects. */
async function giveBack(host: LeaseHost, handle: Lock): Promise<never> {
  await handle.release().catch(() => undefined)
  host.throwIfClosed('acquire')
  throw new Error('unreachable: the client is closed')
}

/**
 * The attempts of {@link acquireLease} after its first (`pending`: the first
 * attempt's outcome, from the wait loop or already acquired), until one
 * yields a fresh lease.
 */
async function acquireLoop<H extends Lock>(
  host: LeaseHost,
  request: ResolvedLease,
  create: (init: LockInit) => H,
  first: AcquireAttempt,
  pending: Promise<Acquisition>,
): Promise<H> {
  const { operations, fullKey } = request
  const { backend, owner } = first
  const start = first.start ?? performance.now()
  let attempt = first
  let next = pending
  for (;;) {
    const acquired = await next
    const acquisition = leaseFresh(acquired)
      ? acquired
      : await renewIfExpired(backend, fullKey, owner, acquired, operations)
    if (acquisition !== undefined) {
      const handle = newHandle(host, request, create, owner, acquisition, start)
      if (host.closed) await giveBack(host, handle)
      host.track(handle)
      return handle
    }
    // The lease ran out before its reply arrived: not acquired.
    const waited = performance.now() - start
    const refused = { acquired: false, holders: { inUse: 0, holders: [] } } as const
    if (request.waitMs === 0) throw operations.busyError(attempt, refused)
    if (waited >= request.waitMs) throw operations.timeoutError(attempt, Math.round(waited), undefined)
    attempt = { ...attempt, waitMs: request.waitMs - waited, start: undefined }
    next = acquireWithWait(attempt)
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
