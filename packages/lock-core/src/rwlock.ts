import {
  acquireLease,
  type LeaseHost,
  type ResolvedLeaseOptions,
  resolveLeaseOptions,
  runHolding,
} from './acquire-lease.js'
import { type LockInfo, MAX_SEMAPHORE_LIMIT } from './backend.js'
import { InvalidArgumentError, LockBusyError, LockTimeoutError } from './errors.js'
import { deriveKey, newBackoff, waitForHolder } from './helper-support.js'
import { validateKey } from './key.js'
import {
  type LeaseOperations,
  type LeaseRequest,
  lockOperations,
  type RefusedAttempt,
} from './lease-operations.js'
import { Lock, type LockInit } from './lock.js'
import type { AcquireOptions } from './lockwork.js'
import { optionsObject, requireFunction } from './options.js'
import { Permit } from './semaphore.js'
import { missingPermitMethods, semaphoreOperations } from './semaphore-operations.js'

/** Options of {@link ReadWriteLock.read} and {@link ReadWriteLock.write}: those of `Lockwork.acquire`. */
export interface RwLockOptions extends AcquireOptions {}

/** Options of {@link ReadWriteLock.tryRead} and {@link ReadWriteLock.tryWrite}: without waiting. */
export type TryRwLockOptions = Omit<RwLockOptions, 'wait'>

/** How many readers may hold a reader-writer lock at once (every permit of its semaphore). */
const ALL_PERMITS = MAX_SEMAPHORE_LIMIT

/** Whether a refusal of the rwlock's semaphore came from a writer (a holder of every permit). */
function writerHolds(refused: RefusedAttempt | undefined): boolean {
  return (
    refused !== undefined &&
    'holders' in refused &&
    refused.holders.holders.some((holder) => holder.permits === ALL_PERMITS)
  )
}

/** Who keeps a reader or writer out, for messages. */
function describeRefusal(request: LeaseRequest, refused: RefusedAttempt | undefined): string {
  const held = refused !== undefined && 'holders' in refused ? refused.holders : undefined
  const who = writerHolds(refused)
    ? 'a writer holds it'
    : held === undefined || held.inUse === 0
      ? 'it is held'
      : `${held.inUse} reader${held.inUse === 1 ? '' : 's'} hold${held.inUse === 1 ? 's' : ''} it`
  return `rwlock "${request.displayKey}": ${who}`
}

/** The rwlock's semaphore: the semaphore's operations, with messages that name the rwlock. */
const rwlockPermitOperations: LeaseOperations = {
  ...semaphoreOperations,
  noun: 'rwlock',
  busyError: (request, refused) =>
    new LockBusyError(request.displayKey, semaphoreOperations.heldForMs(refused), {
      message: describeRefusal(request, refused),
    }),
  timeoutError: (request, waitedMs, refused) =>
    new LockTimeoutError(request.displayKey, waitedMs, {
      message: `${describeRefusal(request, refused)} after waiting ${waitedMs} ms`,
    }),
}

/** The message when a writer holds or waits for the writer gate. */
function gateMessage(key: string): string {
  return `rwlock "${key}": a writer holds it or waits for it`
}

/** The writer gate: a plain lock, with messages that name the rwlock. */
const gateOperations: LeaseOperations = {
  ...lockOperations,
  busyError: (request, refused) =>
    new LockBusyError(request.displayKey, lockOperations.heldForMs(refused), {
      message: gateMessage(request.displayKey),
    }),
  timeoutError: (request, waitedMs) =>
    new LockTimeoutError(request.displayKey, waitedMs, {
      message: `${gateMessage(request.displayKey)} (waited ${waitedMs} ms)`,
    }),
}

