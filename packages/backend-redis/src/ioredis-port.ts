import { createRequire } from 'node:module'
import { InvalidArgumentError } from '@lockwork/core'
import type { IoredisConnectionOptions, IoredisLikeClient } from './client-types.js'
import type { CommandPort, ScanTarget } from './command-port.js'
import { checkConnectionSettings, endpointOf } from './connection-settings.js'
import type { SubscriberConnection } from './release-subscriber.js'

/** Options of an ioredis `Redis` (or the common part of a `Cluster`'s) that the adapter reads. */
interface IoredisOptions {
  readonly keyPrefix?: string | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly path?: string | null | undefined
  readonly enableOfflineQueue?: boolean | undefined
  readonly maxRetriesPerRequest?: number | null | undefined
}

/** The slice of an ioredis or iovalkey `Redis` or `Cluster` the adapter uses. */
interface IoredisClient {
  readonly isCluster: boolean
  readonly status: string
  readonly options: IoredisOptions
  readonly startupNodes?: unknown
  evalsha(sha: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>
  eval(script: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>
  set(key: string, value: string, px: 'PX', ttlMs: number): Promise<unknown>
  del(key: string): Promise<number>
  wait(replicas: number, timeoutMs: number): Promise<number>
  scan(
    cursor: string,
    match: 'MATCH',
    pattern: string,
    count: 'COUNT',
    hint: number,
  ): Promise<[string, string[]]>
  nodes(role: 'master'): IoredisClient[]
  duplicate(...args: unknown[]): SubscriberConnection
  on(event: 'error', listener: (error: Error) => void): unknown
  on(event: 'ready', listener: () => void): unknown
  quit(): Promise<unknown>
  disconnect(): void
}

/** The ioredis `Redis` class, loaded when the backend opens a connection from a URL. */
type RedisConstructor = new (url: string, options: object) => IoredisClient

/** Whether `client` looks like an ioredis or iovalkey `Redis` or `Cluster` (by its stable members, not its class). */
export function isIoredisLike(client: unknown): client is IoredisLikeClient {
  if (typeof client !== 'object' || client === null) return false
  const c = client as Partial<Record<string, unknown>>
  return (
    typeof c.evalsha === 'function' &&
    typeof c.duplicate === 'function' &&
    typeof c.status === 'string' &&
    typeof c.isCluster === 'boolean' &&
    typeof c.options === 'object'
  )
}

/**
 * The adapter over a caller's ioredis or iovalkey client. Refuses a `Redis`
 * client whose settings would hold a lock request through an outage.
 */
export function ioredisPort(client: IoredisLikeClient): CommandPort {
  const redis = client as unknown as IoredisClient
  if (!redis.isCluster) checkConnectionSettings(redis.options, 'options.client')
  return new IoredisPort(redis, false)
}

/**
 * Opens an ioredis connection to `url` with `settings` (ioredis is loaded
 * here, so that a backend over another client library never needs it).
 */
export function openIoredis(url: string, settings: IoredisConnectionOptions): CommandPort {
  let Redis: RedisConstructor
  try {
    const ioredis = createRequire(import.meta.url)('ioredis') as { Redis: RedisConstructor }
    Redis = ioredis.Redis
  } catch (error) {
    throw new InvalidArgumentError(
      'options.url',
      `opening a connection from a URL needs the ioredis package (npm install ioredis), or pass your own client as \`client\` (${error instanceof Error ? error.message : String(error)})`,
    )
  }
  return new IoredisPort(new Redis(url, settings), true)
}

class IoredisPort implements CommandPort {
  readonly kind = 'ioredis'
  readonly isCluster: boolean
  readonly endpoint: string
  readonly clientKeyPrefix: string
  readonly #client: IoredisClient
  readonly #owned: boolean
  /** The last connection error of a connection the port opened, until it is ready again. */
  #connectionError: Error | undefined

  constructor(client: IoredisClient, owned: boolean) {
    this.#client = client
    this.#owned = owned
    this.isCluster = client.isCluster
    this.endpoint = client.isCluster ? clusterEndpoint(client) : endpointOf(client.options)
    this.clientKeyPrefix = typeof client.options.keyPrefix === 'string' ? client.options.keyPrefix : ''
    if (owned) {
      // Failures reach callers as rejected commands (with this error as their cause);
      // without a listener ioredis would print each one. A caller's client is left as it is.
      client.on('error', (error: Error) => {
        this.#connectionError = error
      })
      client.on('ready', () => {
        this.#connectionError = undefined
      })
    }
  }

  evalsha(sha: string, numberOfKeys: number, keysAndArgs: readonly (string | number)[]): Promise<unknown> {
    return this.#client.evalsha(sha, numberOfKeys, ...keysAndArgs)
  }

  eval(lua: string, numberOfKeys: number, keysAndArgs: readonly (string | number)[]): Promise<unknown> {
    return this.#client.eval(lua, numberOfKeys, ...keysAndArgs)
  }

  async setPx(key: string, value: string, ttlMs: number): Promise<void> {
    await this.#client.set(key, value, 'PX', ttlMs)
  }

  del(key: string): Promise<number> {
    return this.#client.del(key)
  }

  async wait(replicas: number, timeoutMs: number): Promise<number> {
    return Number(await this.#client.wait(replicas, timeoutMs))
  }

  async scanTargets(): Promise<ScanTarget[]> {
    const client = this.#client
    const nodes = client.isCluster
      ? client.nodes('master').map((node) => ({ node, name: `${node.options.host}:${node.options.port}` }))
      : [{ node: client, name: this.endpoint }]
    return nodes
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map(({ node, name }) => ({
        name,
        scan: (cursor: string, pattern: string, count: number) =>
          node.scan(cursor, 'MATCH', pattern, 'COUNT', count),
      }))
  }

  subscriber(): SubscriberConnection {
    const client = this.#client
    if (client.isCluster) return client.duplicate([], { lazyConnect: true })
    return client.duplicate({ lazyConnect: true })
  }

  connectionError(): Error | undefined {
    return this.#connectionError
  }

  isConnectionFailure(error: unknown): boolean {
    if (!(error instanceof Error)) return false
    return (
      error.name === 'MaxRetriesPerRequestError' ||
      error.message === 'Connection is closed.' ||
      error.message.startsWith("Stream isn't writeable")
    )
  }

  async close(): Promise<void> {
    if (!this.#owned) return
    const client = this.#client
    try {
      // QUIT only over a working connection: while Redis is unreachable it would wait in the offline queue.
      if (client.status === 'ready')
        await Promise.race([client.quit(), new Promise((resolve) => setTimeout(resolve, 1_000).unref())])
    } catch {
      // Already disconnected.
    } finally {
      client.disconnect()
    }
  }
}

/** A cluster's first startup node, for messages. */
function clusterEndpoint(cluster: IoredisClient): string {
  const nodes = cluster.startupNodes
  const first: unknown = Array.isArray(nodes) ? nodes[0] : undefined
  if (typeof first === 'object' && first !== null) {
    const node = first as { host?: string; port?: number }
    return `cluster ${endpointOf(node)}`
  }
  return typeof first === 'string' || typeof first === 'number' ? `cluster ${first}` : 'cluster'
}
