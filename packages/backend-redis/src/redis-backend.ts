import * as crypto from 'node:crypto'
import {
  type AcquireResult,
  BackendError,
  backendClosedError,
  type CacheEntry,
  InvalidArgumentError,
  type ListOptions,
  type ListPage,
  type LockBackend,
  type LockGrant,
  type LockInfo,
  LockworkError,
  type PermitAcquireResult,
  type PermitHolders,
  type StoredCacheEntry,
  validatePrefix,
} from '@lockwork/core'
import { EXPIRY_SLACK_MS, waitOnChannel } from './channel-wait.js'
import { portForClient } from './client-port.js'
import type { IoredisConnectionOptions, RedisClientLike } from './client-types.js'
import type { CommandPort } from './command-port.js'
import { checkConnectionSettings, LOCK_CONNECTION_DEFAULTS, parseRedisUrl } from './connection-settings.js'
import { GrantWaits } from './grant-wait.js'
import { openIoredis } from './ioredis-port.js'
import { listRedis } from './list-scan.js'
import { ReleaseSubscriber } from './release-subscriber.js'
import { awaitReplicas, checkWaitForReplicas, type WaitForReplicas } from './replica-ack.js'
import { asArray, toInt } from './reply-values.js'
import type { LoadedScript, ScriptBackendParts } from './script-backend-parts.js'
import {
  ACQUIRE,
  EXTEND,
  GET_CACHED,
  PEEK,
  PEEK_AND_MARK,
  RELEASE,
  type ScriptDefinition,
} from './scripts.js'
import { SemaphoreCommands } from './semaphore-commands.js'

/** Options of {@link createRedisBackend}: pass either `client` or `url`. */
export interface RedisBackendOptions {
  /**
   * Your own client: an ioredis (5 or 6) or iovalkey `Redis` or `Cluster`, or
   * a connected node-redis (5 or 6) client or cluster (`createClient`,
   * `createCluster`); the backend tells them apart by their methods. It
   * sends its commands and Lua scripts (`EVALSHA`) through it and changes
   * nothing on it; `close()` leaves it open. Its wake-on-release subscriber
   * is a `duplicate()` of it. An ioredis `Redis` client with
   * `maxRetriesPerRequest: null` and the offline queue on is refused
   * (`InvalidArgumentError`): it would hold lock requests through an outage.
   * Backends over different client libraries share locks on one server.
   */
  readonly client?: RedisClientLike
  /**
   * A `redis://` or `rediss://` URL (or a Unix socket path): the backend opens
   * its own connection, with settings made for locks (a call fails within
   * about 2 s when Redis is unreachable), and closes it in `close()`.
   */
  readonly url?: string
  /**
   * ioredis options for the connection opened from `url` (ignored with
   * `client`); they override the backend's defaults (`connectTimeout` 2 s,
   * `maxRetriesPerRequest` 1, reconnection at most 1 s apart). A connection
   * from `url` is an ioredis one: it needs the `ioredis` package installed.
   */
  readonly redisOptions?: IoredisConnectionOptions | { readonly [option: string]: unknown }
  /**
   * The namespace of every Redis key and channel the backend writes, before
   * the hash tag. Must not contain `{` or `}`. Default `'lockwork:'`.
   */
  readonly keyPrefix?: string
  /**
   * Narrows the failover window (standalone Redis with replicas only): after
   * each successful `acquire` and `extend` (and `acquirePermits` and
   * `extendPermits`), send `WAIT replicas timeoutMs` and
   * count the operation as done only once that many replicas have received
   * it. An acquisition they do not acknowledge in time is released again and
   * rejects with a `BackendError`; such an extension rejects with a
   * `BackendError` (the handle keeps its old deadline and retries). It does
   * not make Redis strongly consistent: see the README. Default: no waiting.
   */
  readonly waitForReplicas?: WaitForReplicas
}

/** The default {@link RedisBackendOptions.keyPrefix}. */
export const DEFAULT_KEY_PREFIX = 'lockwork:'

/**
 * How long the record of a release lives, in ms: a resent release (ioredis
 * resends a command whose reply was lost in a reconnect) that arrives within
 * this time still answers `true`. The backend's own connection resends or
 * gives up within about 3 s.
 */
