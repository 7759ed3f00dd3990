import {
  acquireLease,
  type LeaseHost,
  leaseOptionNames,
  type ResolvedLease,
  runHolding,
} from './acquire-lease.js'
import type { LockBackend } from './backend.js'
import {
  type CachedFunction,
  type CachedOptions,
  type CachedOptionsPartialKey,
  createCached,
} from './cached.js'
import { clientClosedError } from './closed-error.js'
import { type Duration, describe, toMs } from './duration.js'
import { InvalidArgumentError, LockBusyError } from './errors.js'
import { type EveryJob, type EveryJobFunction, type EveryOptions, startEvery } from './every.js'
import { type JobRun, type JobSummary, readJob, readJobs } from './job-history.js'
import { joinKey, validateKey, validatePrefix } from './key.js'
import {
  type LeaderInfo,
  type Leadership,
  type LeadFunction,
  type LeadOptions,
  readLeader,
  startLead,
} from './lead.js'
import { lockOperations } from './lease-operations.js'
import { type LockworkListOptions, type LockworkListPage, listPage } from './list.js'
import { Lock, type LockInit } from './lock.js'
import { createOnce, type OnceFunction, type OnceOptions, type OnceOptionsPartialKey } from './once.js'
import { optionalBoolean, optionalSignal, optionsObject, requireFunction } from './options.js'
import { createOwnerLabel, type HolderInfo, holderInfo, type OwnerLabel } from './owner-label.js'
import { ReadWriteLock } from './rwlock.js'
import { Semaphore, type SemaphoreOptions } from './semaphore.js'

/** Options of {@link createLockwork}. */
export interface LockworkOptions {
  /** The store every lock and cache entry lives in. */
  readonly backend: LockBackend
  /** Prepended to every key; different prefixes never see each other's locks. Default `''`. */
  readonly prefix?: string
  /** The lease length when a call gives none. Default `'30s'`. */
  readonly defaultTtl?: Duration
  /** How long `acquire` and `withLock` wait for a held key when a call gives no `wait`. Default `'10s'`. */
  readonly defaultWait?: Duration
  /**
   * Whether {@link Lockwork.close} also closes `backend`. Default `true`: the
   * client owns its backend. Set `false` when several clients share one
   * backend and you close it yourself. Either way a backend closes only what
   * it created itself (a connection from a `url`, a file it opened), never a
   * client, pool or database you passed to it.
   */
  readonly closeBackend?: boolean
  /**
   * Told about a release that failed where the caller cannot see it without
   * losing a result: at the end of `withLock`, `once`, `await using` and a
   * `cached` computation.
   * `withLock` and `once` still settle exactly as `fn` did, and the lease
   * ends at its ttl. Default: one `console.error` line. Its own errors are ignored.
   */
  readonly onReleaseError?: (error: unknown, key: string) => void
  /**
   * A name for this client in the owner label every acquisition records,
   * beside the host name and process id: `peek`, `leader` and the
   * `LockBusyError`/`LockTimeoutError` messages show it, e.g.
   * `api@pod-7 host=web-3 pid=4121`. At most 128 characters, no control
   * characters. Default: none (the label is then host and pid alone).
   */
  readonly label?: string
}

/** Options of {@link Lockwork.acquire}. */
export interface AcquireOptions {
  /** Lease length. Default: the client's `defaultTtl`. */
  readonly ttl?: Duration
  /** How long to wait while the key is held; `0` fails at once with `LockBusyError`. Default: `defaultWait`. */
  readonly wait?: Duration
  /** Cancels the wait; an already-aborted signal rejects before the backend is touched. */
  readonly signal?: AbortSignal
  /**
   * Keep extending the lease until it is released: whenever no more than 2/3
   * of the ttl is left by the local deadline (every ttl/3, and at once after a
   * slow acquisition). Default `false` (`true` in `withLock`).
   */
  readonly autoExtend?: boolean
}