/**
 * A reader-writer lock shared by every process on the backend: any number
 * of readers at once, or one writer alone. Create it with `lw.rwlock(name)`.
 *
 * Built on the semaphore capability: a reader takes one permit of a
 * semaphore with a huge limit ({@link MAX_SEMAPHORE_LIMIT}), a writer takes
 * all of them, so mutual exclusion rests on the semaphore's atomicity alone.
 * Every handle is a lease with its own ttl: a crashed reader or writer frees
 * its share when its lease expires, never holding the others up longer.
 *
 * **Writer preference.** Before taking its permits a writer takes a gate (a
 * plain lock, held only while it waits for readers to leave). A reader
 * checks the gate before and right after taking its permit; while a writer
 * holds or waits for it, new readers give their permit back and wait for
 * the gate's release. So a stream of readers cannot starve a writer: it gets
 * in once the readers that were already inside are done. The price is that
 * a stream of writers can hold readers off. Taking a read share costs three
 * backend calls (check the gate, take a permit, check again), a write three
 * (take the gate, take every permit, release the gate).
 *
 * **Fences.** Every handle's fence comes from the semaphore's counter, so
 * fences order all acquisitions of one rwlock: a writer's fence is larger
 * than every earlier reader's and writer's, and a reader's is larger than
 * every earlier writer's. Readers overlap, so their fences say nothing about
 * one another; a store that checks fences should reject a write whose fence
 * is below the largest it has seen, and may let reads pass.
 *
 * Keys: the semaphore and the gate live under names lockwork derives for
 * itself (with a separator user keys cannot contain), so an rwlock named
 * `doc:42` shares nothing with `lw.lock('doc:42')` or `lw.semaphore('doc:42')`.
 */
export class ReadWriteLock {
  /** The rwlock's name (without the prefix). */
  readonly name: string

  readonly #host: LeaseHost
  /** The key of the semaphore (in the backend's semaphore namespace). */
  readonly #permitKey: string
  /** The key of the writer gate (a lock). */
  readonly #gateKey: string

  /**
   * @internal Created by `Lockwork.rwlock`.
   * @throws InvalidArgumentError for a bad name or a backend without the semaphore capability.
   */
  constructor(host: LeaseHost, name: string) {
    this.name = validateKey(name, 'name')
    const missing = missingPermitMethods(host.backend)
    if (missing.length > 0) {
      throw new InvalidArgumentError(
        'backend',
        `the ${host.backend.name} backend does not support reader-writer locks (it lacks ${missing.join(', ')})`,
      )
    }
    this.#host = host
    this.#permitKey = deriveKey(host.prefix, 'rwlock', this.name)
    this.#gateKey = deriveKey(host.prefix, 'rwlock-gate', this.name)
  }

  /**
   * Takes a read share, waiting up to `wait` while a writer holds the lock
   * or waits for it.
   *
   * @throws LockBusyError when `wait` is 0 and a writer holds it or waits for it.
   * @throws LockTimeoutError when that is still so when the wait ends.
   * @throws InvalidArgumentError for a bad option (nothing is changed).
   * @throws BackendError when the backend fails.
   */
  async read(options?: RwLockOptions): Promise<Lock> {
    return this.#read(resolveLeaseOptions(this.#host, optionsObject(options), false))
  }