export const RELEASE_RECORD_TTL_MS = 10_000

/** Makes the id of one release call: unique across processes (96 random bits) and calls (a counter). */
function releaseIds(): () => string {
  const instance = crypto.randomBytes(12).toString('base64url')
  let count = 0
  return () => `${instance}.${(++count).toString(36)}`
}

/** SHA-1 in hex: the one-shot `crypto.hash` where Node has it (20.12+), else `createHash`; same digest. */
const sha1Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha1', text, 'hex')
    : (text) => crypto.createHash('sha1').update(text).digest('hex')

function load(script: ScriptDefinition): LoadedScript {
  return { ...script, sha: sha1Hex(script.lua) }
}

/**
 * How many keys' hash-tagged bases a backend remembers (a map of short
 * strings, emptied when full): a lock's release, extensions and the next
 * acquisitions of a hot key skip the SHA-1.
 */
const BASE_CACHE_SIZE = 1024

const SCRIPT_ACQUIRE = load(ACQUIRE)
const SCRIPT_EXTEND = load(EXTEND)
const SCRIPT_RELEASE = load(RELEASE)
const SCRIPT_PEEK = load(PEEK)
const SCRIPT_PEEK_AND_MARK = load(PEEK_AND_MARK)
const SCRIPT_GET_CACHED = load(GET_CACHED)

/**
 * A {@link LockBackend} on Redis (standalone or Cluster) through ioredis,
 * iovalkey or node-redis (one adapter each, see `command-port.ts`):
 * every operation is one round trip to one slot, releases wake waiters over
 * pub/sub, and every acquisition gets a fencing token.
 *
 * Redis layout for a lock key `k` with hash tag `t` (the first 8 hex digits
 * of SHA-1 of `k`, so every key of `k` lands in one cluster slot whatever
 * braces `k` contains):
 *
 * - `<keyPrefix>{t}:lock:<k>`: the owner token, with the lease as its `PX` expiry;
 * - `<keyPrefix>{t}:fence:<k>`: the fence counter, `INCR`ed on each new
 *   acquisition; it never expires (one small key per lock key ever used);
 * - `<keyPrefix>{t}:cache:<k>`: a cache entry, `"<computeMs>:<value>"` with `PX`;
 * - `<keyPrefix>{t}:freed:<call id>`: the record of one release call, for
 *   {@link RELEASE_RECORD_TTL_MS} (so a resent release answers truthfully);
 * - `<keyPrefix>{t}:waiting:<k>`: set by a waiter (for its timeout) once it
 *   is subscribed and found `k` held, and kept alive while a waiter is queued
 *   for a grant; the next release deletes it, and only a release that found
 *   it looks at the queue and publishes (a release nobody waits for is three
 *   commands: `GET`, the record's `SET`, `DEL`);
 * - `<keyPrefix>{t}:queue:<k>` and `<keyPrefix>{t}:queued:<k>`: the waiters
 *   queued for a grant (see `grant-scripts.ts`);
 * - channel `<keyPrefix>{t}:released:<k>`: a grant (`g:…`) on each release
 *   that handed the key to a queued waiter, else `released` on each release
 *   that found the waiting marker.
 *
 * A semaphore `k` (a namespace of its own) uses `semholders:`, `sempermits:`,
 * `semfence:` and the channel `semreleased:` under the same tag; see
 * `semaphore-commands.ts`.
 */
export class RedisBackend implements LockBackend {
  /** `'redis'`, also for a Cluster. */
  readonly name = 'redis'
  /** The commands, through the adapter of the client library. */
  readonly #port: CommandPort
  readonly #keyPrefix: string
  readonly #waitForReplicas: WaitForReplicas | undefined
  /** Hash-tagged bases of recently used keys (see {@link BASE_CACHE_SIZE}). */
  readonly #bases = new Map<string, string>()
  readonly #subscriber: ReleaseSubscriber
  /** Settles pending `waitForRelease` calls on `close()`. */
  readonly #waiters = new Set<() => void>()
  /** Ids of release calls, for their release records. */
  readonly #releaseId = releaseIds()
  #closing: Promise<void> | undefined
  /** The counting semaphores (`acquirePermits` and the rest). */
  readonly #semaphores: SemaphoreCommands
  /** Grant-on-release (`waitForGrant`). */
  readonly #grants: GrantWaits