/** Options of {@link Lockwork.tryAcquire}: like {@link AcquireOptions} without waiting. */
export type TryAcquireOptions = Omit<AcquireOptions, 'wait'>

/**
 * The lockwork client: locks, and the helpers built on them, over one backend.
 * Create it with {@link createLockwork}; end it with {@link Lockwork.close} or
 * `await using`, so the process can exit.
 */
export class Lockwork implements AsyncDisposable {
  /** The backend every call goes to. */
  readonly backend: LockBackend
  /** The prefix prepended to every key. */
  readonly prefix: string
  /** The default lease length in ms. */
  readonly defaultTtlMs: number
  /** The default wait in ms. */
  readonly defaultWaitMs: number
  /** Where failed releases at the end of `withLock`, `once`, `cached` and `await using` go (`undefined`: `console.error`). */
  readonly onReleaseError: ((error: unknown, key: string) => void) | undefined
  /** The label every acquisition through this client records in its owner token. */
  readonly label: OwnerLabel

  readonly #closeBackend: boolean
  /** Locks acquired through this client that still hold their lease. */
  readonly #locks = new Set<Lock>()
  /** Drops a lock from {@link Lockwork.#locks} once it no longer holds (one function for every lock). */
  readonly #forgetLock = (lock: Lock): void => {
    this.#locks.delete(lock)
  }
  /** What semaphores and reader-writer locks created by this client use of it. */
  readonly #host: LeaseHost
  /** `every` jobs and `lead` campaigns started by this client and not stopped. */
  readonly #jobs = new Set<{ stop(): Promise<void> }>()
  #closing: Promise<void> | undefined

  constructor(options: LockworkOptions) {
    const opts = optionsObject(options)
    const backend = opts.backend
    if (
      backend === null ||
      typeof backend !== 'object' ||
      typeof backend.acquire !== 'function' ||
      typeof backend.release !== 'function'
    ) {
      throw new InvalidArgumentError('options.backend', `expected a LockBackend, got ${describe(backend)}`)
    }
    this.backend = backend
    this.prefix = validatePrefix(opts.prefix)
    this.defaultTtlMs = toMs(opts.defaultTtl ?? '30s', 'options.defaultTtl')
    this.defaultWaitMs = toMs(opts.defaultWait ?? '10s', 'options.defaultWait', true)
    this.#closeBackend = optionalBoolean(opts.closeBackend, 'options.closeBackend', true)
    if (opts.onReleaseError !== undefined) requireFunction(opts.onReleaseError, 'options.onReleaseError')
    this.onReleaseError = opts.onReleaseError
    this.label = createOwnerLabel(opts.label)
    this.#host = this.#createHost()
  }

  #createHost(): LeaseHost {
    const locks = this.#locks
    const client = this
    return {
      backend: this.backend,
      prefix: this.prefix,
      defaultTtlMs: this.defaultTtlMs,
      defaultWaitMs: this.defaultWaitMs,
      onReleaseError: this.onReleaseError,
      label: this.label,
      fullKey: (key) => this.fullKey(key),
      throwIfClosed: (operation) => this.#throwIfClosed(operation),
      get closed() {
        return client.closed
      },
      track: (handle) => {
        locks.add(handle)
      },
      forget: this.#forgetLock,
    }
  }

  /** Whether {@link Lockwork.close} has been called. */
  get closed(): boolean {
    return this.#closing !== undefined
  }

  /**
   * Ends the client so the process can exit: stops every `every` job (waiting
   * for runs in progress) and every `lead` campaign (resigning), releases the locks, semaphore permits and
   * reader-writer locks acquired through this client that are still held,
   * then closes the backend (unless `closeBackend: false`).
   * Idempotent: later calls return the same promise. Afterwards every method
   * rejects with a `BackendError` ("the lockwork client is closed"). Work still
   * running under a released lock is no longer protected: finish it first.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  /** Closes the client at the end of an `await using` scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** Throws the closed-client `BackendError` once {@link Lockwork.close} was called. */
  #throwIfClosed(operation: string): void {
    if (this.#closing !== undefined) throw clientClosedError(this.backend.name, operation)
  }

  async #shutdown(): Promise<void> {
    await Promise.allSettled([...this.#jobs].map((job) => job.stop()))
    // A failed release leaves the lease to end at its ttl; closing goes on.
    await Promise.allSettled([...this.#locks].map((lock) => lock.release()))
    this.#locks.clear()
    if (this.#closeBackend) await this.backend.close()
  }

  /** The key the backend sees for a user key: `prefix + U+001F + key`, or the key alone without a prefix. */
  fullKey(key: string): string {
    return joinKey(this.prefix, key)
  }

  /**
   * Acquires `key`, waiting up to `wait` while someone else holds it.
   *
   * @throws LockBusyError when `wait` is 0 and the key is held.
   * @throws LockTimeoutError when the key is still held when the wait ends.
   * @throws InvalidArgumentError for a bad key or option (nothing is changed).
   * @throws BackendError when the backend fails.
   */
  acquire(key: string, options?: AcquireOptions): Promise<Lock> {
    // Not `async`: it hands back #acquireResolved's promise itself, one promise fewer per call.
    let request: ResolvedLease
    try {
      request = this.#resolveAcquire(key, options, 'options', false)
    } catch (error) {
      return Promise.reject(error)
    }
    return this.#acquireResolved(request)
  }

  /** Acquires `key` if it is free right now; resolves `null` when it is held. Never waits. */
  async tryAcquire(key: string, options?: TryAcquireOptions): Promise<Lock | null> {
    const opts = optionsObject(options)
    if ('wait' in opts) throw new InvalidArgumentError('options.wait', 'tryAcquire never waits; use acquire')
    try {
      return await this.#acquireResolved({ ...this.#resolveAcquire(key, opts, 'options', false), waitMs: 0 })
    } catch (error) {
      if (error instanceof LockBusyError) return null
      throw error
    }
  }

  /**
   * Runs `fn` while holding `key` and releases it afterwards, also when `fn`
   * throws. Auto-extends by default, so `fn` may run longer than the ttl;
   * `lock.signal` tells `fn` if the lease is lost anyway.
   *
   * Settles exactly as `fn` did: its result, or its error unchanged. A
   * release that fails afterwards never turns a success into a failure (a
   * caller would retry a job that already ran) nor hides `fn`'s error; it is
   * reported to the client's `onReleaseError`, and the lease ends at its ttl.
   */
  async withLock<T>(key: string, fn: (lock: Lock) => Promise<T> | T, options?: AcquireOptions): Promise<T> {
    requireFunction(fn, 'fn')
    return runHolding(await this.#acquireResolved(this.#resolveAcquire(key, options, 'options', true)), fn)
  }

  /**
   * Who holds `key` right now, or `null` when it is free: the owner token,
   * fence, remaining lease, and the holder's label (its client's `label`,
   * host name and process id).
   */
  async peek(key: string): Promise<HolderInfo | null> {
    this.#throwIfClosed('peek')
    const info = await this.backend.peek(this.fullKey(validateKey(key)))
    return info === null ? null : holderInfo(info)
  }

  /**
   * One page of the locks held and the cache entries stored under this
   * client's prefix, for operators: keys come back without the prefix, with
   * owner, fence and remaining lease (size and remaining lifetime for cache
   * entries). Pass the page's `cursor` back for the next page; a page may be
   * short, or empty, while more follow. Needs a backend with `list`.
   *
   * ```ts
   * const page = await lw.list({ prefix: 'orders:', limit: 50 })
   * for (const lock of page.locks) console.log(lock.key, lock.fence, lock.remainingMs)
   * ```
   *
   * @throws InvalidArgumentError for a bad option or a cursor from elsewhere.
   * @throws BackendError when the backend fails or has no `list`.
   */
  async list(options?: LockworkListOptions): Promise<LockworkListPage> {
    this.#throwIfClosed('list')
    return listPage(this.backend, this.prefix, options)
  }

  /** Whether `key` is held right now. */
  async isLocked(key: string): Promise<boolean> {
    return (await this.peek(key)) !== null
  }

  /**
   * Frees `key` whoever holds it: an operator's escape hatch. The holder's
   * `lock.signal` aborts with `LockLostError` when it notices. Returns whether
   * a lease was freed.
   */
  async forceRelease(key: string): Promise<boolean> {
    this.#throwIfClosed('forceRelease')
    const fullKey = this.fullKey(validateKey(key))
    // Owner-checked release of whoever holds it now; retry if the holder changes in between.
    for (let attempt = 0; attempt < 10; attempt++) {
      const holder = await this.backend.peek(fullKey)
      if (holder === null) return false
      if (await this.backend.release(fullKey, holder.owner)) return true
    }
    return false
  }

  /**
   * Wraps `fn` so that, per key, only one call runs at a time across every
   * process sharing the backend; the others skip (resolve `lockedValue`,
   * default `undefined`) or, with `onLocked: 'throw'`, reject with
   * `LockBusyError`. With `holdFor`, the key stays held until that long after
   * the run started (a throttle: at most one run per window). A failing `fn`
   * releases the key (subject to `holdFor`) and its error is rethrown.
   *
   * ```ts
   * const check = lw.once({ key: (id: string) => `check_order:${id}` }, async (id) => runCheck(id))
   * await check('42')   // the result, or undefined while another check of 42 runs
   * const shoot = lw.once({ key: (id: string) => `shot:${id}`, holdFor: '60s' }, takeShot)
   * ```
   *
   * @throws InvalidArgumentError at once for a bad option; from a call whose key function throws or returns a bad key.
   */
  once<A extends unknown[], R, L = undefined>(
    options: OnceOptions<A, L>,
    fn: (...args: A) => R | Promise<R>,
  ): OnceFunction<A, Awaited<R> | L>
  /** {@inheritDoc Lockwork.once} A key function may take only the first few of `fn`'s parameters. */
  once<A extends unknown[], R, L = undefined>(
    options: OnceOptionsPartialKey<A, L>,
    fn: (...args: A) => R | Promise<R>,
  ): OnceFunction<A, Awaited<R> | L>
  once<A extends unknown[], R, L>(
    options: OnceOptions<A, L> | OnceOptionsPartialKey<A, L>,
    fn: (...args: A) => R | Promise<R>,
  ): OnceFunction<A, Awaited<R> | L> {
    return createOnce(this, options, fn)
  }

  /**
   * Wraps `fn` in a cache shared by every process on the backend. A miss is
   * computed once: concurrent calls in this process share one promise, and
   * across processes a lock on the key lets one compute while the others wait
   * to be woken and read the value. A failing computation is not cached and
   * reaches every caller waiting for it (elsewhere as `ComputeFailedError`).
   * Values pass through `codec` (devalue by default: Date, Map, Set, BigInt,
   * undefined, NaN and typed arrays come back as they went in); a value it
   * cannot encode (a class instance, a function) rejects with
   * `InvalidArgumentError` naming `value` and is not cached.
   *
   * ```ts
   * const price = lw.cached({ key: (sym: string) => `price:${sym}`, ttl: '60s', staleFor: '5m' }, fetchPrice)
   * await price('ACME'); await price.invalidate('ACME')
   * ```
   *
   * @throws InvalidArgumentError at once for a bad option; from a call whose key function throws or returns a bad key.
   */
  cached<A extends unknown[], T>(
    options: CachedOptions<A, Awaited<T>>,
    fn: (...args: A) => T | Promise<T>,
  ): CachedFunction<A, Awaited<T>>
  /** {@inheritDoc Lockwork.cached} A key function may take only the first few of `fn`'s parameters. */
  cached<A extends unknown[], T>(
    options: CachedOptionsPartialKey<A, Awaited<T>>,
    fn: (...args: A) => T | Promise<T>,
  ): CachedFunction<A, Awaited<T>>
  cached<A extends unknown[], T>(
    options: CachedOptions<A, Awaited<T>> | CachedOptionsPartialKey<A, Awaited<T>>,
    fn: (...args: A) => T | Promise<T>,
  ): CachedFunction<A, Awaited<T>> {
    return createCached<A, Awaited<T>>(this, options, fn as (...args: A) => Promise<Awaited<T>>)
  }

  /**
   * Runs `job` on a schedule (`interval` or `cron`) once per tick across every
   * replica sharing the backend, never two runs at once. Every replica runs
   * the timer; the first to claim a tick runs it. `job(signal)` gets a signal
   * that aborts on `stop()` or when the run's lease is lost. The timer keeps
   * the process alive until `stop()`, which waits for a run in progress.
   *
   * A tick runs at most once while the backend keeps its data, however late
   * a replica gets to it (a paused process, a slow store): a replica starts
   * a tick only within `maxLateness` of its scheduled time, checked again
   * once its claim is in, and a claim outlives that window by a period.
   * Late ticks are skipped (see `onLate`), not caught up. Limits: a store
   * that loses the claim (Redis restart without persistence, failover)
   * forgets it; replica wall clocks must agree to within a period; and a
   * tick is run at most once, not exactly once (a replica that crashes
   * mid-run does not hand the tick to another).
   *
   * Each tick is recorded in the backend by the replica that handled it (who,
   * when, how long, how it ended; the `history` option): read it with
   * {@link Lockwork.jobs} or `job.history()`.
   *
   * ```ts
   * const job = lw.every('expire-sessions', { interval: '5m', jitter: 0.2 }, async (signal) => expire(signal))
   * await job.stop()
   * ```
   *
   * @throws InvalidArgumentError at once for a bad name or option.
   */
  every(name: string, options: EveryOptions, job: EveryJobFunction): EveryJob {
    this.#throwIfClosed('every')
    const started = startEvery(this, name, options, job)
    const jobs = this.#jobs
    const tracked: EveryJob = {
      name: started.name,
      get running() {
        return started.running
      },
      stop: () => {
        jobs.delete(tracked)
        return started.stop()
      },
      history: () => started.history(),
    }
    jobs.add(tracked)
    return tracked
  }

  /**
   * Every `every` job with recorded history under this client's prefix, by
   * name, as any replica recorded it (see the `history` option of
   * {@link Lockwork.every}): its schedule, recent ticks (who handled each,
   * when, how long, how it ended), the next tick, and who runs it right now.
   * Works on every backend: the history lives in the cache store. Jobs
   * whose history expired, or that record none, are not listed.
   *
   * ```ts
   * for (const job of await lw.jobs()) {
   *   console.log(job.name, job.lastRun?.outcome, job.lastRun?.label.text, job.nextRunAt)
   * }
   * ```
   *
   * @throws BackendError when the backend fails.
   */
  async jobs(): Promise<JobSummary[]> {
    this.#throwIfClosed('jobs')
    return readJobs(this.backend, this.prefix)
  }

  /**
   * The recorded ticks of the `every` job `name`, newest first; empty when
   * it has none (see {@link Lockwork.jobs}).
   *
   * @throws InvalidArgumentError for a bad name.
   * @throws BackendError when the backend fails.
   */
  async jobHistory(name: string): Promise<JobRun[]> {
    this.#throwIfClosed('jobHistory')
    const summary = await readJob(this.backend, this.prefix, validateKey(name, 'name'))
    return summary === null ? [] : [...summary.runs]
  }

  /**
   * Campaigns for leadership of `name` among every client sharing the
   * backend, and runs `fn` while this client leads: at most one leader at a
   * time. `fn(signal, term)` gets a signal that aborts the moment leadership
   * ends (the lease is lost or cannot be extended in time, or `stop()`), and
   * the term's fencing token and start. When `fn` returns or throws (its
   * error goes to `onError`), this client resigns, waits `pause`, and
   * campaigns again; so does it after losing leadership. Campaigning goes on
   * until `stop()` or {@link Lockwork.close}.
   *
   * ```ts
   * const leader = lw.lead('queue-consumer', async (signal, term) => consume({ signal, fence: term.fence }))
   * await leader.stop()
   * ```
   *
   * @throws InvalidArgumentError at once for a bad name, function or option.
   */
  lead(name: string, fn: LeadFunction, options?: LeadOptions): Leadership {
    this.#throwIfClosed('lead')
    const started = startLead(this, name, fn, options)
    const jobs = this.#jobs
    const tracked: Leadership = {
      name: started.name,
      get isLeader() {
        return started.isLeader
      },
      get term() {
        return started.term
      },
      stop: () => {
        jobs.delete(tracked)
        return started.stop()
      },
    }
    jobs.add(tracked)
    return tracked
  }

  /**
   * Who leads `name` now (see {@link Lockwork.lead}): the leader's label,
   * fence (its term) and since when; `null` when nobody does.
   */
  async leader(name: string): Promise<LeaderInfo | null> {
    this.#throwIfClosed('leader')
    return readLeader(this, name)
  }

  /**
   * A counting semaphore named `name`: at most `limit` permits held at once
   * across every process on the backend. Semaphores have their own
   * namespace: semaphore `k` and lock `k` are unrelated.
   *
   * ```ts
   * const exports = lw.semaphore('exports', { limit: 2 })
   * await exports.withPermit(async (permit) => runExport({ fence: permit.fence }))
   * ```
   *
   * @throws InvalidArgumentError for a bad name or limit, or when the backend
   *   lacks the semaphore capability (the message names the missing methods).
   */
  semaphore(name: string, options: SemaphoreOptions): Semaphore {
    this.#throwIfClosed('semaphore')
    return new Semaphore(this.#host, name, options)
  }

  /**
   * A reader-writer lock named `name`: any number of readers at once, or one
   * writer alone, across every process on the backend; a waiting writer keeps
   * new readers out (see {@link ReadWriteLock}).
   *
   * ```ts
   * const doc = lw.rwlock('doc:42')
   * await doc.withRead(async () => render())
   * await doc.withWrite(async (lock) => save({ fence: lock.fence }), { wait: '5s' })
   * ```
   *
   * @throws InvalidArgumentError for a bad name, or when the backend lacks the semaphore capability.
   */
  rwlock(name: string): ReadWriteLock {
    this.#throwIfClosed('rwlock')
    return new ReadWriteLock(this.#host, name)
  }

  /** Validates a key and acquire options into a request for a lock's lease. */
  #resolveAcquire(
    key: unknown,
    options: AcquireOptions | undefined,
    argument: string,
    autoExtendDefault: boolean,
  ): ResolvedLease {
    const validKey = validateKey(key)
    const opts = optionsObject(options, argument)
    // resolveLeaseOptions, written into the request itself: one object per acquire, not two.
    const names = leaseOptionNames(argument)
    return {
      operations: lockOperations,
      key: validKey,
      fullKey: this.fullKey(validKey),
      ttlMs: opts.ttl === undefined ? this.defaultTtlMs : toMs(opts.ttl, names.ttl),
      waitMs: opts.wait === undefined ? this.defaultWaitMs : toMs(opts.wait, names.wait, true),
      signal: optionalSignal(opts.signal, names.signal),
      autoExtend: optionalBoolean(opts.autoExtend, names.autoExtend, autoExtendDefault),
    }
  }

  /** Acquires with already-validated options (see {@link acquireLease}). */
  #acquireResolved(request: ResolvedLease): Promise<Lock> {
    return acquireLease(this.#host, request, newLock)
  }
}

/** Wraps a lock's lease in its handle. */
const newLock = (init: LockInit): Lock => new Lock(init)

/** Creates a lockwork client over `options.backend`. */
export function createLockwork(options: LockworkOptions): Lockwork {
  return new Lockwork(options)
}
