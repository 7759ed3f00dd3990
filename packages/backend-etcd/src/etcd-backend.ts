import {
  type AcquireResult,
  BackendError,
  backendClosedError,
  type CacheEntry,
  InvalidArgumentError,
  type ListOptions,
  type ListPage,
  type LockBackend,
  type LockInfo,
  LockworkError,
  type PermitAcquireResult,
  type PermitHolders,
  type StoredCacheEntry,
  validatePrefix,
} from '@lockwork/core'
import type { Etcd3, IOptions, IRequestOp, ITxnResponse } from 'etcd3'
import {
  DEFAULT_OPERATION_TIMEOUT_MS,
  describeEndpoints,
  openClient,
  ownClientOptions,
} from './connection.js'
import { listEtcd } from './etcd-list.js'
import { EtcdSemaphores } from './etcd-semaphore.js'
import { ReleaseWatch } from './etcd-wake.js'
import { cacheKey, decodeCacheEntry, encodeCacheEntry, type LockKeys, lockKeys } from './key-layout.js'
import { LeasePool } from './lease-pool.js'
import { deleteLock, heldBy, heldLock, putLock, readLock } from './lock-requests.js'

/** Options of {@link createEtcdBackend}: pass either `client` or `endpoints`. */
export interface EtcdBackendOptions {
  /**
   * Your own `Etcd3` client (the `etcd3` package, 1.1 or later). The backend
   * sends its calls through it and `close()` leaves it open. Its call
   * deadlines and retry policy are yours: give unary calls a deadline (etcd3's
   * `defaultCallOptions`), or a call to a cluster without quorum waits for as
   * long as the outage lasts.
   */
  readonly client?: Etcd3
  /**
   * The members' client URLs, e.g. `['http://10.0.0.1:2379', 'http://10.0.0.2:2379']`:
   * the backend opens its own client, with a deadline of `operationTimeoutMs`
   * on every call and keepalive pings, and closes it in `close()`.
   */
  readonly endpoints?: readonly string[]
  /** Further `etcd3` options for the client opened from `endpoints` (TLS, auth, ...); ignored with `client`. */
  readonly etcdOptions?: Partial<IOptions>
  /**
   * The deadline of every call of the client opened from `endpoints`, in ms.
   * While the cluster has no quorum every operation rejects with a
   * `BackendError` after at most this long. Default 3000.
   */
  readonly operationTimeoutMs?: number
  /** The start of every etcd key the backend writes. Default `'lockwork/'`. */
  readonly keyPrefix?: string
  /**
   * How far ahead of another client's clock this client's wall clock may run,
   * in ms: a lock counts as expired (free to take over) only this long after
   * its deadline. Expiry is judged by client wall clocks (etcd has no time
   * API); see the README. Default 0, for clocks kept in step by NTP.
   */
  readonly clockToleranceMs?: number
}

/** The default {@link EtcdBackendOptions.keyPrefix}. */
export const DEFAULT_KEY_PREFIX = 'lockwork/'

/** How often `acquire` retries after removing an expired holder that another caller replaced first. */
const TAKEOVER_ATTEMPTS = 3

/**
 * A {@link LockBackend} on an etcd cluster (3.4 or later) through the `etcd3`
 * client. Every operation is one transaction (acquire: one more to remove an
 * expired holder first); the fence is the owner key's create revision, so it
 * strictly increases across successive holders, also across leader changes;
 * releases wake waiters through a watch.
 *
 * Each lock's deadline lives in its value, in milliseconds of the client's
 * wall clock; its etcd lease (whole seconds, at least two seconds longer) only
 * removes the keys once nobody can hold them any more. See `key-layout.ts`.
 */
export class EtcdBackend implements LockBackend {
  /** `'etcd'`. */
  readonly name = 'etcd'
  readonly #client: Etcd3
  readonly #ownsClient: boolean
  readonly #endpoint: string
  readonly #prefix: string
  readonly #toleranceMs: number
  readonly #leases: LeasePool
  readonly #watch: ReleaseWatch
  readonly #semaphores: EtcdSemaphores
  #closing: Promise<void> | undefined