  constructor(options: RedisBackendOptions) {
    const { client, url } = options
    if ((client === undefined) === (url === undefined)) {
      throw new InvalidArgumentError(
        'options',
        'pass exactly one of `client` (an ioredis, iovalkey or node-redis client) or `url`',
      )
    }
    // Control characters and length as for a lockwork prefix; braces would move the hash tag.
    const keyPrefix = validatePrefix(options.keyPrefix ?? DEFAULT_KEY_PREFIX)
    if (/[{}]/.test(keyPrefix))
      throw new InvalidArgumentError('options.keyPrefix', 'must not contain `{` or `}`')
    this.#keyPrefix = keyPrefix
    if (client !== undefined) {
      this.#port = portForClient(client)
    } else {
      parseRedisUrl(url)
      const settings: IoredisConnectionOptions = {
        ...LOCK_CONNECTION_DEFAULTS,
        ...(options.redisOptions as IoredisConnectionOptions | undefined),
      }
      checkConnectionSettings(settings, 'options.redisOptions')
      this.#port = openIoredis(String(url), settings)
    }
    const port = this.#port
    try {
      this.#waitForReplicas = checkWaitForReplicas(options.waitForReplicas, port.isCluster)
      if (emptyHashTag(port.clientKeyPrefix)) {
        throw new InvalidArgumentError(
          'options.client',
          'its ioredis keyPrefix starts an empty hash tag `{}`, which would spread one lock over several cluster slots',
        )
      }
    } catch (error) {
      void port.close()
      throw error
    }
    this.#subscriber = new ReleaseSubscriber(() => port.subscriber())
    const parts: ScriptBackendParts = {
      subscriber: this.#subscriber,
      waiters: this.#waiters,
      base: (operation, key) => this.#base(operation, key),
      load,
      run: (operation, script, args) => this.#eval(operation, script, args),
      fail: (operation, error) => this.#fail(operation, error),
    }
    this.#semaphores = new SemaphoreCommands(
      { ...parts, port, waitForReplicas: this.#waitForReplicas, releaseId: () => this.#releaseId() },
      RELEASE_RECORD_TTL_MS,
    )
    this.#grants = new GrantWaits(parts)
  }

