/**
 * The clients the Redis backend accepts, described by their shape only, so
 * that using the backend with one client library never requires the others'
 * type declarations (every client library is an optional peer dependency).
 * Each interface names the few stable members the backend detects a client
 * by; the backend reaches the rest of the client through its own adapter
 * (`ioredis-port.ts`, `node-redis-port.ts`).
 */

/**
 * An ioredis (5 or 6) or iovalkey `Redis` or `Cluster` instance: the shape the
 * backend recognises it by (`evalsha`, `duplicate`, `status`, `isCluster`).
 */
export interface IoredisLikeClient {
  /** `true` for a `Cluster`. */
  readonly isCluster: boolean
  /** The connection state (`'ready'`, `'connecting'`, `'end'`, …). */
  readonly status: string
  /** The client's options; the backend reads `keyPrefix`, `host`, `port`, `path` and the offline-queue settings. */
  readonly options: object
  /** Runs a cached script by its SHA-1. */
  evalsha(sha: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>
  /** A new connection with the same settings (the backend's subscriber). */
  duplicate(): unknown
}

/**
 * A node-redis (`redis` or `@redis/client`, version 5 or 6) client made with
 * `createClient()` or cluster made with `createCluster()`, already
 * connected (`await client.connect()`): the shape the backend recognises it
 * by (`evalSha`, `isOpen`, `isReady`, `duplicate`).
 */
export interface NodeRedisLikeClient {
  /** Whether `connect()` was called and the client is not closed. */
  readonly isOpen: boolean
  /** Whether the connection is up and ready for commands. */
  readonly isReady: boolean
  /** Runs a cached script by its SHA-1. */
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>
  /** A new, not yet connected client with the same settings (the backend's subscriber). */
  duplicate(): unknown
}

/** Any client {@link RedisBackendOptions.client} accepts. */
export type RedisClientLike = IoredisLikeClient | NodeRedisLikeClient

/**
 * The ioredis options the backend reads on the connection it opens from
 * `url`; {@link RedisBackendOptions.redisOptions} takes these or any other
 * ioredis options (an ioredis `RedisOptions` object too), typed loosely so
 * that the declarations do not depend on ioredis being installed.
 */
export interface IoredisConnectionOptions {
  /** ioredis `connectTimeout`, ms. */
  readonly connectTimeout?: number
  /** ioredis `maxRetriesPerRequest`. */
  readonly maxRetriesPerRequest?: number | null
  /** ioredis `enableOfflineQueue`. */
  readonly enableOfflineQueue?: boolean
  /** ioredis `retryStrategy`: the delay before reconnection attempt `attempt`, in ms, or nothing to stop. */
  // biome-ignore lint/suspicious/noConfusingVoidType: ioredis types the strategy as returning `number | void | null`.
  readonly retryStrategy?: ((attempt: number) => number | null | undefined | void) | null
  /** ioredis `disconnectTimeout`, ms. */
  readonly disconnectTimeout?: number
  /** ioredis `lazyConnect`. */
  readonly lazyConnect?: boolean
  /** ioredis `keyPrefix`: prepended to every key (not to channels). */
  readonly keyPrefix?: string
}
