import { createHash } from 'node:crypto'
import {
  type AcquireResult,
  BackendError,
  type CacheEntry,
  InvalidArgumentError,
  type LockBackend,
  type LockInfo,
  type StoredCacheEntry,
  toBackendError,
  validatePrefix,
} from '@lockwork/core'
import type { Cluster, RedisOptions } from 'ioredis'
import { Redis } from 'ioredis'
import { ReleaseSubscriber, type SubscriberConnection } from './release-subscriber.js'
import { SCRIPTS, type ScriptName } from './scripts.js'

/** Options of {@link createRedisBackend}: pass either `client` or `url`. */
export interface RedisBackendOptions {
  /**
   * Your own ioredis `Redis` or `Cluster` instance (ioredis 5 or 6). The
   * backend registers its Lua scripts on it with `defineCommand` (under names
   * like `lockworkAcquire_1a2b3c4d`) and changes nothing else; `close()`
   * leaves it open. Its wake-on-release subscriber is a `duplicate()` of it.
   */
  readonly client?: Redis | Cluster
  /** A `redis://` or `rediss://` URL: the backend opens its own connection and closes it in `close()`. */
  readonly url?: string
  /** ioredis options for the connection opened from `url` (ignored with `client`). */
  readonly redisOptions?: RedisOptions
  /**
   * The namespace of every Redis key and channel the backend writes, before
   * the hash tag. Must not contain `{` or `}`. Default `'lockwork:'`.
   */
  readonly keyPrefix?: string
}

/** The default {@link RedisBackendOptions.keyPrefix}. */
export const DEFAULT_KEY_PREFIX = 'lockwork:'

/** Slack added to the holder's remaining lease when waiting for its expiry, in ms. */
const EXPIRY_SLACK_MS = 2

type ScriptCommand = (...args: (string | number)[]) => Promise<unknown>

/** The Redis keys and the channel of one lock key; all share one hash tag. */
interface KeySet {
  readonly lock: string
  readonly fence: string
  readonly cache: string
  readonly channel: string
}

/**
 * A {@link LockBackend} on Redis (standalone or Cluster) through ioredis:
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
 * - channel `<keyPrefix>{t}:released:<k>`: a message on each release.
 */
export class RedisBackend implements LockBackend {
  /** `'redis'`, also for a Cluster. */
  readonly name = 'redis'
  readonly #client: Redis | Cluster
  readonly #ownsClient: boolean
  readonly #keyPrefix: string
  readonly #commands: Record<ScriptName, string>
  readonly #subscriber: ReleaseSubscriber
  /** Settles pending `waitForRelease` calls on `close()`. */
  readonly #waiters = new Set<() => void>()
  #closing: Promise<void> | undefined

  constructor(options: RedisBackendOptions) {
    const { client, url } = options
    if ((client === undefined) === (url === undefined)) {
      throw new InvalidArgumentError(
        'options',
        'pass exactly one of `client` (an ioredis Redis or Cluster) or `url`',
      )
    }
    // Control characters and length as for a lockwork prefix; braces would move the hash tag.
    const keyPrefix = validatePrefix(options.keyPrefix ?? DEFAULT_KEY_PREFIX)
    if (/[{}]/.test(keyPrefix))
      throw new InvalidArgumentError('options.keyPrefix', 'must not contain `{` or `}`')
    this.#keyPrefix = keyPrefix
    const clientPrefix = client === undefined ? options.redisOptions?.keyPrefix : client.options.keyPrefix
    if (typeof clientPrefix === 'string' && emptyHashTag(clientPrefix)) {
      throw new InvalidArgumentError(
        'options.client',
        'its ioredis keyPrefix starts an empty hash tag `{}`, which would spread one lock over several cluster slots',
      )
    }
    if (client !== undefined) {
      this.#client = client
      this.#ownsClient = false
    } else {
      const own = new Redis(String(url), options.redisOptions ?? {})
      // Failures reach callers as rejected commands; without a listener ioredis prints each one.
      own.on('error', () => {})
      this.#client = own
      this.#ownsClient = true
    }
    this.#commands = defineScripts(this.#client)
    const source = this.#client
    this.#subscriber = new ReleaseSubscriber(() => duplicateForSubscriber(source))
  }

