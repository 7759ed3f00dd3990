import type { SubscriberConnection } from './release-subscriber.js'

/**
 * The few Redis commands the backend sends, whatever client library carries
 * them: one adapter per library (`ioredis-port.ts` for ioredis and iovalkey,
 * `node-redis-port.ts` for node-redis). Every adapter sends the same
 * commands with the same keys and arguments, so backends over different
 * libraries share locks on one server. Adapters return the driver's own
 * errors; the backend wraps them.
 */
export interface CommandPort {
  /** The client library family, for messages. */
  readonly kind: 'ioredis' | 'node-redis'
  /** Whether the client is a cluster client. */
  readonly isCluster: boolean
  /** Where the connection goes (host:port, a socket path, or a cluster's first node); never the password. */
  readonly endpoint: string
  /** What the client itself prepends to every key (ioredis `keyPrefix`), `''` when nothing. */
  readonly clientKeyPrefix: string
  /**
   * `EVALSHA sha numberOfKeys keys… args…`, where `keysAndArgs` holds the keys
   * first; rejects with the driver's error (`NOSCRIPT …` included).
   */
  evalsha(sha: string, numberOfKeys: number, keysAndArgs: readonly (string | number)[]): Promise<unknown>
  /** `EVAL lua numberOfKeys keys… args…`. */
  eval(lua: string, numberOfKeys: number, keysAndArgs: readonly (string | number)[]): Promise<unknown>
  /** `SET key value PX ttlMs`. */
  setPx(key: string, value: string, ttlMs: number): Promise<void>
  /** `DEL key`: how many keys were deleted. */
  del(key: string): Promise<number>
  /** `WAIT replicas timeoutMs` on the connection that wrote last (standalone only): how many acknowledged. */
  wait(replicas: number, timeoutMs: number): Promise<number>
  /** The masters to `SCAN`, in a stable order (a standalone client is its own only master). */
  scanTargets(): Promise<ScanTarget[]>
  /** A new, not yet connected connection for `SUBSCRIBE`, with the client's settings. */
  subscriber(): SubscriberConnection
  /** The last connection error seen on the client, while it is not ready again; `undefined` when none. */
  connectionError(): Error | undefined
  /** Whether the driver rejected a command because the connection is down (not because Redis answered an error). */
  isConnectionFailure(error: unknown): boolean
  /** Ends what the port owns: the connection it opened, or only the listeners it added to a caller's client. */
  close(): Promise<void>
}

/** One master to `SCAN`. */
export interface ScanTarget {
  /** `host:port`, the sort key. */
  readonly name: string
  /** `SCAN cursor MATCH pattern COUNT count` → `[next cursor, keys]`. */
  scan(cursor: string, pattern: string, count: number): Promise<[string, string[]]>
}