  /**
   * One script call: `SET NX PX` and `INCR` of the fence counter when free; the
   * same fence and a refreshed expiry when `owner` already holds it; otherwise
   * the holder's owner, fence and `PTTL`.
   */
  acquire(key: string, owner: string, ttlMs: number): Promise<AcquireResult> {
    let base: string
    try {
      base = this.#base('acquire', key)
    } catch (error) {
      return Promise.reject(error)
    }
    // One promise layer over the driver's: no async wrapper on the hot path.
    return this.#eval('acquire', SCRIPT_ACQUIRE, [
      `${base}lock:${key}`,
      `${base}fence:${key}`,
      owner,
      ttlMs,
    ]).then((reply) => this.#acquired(key, owner, ttlMs, reply))
  }

  /** The result of the acquire script's `reply`; after `WAIT` when {@link RedisBackendOptions.waitForReplicas} is set. */
  #acquired(
    key: string,
    owner: string,
    ttlMs: number,
    reply: unknown,
  ): AcquireResult | Promise<AcquireResult> {
    let result: AcquireResult
    try {
      // Acquired: the fence alone (a number, or a string with `stringNumbers`). Held: `{fence, pttl, holder}`.
      if (typeof reply === 'number' || typeof reply === 'string') {
        result = { acquired: true, fence: toInt(reply), ttlMs }
      } else {
        const [fence, pttl, holder] = asArray(reply)
        const remainingMs = Math.max(0, toInt(pttl))
        result = { acquired: false, holder: { owner: String(holder), fence: toInt(fence), remainingMs } }
      }
    } catch (error) {
      throw this.#fail('acquire', error)
    }
    if (result.acquired && this.#waitForReplicas !== undefined)
      return this.#replicated('acquire', { key, owner }).then(() => result)
    return result
  }

  /** One script call: `PEXPIRE` if `owner` holds the key. */
  async extend(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const base = this.#base('extend', key)
    const extended = this.#isOne(
      'extend',
      await this.#eval('extend', SCRIPT_EXTEND, [`${base}lock:${key}`, owner, ttlMs]),
    )
    if (extended && this.#waitForReplicas !== undefined) await this.#replicated('extend')
    return extended
  }

  /**
   * `WAIT` for {@link RedisBackendOptions.waitForReplicas} after a write on
   * this connection. When it falls short after an acquisition (`release` is
   * given), the lease is released again, best effort.
   */
  async #replicated(operation: string, release?: { key: string; owner: string }): Promise<void> {
    try {
      await awaitReplicas(this.#port, this.#waitForReplicas as WaitForReplicas)
    } catch (error) {
      if (release !== undefined) await this.release(release.key, release.owner).catch(() => false)
      throw this.#fail(operation, error)
    }
  }

  /**
   * One script call: `DEL` if `owner` holds the key; if a waiter has marked
   * it, the hand-over to the oldest live queued waiter, or else `PUBLISH` on
   * its release channel. A short-lived record of this call (see
   * {@link RELEASE_RECORD_TTL_MS}) makes a resend of it after a reconnect
   * answer `true` too, not `false` for the lease it just freed.
   */
  release(key: string, owner: string): Promise<boolean> {
    let base: string
    try {
      base = this.#base('release', key)
    } catch (error) {
      return Promise.reject(error)
    }
    return this.#eval('release', SCRIPT_RELEASE, [
      `${base}lock:${key}`,
      `${base}freed:${this.#releaseId()}`,
      `${base}waiting:${key}`,
      `${base}fence:${key}`,
      `${base}queue:${key}`,
      `${base}queued:${key}`,
      owner,
      `${base}released:${key}`,
      RELEASE_RECORD_TTL_MS,
    ]).then((reply) => this.#isOne('release', reply))
  }

  /** One script call: owner, fence and `PTTL`. */
  async peek(key: string): Promise<LockInfo | null> {
    return this.#peek(this.#base('peek', key), key)
  }

  /** One script call: `GET` and `PTTL` of the cache key. */
  async getCached(key: string): Promise<StoredCacheEntry | undefined> {
    const base = this.#base('getCached', key)
    const reply = await this.#eval('getCached', SCRIPT_GET_CACHED, [`${base}cache:${key}`])
    try {
      if (reply === null || reply === undefined) return undefined
      const [stored, pttl] = asArray(reply)
      const text = String(stored)
      const colon = text.indexOf(':')
      const computeMs = Number(text.slice(0, colon))
      // Anything not written by setCached counts as a miss.
      if (colon < 0 || Number.isNaN(computeMs)) return undefined
      return { value: text.slice(colon + 1), computeMs, remainingMs: Math.max(0, toInt(pttl)) }
    } catch (error) {
      throw this.#fail('getCached', error)
    }
  }

  /** `SET … PX`: a plain string key, `"<computeMs>:<value>"`. */
  async setCached(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    const base = this.#base('setCached', key)
    try {
      await this.#port.setPx(`${base}cache:${key}`, `${entry.computeMs}:${entry.value}`, ttlMs)
    } catch (error) {
      throw this.#fail('setCached', error)
    }
  }

  /** `DEL` of the cache key. */
  async deleteCached(key: string): Promise<boolean> {
    const base = this.#base('deleteCached', key)
    try {
      return (await this.#port.del(`${base}cache:${key}`)) > 0
    } catch (error) {
      throw this.#fail('deleteCached', error)
    }
  }

  /**
   * {@inheritDoc @lockwork/core#LockBackend.list} `SCAN … MATCH` over every
   * master with the prefix escaped (no pattern characters from the caller),
   * then one script call per key found for its owner, fence and `PTTL`.
   */
  list(options: ListOptions): Promise<ListPage> {
    if (this.#closing !== undefined) return Promise.reject(backendClosedError(this.name, 'list'))
    return listRedis(
      {
        port: this.#port,
        keyPrefix: this.#keyPrefix,
        evaluate: (script, args) => this.#eval('list', script, args),
        fail: (error) => this.#fail('list', error),
      },
      options,
    )
  }

  /**
   * Subscribes to the key's release channel, then peeks once: resolves at
   * once if the key is free, otherwise on the release message, at the
   * holder's expiry (its remaining lease plus a few ms), at `timeoutMs` or on
   * abort, whichever comes first. Expiry sends no message, hence the timer;
   * there is no polling. Rejects with a `BackendError` only when Redis fails.
   */
  async waitForRelease(key: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const base = this.#base('waitForRelease', key)
    return waitOnChannel({
      subscriber: this.#subscriber,
      waiters: this.#waiters,
      channel: `${base}released:${key}`,
      timeoutMs,
      signal,
      // Subscribed: a release from now on wakes us once marked. Check for one that came
      // before, and mark the key in the same step so that its release publishes.
      check: async () => (await this.#peek(base, key, timeoutMs + EXPIRY_SLACK_MS))?.remainingMs ?? null,
      fail: (error) => this.#fail('waitForRelease', error),
    })
  }

  /**
   * Grant-on-release: subscribes to the key's release channel and queues
   * `owner` for the key (one script call); a release hands the key to the
   * oldest live queued owner and publishes the grant, which resolves this
   * wait with the lease (no further round trip). An entry counts as live
   * while its process refreshes it (every second, for `GRANT_LIVENESS_MS`,
   * 3 s); see `grant-wait.ts`. Any other end of the
   * wait leaves the queue in one more script call, which also reports a
   * grant that came first.
   */
  waitForGrant(
    key: string,
    owner: string,
    ttlMs: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<LockGrant | undefined> {
    return this.#grants.wait(key, owner, ttlMs, timeoutMs, signal)
  }

  /**
   * One script call: drops expired holders, then takes `permits` if the
   * unexpired holders leave room under `limit` (or answers `owner`'s own
   * fence again), else lists the holders. Expiry is on the server's clock.
   */
  acquirePermits(
    key: string,
    owner: string,
    permits: number,
    limit: number,
    ttlMs: number,
  ): Promise<PermitAcquireResult> {
    return this.#semaphores.acquire(key, owner, permits, limit, ttlMs)
  }

  /** One script call: a new expiry for `owner`'s unexpired permits. */
  extendPermits(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.#semaphores.extend(key, owner, ttlMs)
  }

  /** One script call: drops `owner`'s unexpired permits and `PUBLISH`es on the semaphore's channel. */
  releasePermits(key: string, owner: string): Promise<boolean> {
    return this.#semaphores.release(key, owner)
  }

  /** One script call: the unexpired holders with their permits, fences and remaining leases. */
  peekPermits(key: string): Promise<PermitHolders> {
    return this.#semaphores.peek(key)
  }

  /**
   * Subscribes to the semaphore's release channel, then peeks once: resolves
   * when `permits` of `limit` are free, on a release, when enough leases have
   * run out, at `timeoutMs` or on abort.
   */
  waitForPermits(
    key: string,
    permits: number,
    limit: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    return this.#semaphores.wait(key, permits, limit, timeoutMs, signal)
  }

  /**
   * Closes the connections the backend opened itself (from `url`, and the
   * subscriber) but never a caller's `client`; pending `waitForRelease` calls
   * resolve. Idempotent; every call after it rejects with a `BackendError`.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  async #shutdown(): Promise<void> {
    for (const wake of [...this.#waiters]) wake()
    // Queued waiters leave their queues before the connection goes (each one script call).
    await this.#grants.settle()
    this.#subscriber.close()
    await this.#port.close()
  }

  /** Owner, fence and `PTTL` of `key`; with `markForMs`, also the waiting marker for that long (see PEEK_AND_MARK). */
  async #peek(base: string, key: string, markForMs?: number): Promise<LockInfo | null> {
    const reply =
      markForMs === undefined
        ? await this.#eval('peek', SCRIPT_PEEK, [`${base}lock:${key}`, `${base}fence:${key}`])
        : await this.#eval('waitForRelease', SCRIPT_PEEK_AND_MARK, [
            `${base}lock:${key}`,
            `${base}fence:${key}`,
            `${base}waiting:${key}`,
            Math.max(1, Math.ceil(markForMs)),
          ])
    try {
      if (reply === null || reply === undefined) return null
      const [owner, fence, pttl] = asArray(reply)
      return { owner: String(owner), fence: toInt(fence), remainingMs: Math.max(0, toInt(pttl)) }
    } catch (error) {
      throw this.#fail('peek', error)
    }
  }

  /**
   * Throws if closed; otherwise `<keyPrefix>{<tag>}:`, the start of every Redis
   * key and channel of `key`, where the tag is the first 8 hex digits of SHA-1 of `key`.
   */
  #base(operation: string, key: string): string {
    if (this.#closing !== undefined) throw backendClosedError(this.name, operation)
    const bases = this.#bases
    let base = bases.get(key)
    if (base === undefined) {
      base = `${this.#keyPrefix}{${sha1Hex(key).slice(0, 8)}}:`
      // Bounded: start over when full (cheaper than tracking recency; a hit saves one SHA-1).
      if (bases.size >= BASE_CACHE_SIZE) bases.clear()
      bases.set(key, base)
    }
    return base
  }

  /**
   * Runs one script with `EVALSHA`, falling back to `EVAL` (which also caches
   * it on the server) on `NOSCRIPT`, after `SCRIPT FLUSH` or a restart. Any
   * failure becomes a `BackendError`.
   */
  #eval(operation: string, script: LoadedScript, args: (string | number)[]): Promise<unknown> {
    let sent: Promise<unknown>
    try {
      sent = this.#port.evalsha(script.sha, script.numberOfKeys, args)
    } catch (error) {
      sent = Promise.reject(error)
    }
    return sent.then(undefined, (error: unknown) => this.#evalAfterMiss(operation, script, args, error))
  }

  /** After a failed `EVALSHA`: `EVAL` on `NOSCRIPT`, otherwise the failure as a `BackendError`. */
  async #evalAfterMiss(
    operation: string,
    script: LoadedScript,
    args: (string | number)[],
    error: unknown,
  ): Promise<unknown> {
    if (!(error instanceof Error && error.message.includes('NOSCRIPT'))) throw this.#fail(operation, error)
    try {
      return await this.#port.eval(script.lua, script.numberOfKeys, args)
    } catch (error) {
      throw this.#fail(operation, error)
    }
  }

  /** A script's `1` (done) or `0` (not held); anything else is a failure of `operation`. */
  #isOne(operation: string, reply: unknown): boolean {
    try {
      return toInt(reply) === 1
    } catch (error) {
      throw this.#fail(operation, error)
    }
  }

  /**
   * A `BackendError` for a failed `operation` that names the endpoint. When
   * the driver gave up on a command because the connection is down, the cause
   * is the connection's own error (`ECONNREFUSED`, `ETIMEDOUT`, …), where the
   * adapter has seen it (a connection the backend owns, or a node-redis client).
   */
  #fail(operation: string, error: unknown): LockworkError {
    if (error instanceof LockworkError) return error
    const detail = error instanceof Error ? error.message : String(error)
    const port = this.#port
    const connection = port.connectionError()
    if (connection !== undefined && port.isConnectionFailure(error)) {
      return new BackendError(
        this.name,
        `${operation} failed at ${port.endpoint}: ${connection.message} (${detail})`,
        { cause: connection },
      )
    }
    return new BackendError(this.name, `${operation} failed at ${port.endpoint}: ${detail}`, {
      cause: error,
    })
  }
}

/**
 * Creates a Redis backend over your ioredis, iovalkey or node-redis client
 * (`{ client }`) or an ioredis connection of its own (`{ url }`).
 *
 * @example
 * ```ts
 * const lw = createLockwork({ backend: createRedisBackend({ client: new Redis(url) }), prefix: 'myapp:' })
 * ```
 */
export function createRedisBackend(options: RedisBackendOptions): RedisBackend {
  return new RedisBackend(options)
}

/** Whether Redis would hash all of a key starting with `prefix`: its first `{` is followed at once by `}`. */
function emptyHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{')
  return open >= 0 && prefix[open + 1] === '}'
}
