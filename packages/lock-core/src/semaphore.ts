import {
  acquireLease,
  type LeaseHost,
  type ResolvedLease,
  resolveLeaseOptions,
  runHolding,
} from './acquire-lease.js'
import { MAX_SEMAPHORE_LIMIT, type PermitHolder } from './backend.js'
import { describe } from './duration.js'
import { InvalidArgumentError, LockBusyError } from './errors.js'
import { validateKey } from './key.js'
import { Lock, type LockInit } from './lock.js'
import type { AcquireOptions } from './lockwork.js'
import { optionsObject, requireFunction } from './options.js'
import { missingPermitMethods, type SemaphoreBackend, semaphoreOperations } from './semaphore-operations.js'

/** Options of {@link Lockwork.semaphore}. */
export interface SemaphoreOptions {
  /**
   * How many permits may be held at once, an integer from 1 to
   * {@link MAX_SEMAPHORE_LIMIT}. It is not stored: every acquisition is
   * checked against the limit of the semaphore object that makes it, so
   * a new limit applies to new acquisitions and never evicts a holder.
   */
  readonly limit: number
}

/** Options of {@link Semaphore.acquire}: those of `Lockwork.acquire`, and how many permits. */
export interface PermitOptions extends AcquireOptions {
  /** How many permits to take at once, an integer from 1 to the limit. Default 1. */
  readonly permits?: number
}

/** Options of {@link Semaphore.tryAcquire}: like {@link PermitOptions} without waiting. */
export type TryPermitOptions = Omit<PermitOptions, 'wait'>

/** A semaphore's state as {@link Semaphore.peek} sees it. */
export interface SemaphoreState {
  /** The limit of the semaphore object that asked. */
  readonly limit: number
  /** Permits held by unexpired holders. */
  readonly inUse: number
  /** Permits free under `limit` (0 when holders took more under a larger limit). */
  readonly available: number
  /** Each unexpired holder: owner token, permits, fence and remaining lease (ms, the backend's clock). */
  readonly holders: readonly PermitHolder[]
}

/**
 * Held permits of a {@link Semaphore}: a {@link Lock} (own owner token,
 * fence, `signal`, `extend`, `release`, `await using`, auto-extension) that
 * counts `permits` against the semaphore's limit. Its `key` is the
 * semaphore's name.
 */
export class Permit extends Lock {
  /** How many permits this handle holds. */
  readonly permits: number

  /** @internal Created by `Semaphore.acquire`. */
  constructor(init: LockInit, permits: number) {
    super(init)
    this.permits = permits
  }
}

/**
 * A counting semaphore shared by every process on the backend: at most
 * `limit` permits are held at once. Create it with `lw.semaphore(name, { limit })`.
 *
 * Every acquisition is a lease with its own owner token and ttl, like a
 * lock: a holder that crashes frees its permits when its lease expires, and
 * expired permits never count. Fences come from one counter per semaphore,
 * strictly increasing across acquisitions (also after every holder expired),
 * so a protected resource can tell later acquisitions from earlier ones.
 * Waiting is fair within a process (arrival order; only the first waiter
 * asks the backend) and uses the backend's wake-up where it has one.
 *
 * The limit belongs to this object, not to the stored semaphore: objects
 * with different limits for one name each enforce their own on their own
 * acquisitions. Lowering it never evicts holders; new acquisitions wait until
 * enough of them are gone.
 */
export class Semaphore {
  /** The semaphore's name (without the prefix). */
  readonly name: string
  /** How many permits may be held at once. */
  readonly limit: number

  readonly #host: LeaseHost
  readonly #fullKey: string

  /**
   * @internal Created by `Lockwork.semaphore`.
   * @throws InvalidArgumentError for a bad name or limit, or a backend without the semaphore capability.
   */
  constructor(host: LeaseHost, name: string, options: SemaphoreOptions) {
    this.name = validateKey(name, 'name')
    const opts = optionsObject(options)
    this.limit = validateCount(opts.limit, 'options.limit', MAX_SEMAPHORE_LIMIT)
    const missing = missingPermitMethods(host.backend)
    if (missing.length > 0) {
      throw new InvalidArgumentError(
        'backend',
        `the ${host.backend.name} backend does not support semaphores (it lacks ${missing.join(', ')})`,
      )
    }
    this.#host = host
    this.#fullKey = host.fullKey(this.name)
  }

  /**
   * Takes `permits` (default 1), waiting up to `wait` while too few are free.
   *
   * @throws LockBusyError when `wait` is 0 and too few permits are free (the message says how many are in use).
   * @throws LockTimeoutError when too few are still free when the wait ends.
   * @throws InvalidArgumentError for a bad option (nothing is changed).
   * @throws BackendError when the backend fails.
   */
  acquire(options?: PermitOptions): Promise<Permit> {
    let request: ResolvedLease
    try {
      request = this.#resolve(options, false)
    } catch (error) {
      return Promise.reject(error)
    }
    return this.#acquire(request)
  }

  /** Takes permits if enough are free right now; resolves `null` otherwise. Never waits. */
  async tryAcquire(options?: TryPermitOptions): Promise<Permit | null> {
    const opts = optionsObject(options)
    if ('wait' in opts) throw new InvalidArgumentError('options.wait', 'tryAcquire never waits; use acquire')
    try {
      return await this.#acquire({ ...this.#resolve(opts, false), waitMs: 0 })
    } catch (error) {
      if (error instanceof LockBusyError) return null
      throw error
    }
  }

  /**
   * Runs `fn` while holding permits and releases them afterwards, also when
   * `fn` throws. Auto-extends by default. Settles exactly as `fn` did (see
   * `Lockwork.withLock`).
   */
  async withPermit<T>(fn: (permit: Permit) => Promise<T> | T, options?: PermitOptions): Promise<T> {
    requireFunction(fn, 'fn')
    return runHolding(await this.#acquire(this.#resolve(options, true)), fn)
  }

  /** The unexpired holders right now, the permits they hold and how many are free under this object's limit. */
  async peek(): Promise<SemaphoreState> {
    this.#host.throwIfClosed('peek')
    const { inUse, holders } = await (this.#host.backend as SemaphoreBackend).peekPermits(this.#fullKey)
    return { limit: this.limit, inUse, available: Math.max(0, this.limit - inUse), holders }
  }

  #acquire(request: ResolvedLease): Promise<Permit> {
    const permits = request.permits ?? 1
    return acquireLease(this.#host, request, (init) => new Permit(init, permits))
  }

  #resolve(options: PermitOptions | undefined, autoExtendDefault: boolean): ResolvedLease {
    const opts = optionsObject(options)
    const permits =
      opts.permits === undefined ? 1 : validateCount(opts.permits, 'options.permits', this.limit)
    return {
      operations: semaphoreOperations,
      key: this.name,
      fullKey: this.#fullKey,
      permits,
      limit: this.limit,
      ...resolveLeaseOptions(this.#host, opts, autoExtendDefault),
    }
  }
}

/** Validates a count of permits: an integer from 1 to `max`. */
function validateCount(value: unknown, argument: string, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidArgumentError(argument, `expected an integer from 1 to ${max}, got ${describe(value)}`)
  }
  return value
}