  /** Takes a read share if no writer holds or waits for the lock right now; `null` otherwise. Never waits. */
  async tryRead(options?: TryRwLockOptions): Promise<Lock | null> {
    return orNull(this.#read({ ...this.#resolveTry(options), waitMs: 0 }))
  }

  /**
   * Takes the lock alone, waiting up to `wait` for the writer before it and
   * for the readers inside to leave (new readers wait behind this writer).
   *
   * @throws LockBusyError when `wait` is 0 and a reader or writer holds it.
   * @throws LockTimeoutError when it is still held when the wait ends.
   * @throws InvalidArgumentError for a bad option (nothing is changed).
   * @throws BackendError when the backend fails.
   */
  async write(options?: RwLockOptions): Promise<Lock> {
    return this.#write(resolveLeaseOptions(this.#host, optionsObject(options), false))
  }

  /** Takes the lock alone if nobody holds it right now; `null` otherwise. Never waits. */
  async tryWrite(options?: TryRwLockOptions): Promise<Lock | null> {
    return orNull(this.#write({ ...this.#resolveTry(options), waitMs: 0 }))
  }

  /** Runs `fn` with a read share and releases it afterwards, also when `fn` throws. Auto-extends by default. */
  async withRead<T>(fn: (lock: Lock) => Promise<T> | T, options?: RwLockOptions): Promise<T> {
    requireFunction(fn, 'fn')
    return runHolding(await this.#read(resolveLeaseOptions(this.#host, optionsObject(options), true)), fn)
  }

  /** Runs `fn` holding the lock alone and releases it afterwards, also when `fn` throws. Auto-extends by default. */
  async withWrite<T>(fn: (lock: Lock) => Promise<T> | T, options?: RwLockOptions): Promise<T> {
    requireFunction(fn, 'fn')
    return runHolding(await this.#write(resolveLeaseOptions(this.#host, optionsObject(options), true)), fn)
  }

  #resolveTry(options: TryRwLockOptions | undefined): ResolvedLeaseOptions {
    const opts = optionsObject(options)
    if ('wait' in opts) throw new InvalidArgumentError('options.wait', 'tryRead and tryWrite never wait')
    return resolveLeaseOptions(this.#host, opts, false)
  }

  async #read(options: ResolvedLeaseOptions): Promise<Lock> {
    const host = this.#host
    host.throwIfClosed('read')
    options.signal?.throwIfAborted()
    const start = performance.now()
    const backoff = newBackoff()
    for (;;) {
      // A writer holds the gate or waits behind it: stay out of its way.
      const gate = await host.backend.peek(this.#gateKey)
      if (gate !== null) {
        await this.#awaitGate(gate, options, start, backoff)
        continue
      }
      const permit = await this.#permits(1, this.#rest(options, start))
      const after = await host.backend.peek(this.#gateKey).catch(async (error: unknown) => {
        await permit.release().catch(() => false)
        throw error
      })
      if (after === null) return permit
      // A writer arrived while this reader took its permit: give it back and let the writer in first.
      await permit.release()
      await this.#awaitGate(after, options, start, backoff)
    }
  }

  async #write(options: ResolvedLeaseOptions): Promise<Lock> {
    const start = performance.now()
    // The gate is held (and kept alive) only while this writer waits for the readers to leave.
    const gate = await acquireLease(
      this.#host,
      {
        ...options,
        operations: gateOperations,
        key: this.name,
        fullKey: this.#gateKey,
        autoExtend: true,
      },
      newLock,
    )
    try {
      return await this.#permits(ALL_PERMITS, this.#rest(options, start))
    } finally {
      await gate.release().catch(() => false)
    }
  }

  /**
   * What is left of a wait that began at `start`, for the next step.
   *
   * @throws LockTimeoutError when a wait that was not 0 is used up (a step
   *   given 0 ms would report "busy" instead).
   */
  #rest(options: ResolvedLeaseOptions, start: number): ResolvedLeaseOptions {
    if (options.waitMs === 0) return options
    const waited = performance.now() - start
    if (waited >= options.waitMs) {
      throw new LockTimeoutError(this.name, Math.round(waited), {
        message: `rwlock "${this.name}": still held after waiting ${Math.round(waited)} ms`,
      })
    }
    return { ...options, waitMs: options.waitMs - waited }
  }

  /** Takes `permits` of the rwlock's semaphore. */
  #permits(permits: number, options: ResolvedLeaseOptions): Promise<Permit> {
    return acquireLease(
      this.#host,
      {
        ...options,
        operations: rwlockPermitOperations,
        key: this.name,
        fullKey: this.#permitKey,
        permits,
        limit: ALL_PERMITS,
      },
      (init) => new Permit(init, permits),
    )
  }

  /** Waits for the writer gate `gate` to be released, within the caller's wait. */
  async #awaitGate(
    gate: LockInfo,
    options: ResolvedLeaseOptions,
    start: number,
    backoff: ReturnType<typeof newBackoff>,
  ): Promise<void> {
    const waited = performance.now() - start
    if (options.waitMs === 0) {
      throw new LockBusyError(this.name, gate.remainingMs, { message: gateMessage(this.name) })
    }
    if (waited >= options.waitMs) {
      throw new LockTimeoutError(this.name, Math.round(waited), {
        message: `${gateMessage(this.name)} (waited ${Math.round(waited)} ms)`,
      })
    }
    await waitForHolder(
      this.#host.backend,
      this.#gateKey,
      gate,
      options.waitMs - waited,
      backoff,
      options.signal,
    )
    options.signal?.throwIfAborted()
  }
}

/** Wraps a gate lease in a plain lock handle. */
const newLock = (init: LockInit): Lock => new Lock(init)

/** Resolves `null` instead of rejecting with `LockBusyError`. */
async function orNull(acquiring: Promise<Lock>): Promise<Lock | null> {
  try {
    return await acquiring
  } catch (error) {
    if (error instanceof LockBusyError) return null
    throw error
  }
}