  constructor(options: EtcdBackendOptions) {
    const { client, endpoints } = options
    if ((client === undefined) === (endpoints === undefined)) {
      throw new InvalidArgumentError('options', 'pass exactly one of `client` (an Etcd3) or `endpoints`')
    }
    if (endpoints !== undefined && (endpoints.length === 0 || endpoints.some((e) => typeof e !== 'string'))) {
      throw new InvalidArgumentError('options.endpoints', 'must be a non-empty list of URLs')
    }
    this.#prefix = validatePrefix(options.keyPrefix ?? DEFAULT_KEY_PREFIX)
    this.#toleranceMs = nonNegative('options.clockToleranceMs', options.clockToleranceMs ?? 0)
    if (client !== undefined) {
      this.#client = client
      this.#ownsClient = false
      this.#endpoint = 'a caller-provided etcd3 client'
    } else {
      const list = endpoints ?? []
      const timeout = positive(
        'options.operationTimeoutMs',
        options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS,
      )
      this.#client = openClient(ownClientOptions(list, timeout, options.etcdOptions))
      this.#ownsClient = true
      this.#endpoint = describeEndpoints(list)
    }
    this.#leases = new LeasePool(this.#client)
    this.#watch = new ReleaseWatch(this.#client)
    this.#semaphores = new EtcdSemaphores({
      client: this.#client,
      leases: this.#leases,
      watch: this.#watch,
      prefix: this.#prefix,
      toleranceMs: this.#toleranceMs,
    })
  }

  /**
   * One transaction: if the owner key does not exist, put both keys under a
   * lease; otherwise read them. A holder past its deadline is removed by a
   * second transaction (only if it is still that holder), then the first one
   * runs again, so the new holder gets a new create revision as its fence.
   */
  async acquire(key: string, owner: string, ttlMs: number): Promise<AcquireResult> {
    const keys = this.#lockKeys('acquire', key)
    const start = Date.now()
    const deadline = start + ttlMs
    const ownerValue = Buffer.from(owner)
    try {
      const lease = await this.#leases.take(ttlMs)
      for (let attempt = 1; ; attempt++) {
        const reply = await this.#txn({
          compare: [{ key: keys.owner, target: 'Create', result: 'Equal', create_revision: 0 }],
          success: putLock(keys, ownerValue, deadline, lease.id),
          failure: readLock(keys),
        })
        if (reply.succeeded) return { acquired: true, fence: Number(reply.header.revision), ttlMs }
        const held = heldLock(reply)
        if (held === undefined) {
          if (attempt < TAKEOVER_ATTEMPTS) continue
          throw new Error('the lock keys changed under every attempt')
        }
        const now = Date.now()
        if (held.owner.value.equals(ownerValue) && held.deadline > now) {
          // The same owner again (a resent request): refresh its deadline, keep its fence.
          const refreshed = await this.#txn({
            compare: [
              {
                key: keys.owner,
                target: 'Create',
                result: 'Equal',
                create_revision: held.owner.create_revision,
              },
              { key: keys.deadline, target: 'Value', result: 'Equal', value: held.deadlineValue },
            ],
            success: [...putLock(keys, ownerValue, deadline, lease.id, true)],
          })
          if (refreshed.succeeded) {
            this.#leases.detached(held.owner.lease)
            return { acquired: true, fence: Number(held.owner.create_revision), ttlMs }
          }
          continue
        }
        if (held.deadline + this.#toleranceMs < now && attempt < TAKEOVER_ATTEMPTS) {
          // Expired but not yet collected: remove it if it is still the same holder, then try again.
          const removed = await this.#txn({
            compare: [
              {
                key: keys.owner,
                target: 'Create',
                result: 'Equal',
                create_revision: held.owner.create_revision,
              },
              { key: keys.deadline, target: 'Value', result: 'Equal', value: held.deadlineValue },
            ],
            success: deleteLock(keys),
          })
          if (removed.succeeded) this.#leases.detached(held.owner.lease)
          continue
        }
        this.#leases.giveBack(lease)
        return {
          acquired: false,
          holder: {
            owner: held.owner.value.toString(),
            fence: Number(held.owner.create_revision),
            remainingMs: Math.max(0, held.deadline - now),
          },
        }
      }
    } catch (error) {
      throw this.#fail('acquire', error)
    }
  }

  /**
   * One transaction, if `owner` holds `key` and its deadline has not passed:
   * both keys are put again under a new lease with the new deadline (the
   * create revision, so the fence, stays); the old lease goes back to the pool (see `lease-pool.ts`).
   */
  async extend(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const keys = this.#lockKeys('extend', key)
    const start = Date.now()
    const ownerValue = Buffer.from(owner)
    try {
      const lease = await this.#leases.take(ttlMs)
      const reply = await this.#txn({
        compare: heldBy(keys, ownerValue, Date.now()),
        success: putLock(keys, ownerValue, start + ttlMs, lease.id, true),
      })
      if (!reply.succeeded) {
        this.#leases.giveBack(lease)
        return false
      }
      const previous = reply.responses[0]?.response_put?.prev_kv
      if (previous !== undefined && previous !== null) this.#leases.detached(previous.lease)
      return true
    } catch (error) {
      throw this.#fail('extend', error)
    }
  }

  /** One transaction: deletes both keys if `owner` holds `key` and its deadline has not passed. */
  async release(key: string, owner: string): Promise<boolean> {
    const keys = this.#lockKeys('release', key)
    try {
      const reply = await this.#txn({
        compare: heldBy(keys, Buffer.from(owner), Date.now()),
        success: deleteLock(keys),
      })
      if (!reply.succeeded) return false
      const previous = reply.responses[0]?.response_delete_range?.prev_kvs[0]
      if (previous !== undefined) this.#leases.detached(previous.lease)
      return true
    } catch (error) {
      throw this.#fail('release', error)
    }
  }

  /** Reads both keys in one transaction; a holder past its deadline counts as free. */
  async peek(key: string): Promise<LockInfo | null> {
    const keys = this.#lockKeys('peek', key)
    try {
      return await this.#peekKeys(keys)
    } catch (error) {
      throw this.#fail('peek', error)
    }
  }

  async #peekKeys(keys: LockKeys): Promise<LockInfo | null> {
    const reply = await this.#txn({ compare: [], success: readLock(keys) })
    const held = heldLock(reply)
    const now = Date.now()
    if (held === undefined || held.deadline <= now) return null
    return {
      owner: held.owner.value.toString(),
      fence: Number(held.owner.create_revision),
      remainingMs: held.deadline - now,
    }
  }

  /** Reads the cache key; an entry past its deadline is a miss. */
  async getCached(key: string): Promise<StoredCacheEntry | undefined> {
    const stored = cacheKey(this.#prefix, this.#check('getCached', key))
    try {
      const reply = await this.#txn({ compare: [], success: [{ request_range: { key: stored } }] })
      const kv = reply.responses[0]?.response_range?.kvs[0]
      if (kv === undefined) return undefined
      const entry = decodeCacheEntry(kv.value)
      const remainingMs = entry.deadline - Date.now()
      if (remainingMs <= 0) return undefined
      return { value: entry.value, computeMs: entry.computeMs, remainingMs }
    } catch (error) {
      throw this.#fail('getCached', error)
    }
  }

  /** Puts the cache key with its deadline, under an etcd lease that collects it; the old entry's lease is freed. */
  async setCached(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    const stored = cacheKey(this.#prefix, this.#check('setCached', key))
    const deadline = Date.now() + ttlMs
    try {
      const lease = await this.#leases.take(ttlMs)
      const reply = await this.#txn({
        compare: [],
        success: [
          {
            request_put: {
              key: stored,
              value: encodeCacheEntry(deadline, entry.computeMs, entry.value),
              lease: lease.id,
              prev_kv: true,
            },
          },
        ],
      })
      const previous = reply.responses[0]?.response_put?.prev_kv
      if (previous !== undefined && previous !== null) this.#leases.detached(previous.lease)
    } catch (error) {
      throw this.#fail('setCached', error)
    }
  }

  /** Deletes the cache key; true only when an entry before its deadline was there. */
  async deleteCached(key: string): Promise<boolean> {
    const stored = cacheKey(this.#prefix, this.#check('deleteCached', key))
    try {
      const reply = await this.#txn({
        compare: [],
        success: [{ request_delete_range: { key: stored, prev_kv: true } }],
      })
      const previous = reply.responses[0]?.response_delete_range?.prev_kvs[0]
      if (previous === undefined) return false
      this.#leases.detached(previous.lease)
      return decodeCacheEntry(previous.value).deadline > Date.now()
    } catch (error) {
      throw this.#fail('deleteCached', error)
    }
  }

  /**
   * Resolves when `key` is released or its holder's deadline passes, at
   * `timeoutMs`, or when `signal` aborts. Reads the keys first and watches the
   * owner key from the revision after that read, so a release in between is
   * seen, never missed.
   */
  async waitForRelease(key: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const keys = this.#lockKeys('waitForRelease', key)
    if (signal?.aborted) return
    try {
      await this.#watch.wait(
        keys.owner,
        async () => {
          const reply = await this.#txn({ compare: [], success: readLock(keys) })
          const held = heldLock(reply)
          return {
            revision: reply.header.revision,
            remainingMs: held === undefined ? 0 : held.deadline + this.#toleranceMs - Date.now(),
          }
        },
        timeoutMs,
        signal,
      )
    } catch (error) {
      throw this.#fail('waitForRelease', error)
    }
  }

  /**
   * One page of the unexpired locks and cache entries whose keys start with
   * `options.prefix`: key-ordered etcd range reads (one transaction per kind
   * the page reaches), the prefix compared byte by byte, never as a pattern;
   * see `etcd-list.ts`.
   */
  async list(options: ListOptions): Promise<ListPage> {
    if (this.#closing !== undefined) throw backendClosedError(this.name, 'list')
    try {
      return await listEtcd(
        { prefix: this.#prefix, read: (requests) => this.#txn({ compare: [], success: requests }) },
        options,
      )
    } catch (error) {
      throw this.#fail('list', error)
    }
  }

  /** Takes `permits` of semaphore `key` (see `etcd-semaphore.ts`: a read, then one transaction that commits only if no holder changed). */
  async acquirePermits(
    key: string,
    owner: string,
    permits: number,
    limit: number,
    ttlMs: number,
  ): Promise<PermitAcquireResult> {
    this.#check('acquirePermits', key)
    try {
      return await this.#semaphores.acquire(key, owner, permits, limit, ttlMs)
    } catch (error) {
      throw this.#fail('acquirePermits', error)
    }
  }

  /** Moves `owner`'s holder key of `key` to a new lease and deadline, if its deadline has not passed. */
  async extendPermits(key: string, owner: string, ttlMs: number): Promise<boolean> {
    this.#check('extendPermits', key)
    try {
      return await this.#semaphores.extend(key, owner, ttlMs)
    } catch (error) {
      throw this.#fail('extendPermits', error)
    }
  }

  /** Deletes `owner`'s holder key of `key` in one transaction, if its deadline has not passed. */
  async releasePermits(key: string, owner: string): Promise<boolean> {
    this.#check('releasePermits', key)
    try {
      return await this.#semaphores.release(key, owner)
    } catch (error) {
      throw this.#fail('releasePermits', error)
    }
  }

  /** The holders of semaphore `key` whose deadline has not passed. */
  async peekPermits(key: string): Promise<PermitHolders> {
    this.#check('peekPermits', key)
    try {
      return await this.#semaphores.peek(key)
    } catch (error) {
      throw this.#fail('peekPermits', error)
    }
  }

  /** Reads the holders, then watches the semaphore's range from the next revision for a release; wakes at the first deadline. */
  async waitForPermits(
    key: string,
    permits: number,
    limit: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    this.#check('waitForPermits', key)
    if (signal?.aborted) return
    try {
      await this.#semaphores.wait(key, permits, limit, timeoutMs, signal)
    } catch (error) {
      throw this.#fail('waitForPermits', error)
    }
  }

  /**
   * Ends pending `waitForRelease` calls and their watches, revokes spare
   * leases, and closes the client if the backend opened it (never a caller's
   * `client`). Idempotent; every call after it rejects with a `BackendError`.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  async #shutdown(): Promise<void> {
    await this.#watch.close()
    await this.#leases.drain(1_000)
    if (this.#ownsClient) this.#client.close()
  }

  #check(operation: string, key: string): string {
    if (this.#closing !== undefined) throw backendClosedError(this.name, operation)
    return key
  }

  #lockKeys(operation: string, key: string): LockKeys {
    return lockKeys(this.#prefix, this.#check(operation, key))
  }

  #txn(request: {
    compare: NonNullable<Parameters<Etcd3['kv']['txn']>[0]['compare']>
    success: IRequestOp[]
    failure?: IRequestOp[]
  }): Promise<ITxnResponse> {
    return this.#client.kv.txn(request)
  }

  /** A `BackendError` for a failed `operation` that names the endpoints and carries the client's error. */
  #fail(operation: string, error: unknown): LockworkError {
    if (error instanceof LockworkError) return error
    const detail = error instanceof Error ? error.message : String(error)
    return new BackendError(this.name, `${operation} failed at ${this.#endpoint}: ${detail}`, {
      cause: error,
    })
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new InvalidArgumentError(name, 'must be a positive number of ms')
  return value
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0)
    throw new InvalidArgumentError(name, 'must be a non-negative number of ms')
  return value
}

/**
 * Creates an etcd backend over your `etcd3` client (`{ client }`) or a client
 * of its own (`{ endpoints }`).
 *
 * @example
 * ```ts
 * const lw = createLockwork({ backend: createEtcdBackend({ endpoints: ['http://127.0.0.1:2379'] }) })
 * ```
 */
export function createEtcdBackend(options: EtcdBackendOptions): EtcdBackend {
  return new EtcdBackend(options)
}