  /**
   * One script call: `SET NX PX` and `INCR` of the fence counter when free; the
   * same fence and a refreshed expiry when `owner` already holds it; otherwise
   * the holder's owner, fence and `PTTL`.
   */
  async acquire(key: string, owner: string, ttlMs: number): Promise<AcquireResult> {
    const keys = this.#keysFor('acquire', key)
    return this.#run('acquire', 'lockworkAcquire', [keys.lock, keys.fence, owner, ttlMs], (reply) => {
      const [status, fence, ttlOrRemaining, holder] = asArray(reply)
      if (toInt(status) === 1) return { acquired: true, fence: toInt(fence), ttlMs: toInt(ttlOrRemaining) }
      const remainingMs = Math.max(0, toInt(ttlOrRemaining))
      return { acquired: false, holder: { owner: String(holder), fence: toInt(fence), remainingMs } }
    })
  }

  /** One script call: `PEXPIRE` if `owner` holds the key. */
  async extend(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const keys = this.#keysFor('extend', key)
    return this.#run('extend', 'lockworkExtend', [keys.lock, owner, ttlMs], (reply) => toInt(reply) === 1)
  }

  /** One script call: `DEL` if `owner` holds the key, then `PUBLISH` on its release channel. */
  async release(key: string, owner: string): Promise<boolean> {
    const keys = this.#keysFor('release', key)
    return this.#run(
      'release',
      'lockworkRelease',
      [keys.lock, owner, keys.channel],
      (reply) => toInt(reply) === 1,
    )
  }

  /** One script call: owner, fence and `PTTL`. */
  async peek(key: string): Promise<LockInfo | null> {
    return this.#peek(this.#keysFor('peek', key))
  }

  /** One script call: `GET` and `PTTL` of the cache key. */
  async getCached(key: string): Promise<StoredCacheEntry | undefined> {
    const keys = this.#keysFor('getCached', key)
    return this.#run('getCached', 'lockworkGetCached', [keys.cache], (reply) => {
      if (reply === null || reply === undefined) return undefined
      const [stored, pttl] = asArray(reply)
      const text = String(stored)
      const colon = text.indexOf(':')
      const computeMs = Number(text.slice(0, colon))
      // Anything not written by setCached counts as a miss.
      if (colon < 0 || Number.isNaN(computeMs)) return undefined
      return { value: text.slice(colon + 1), computeMs, remainingMs: Math.max(0, toInt(pttl)) }
    })
  }

  /** `SET … PX`: a plain string key, `"<computeMs>:<value>"`. */
  async setCached(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    const keys = this.#keysFor('setCached', key)
    try {
      await this.#client.set(keys.cache, `${entry.computeMs}:${entry.value}`, 'PX', ttlMs)
    } catch (error) {
      throw toBackendError(this.name, 'setCached', error)
    }
  }

  /** `DEL` of the cache key. */
  async deleteCached(key: string): Promise<boolean> {
    const keys = this.#keysFor('deleteCached', key)
    try {
      return (await this.#client.del(keys.cache)) > 0
    } catch (error) {
      throw toBackendError(this.name, 'deleteCached', error)
    }
  }

  /**
   * Subscribes to the key's release channel, then peeks once: resolves at
   * once if the key is free, otherwise on the release message, at the
   * holder's expiry (its remaining lease plus a few ms), at `timeoutMs` or on
   * abort, whichever comes first. Expiry sends no message, hence the timer;
   * there is no polling. Rejects with a `BackendError` only when Redis fails.
   */
  async waitForRelease(key: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const keys = this.#keysFor('waitForRelease', key)
    if (signal?.aborted) return
    const deadline = performance.now() + timeoutMs
    return new Promise<void>((resolve, reject) => {
      let settled = false
      let stop: (() => void) | undefined
      let timer = setTimeout(() => finish(), timeoutMs)
      const wake = () => finish()
      const finish = (error?: unknown) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        signal?.removeEventListener('abort', wake)
        this.#waiters.delete(wake)
        stop?.()
        if (error === undefined) resolve()
        else reject(toBackendError(this.name, 'waitForRelease', error))
      }
      signal?.addEventListener('abort', wake, { once: true })
      this.#waiters.add(wake)
      this.#subscriber
        .listen(keys.channel, wake)
        .then(async (unlisten) => {
          stop = unlisten
          if (settled) return unlisten()
          // Subscribed: a release from now on wakes us. Check for one that came before.
          const holder = await this.#peek(keys)
          if (settled) return
          if (holder === null) return finish()
          clearTimeout(timer)
          const left = Math.min(deadline - performance.now(), holder.remainingMs + EXPIRY_SLACK_MS)
          timer = setTimeout(() => finish(), Math.max(0, left))
        })
        .catch(finish)
    })
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
    this.#subscriber.close()
    if (!this.#ownsClient) return
    const client = this.#client
    try {
      await Promise.race([client.quit(), new Promise((resolve) => setTimeout(resolve, 1_000).unref())])
    } catch {
      // Already disconnected.
    } finally {
      client.disconnect()
    }
  }

  async #peek(keys: KeySet): Promise<LockInfo | null> {
    return this.#run('peek', 'lockworkPeek', [keys.lock, keys.fence], (reply) => {
      if (reply === null || reply === undefined) return null
      const [owner, fence, pttl] = asArray(reply)
      return { owner: String(owner), fence: toInt(fence), remainingMs: Math.max(0, toInt(pttl)) }
    })
  }

  /** Throws if closed; otherwise the Redis keys and channel of `key`. */
  #keysFor(operation: string, key: string): KeySet {
    if (this.#closing !== undefined)
      throw new BackendError(this.name, `${operation} failed: the backend is closed`)
    const tag = createHash('sha1').update(key).digest('hex').slice(0, 8)
    const base = `${this.#keyPrefix}{${tag}}:`
    return {
      lock: `${base}lock:${key}`,
      fence: `${base}fence:${key}`,
      cache: `${base}cache:${key}`,
      channel: `${base}released:${key}`,
    }
  }

  /** Runs one script and parses its reply; any failure becomes a `BackendError`. */
  async #run<T>(
    operation: string,
    script: ScriptName,
    args: (string | number)[],
    parse: (reply: unknown) => T,
  ): Promise<T> {
    const commands = this.#client as unknown as Record<string, ScriptCommand | undefined>
    const name = this.#commands[script]
    try {
      const command = commands[name]
      if (command === undefined) throw new Error(`the script command ${name} is not defined on the client`)
      return parse(await command.apply(this.#client, args))
    } catch (error) {
      throw toBackendError(this.name, operation, error)
    }
  }
}

/**
 * Creates a Redis backend over your ioredis client (`{ client }`) or a
 * connection of its own (`{ url }`).
 *
 * @example
 * ```ts
 * const lw = createLockwork({ backend: createRedisBackend({ client: new Redis(url) }), prefix: 'myapp:' })
 * ```
 */
export function createRedisBackend(options: RedisBackendOptions): RedisBackend {
  return new RedisBackend(options)
}

/**
 * Registers every script on `client` with `defineCommand`, under its base name
 * plus the first 8 hex digits of the SHA-1 of its Lua text, so two lockwork
 * versions sharing one client never run each other's scripts. Returns the
 * command names. ioredis sends `EVALSHA` and falls back to `EVAL` on
 * `NOSCRIPT` (after `SCRIPT FLUSH` or a restart). Scripts are not marked
 * read-only, so ioredis never routes them to a replica.
 */
function defineScripts(client: Redis | Cluster): Record<ScriptName, string> {
  const names = {} as Record<ScriptName, string>
  for (const [base, script] of Object.entries(SCRIPTS) as [ScriptName, (typeof SCRIPTS)[ScriptName]][]) {
    const name = `${base}_${createHash('sha1').update(script.lua).digest('hex').slice(0, 8)}`
    if (typeof Reflect.get(client, name) !== 'function') {
      client.defineCommand(name, { lua: script.lua, numberOfKeys: script.numberOfKeys })
    }
    names[base] = name
  }
  return names
}

/** A new, not yet connected connection with the same settings as `client`, for SUBSCRIBE. */
function duplicateForSubscriber(client: Redis | Cluster): SubscriberConnection {
  if (isCluster(client)) return client.duplicate([], { lazyConnect: true })
  return client.duplicate({ lazyConnect: true })
}

/** Whether Redis would hash all of a key starting with `prefix`: its first `{` is followed at once by `}`. */
function emptyHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{')
  return open >= 0 && prefix[open + 1] === '}'
}

function isCluster(client: Redis | Cluster): client is Cluster {
  return client.isCluster
}

function asArray(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw new Error(`unexpected reply from Redis: ${String(reply)}`)
  return reply
}

/** Integers arrive as numbers, or as strings when the client uses `stringNumbers`. */
function toInt(value: unknown): number {
  const number = typeof value === 'number' ? value : Number(value)
  if (!Number.isFinite(number)) throw new Error(`unexpected non-integer in reply: ${String(value)}`)
  return number
}
