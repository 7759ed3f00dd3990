import type { NodeRedisLikeClient } from './client-types.js'
import type { CommandPort, ScanTarget } from './command-port.js'
import { endpointOf, LOCK_CONNECTION_DEFAULTS } from './connection-settings.js'
import type { SubscriberConnection } from './release-subscriber.js'

/** `EVAL`/`EVALSHA` arguments as node-redis takes them. */
interface EvalOptions {
  keys: string[]
  arguments: string[]
}

/** The options of a node-redis client (or of one root node of a cluster) that name its endpoint. */
interface NodeRedisEndpointOptions {
  readonly url?: string | undefined
  readonly socket?: { readonly host?: string; readonly port?: number; readonly path?: string } | undefined
}

/** The slice of a node-redis (5 or 6) client or cluster the adapter uses. */
interface NodeRedisClient {
  readonly isOpen: boolean
  readonly isReady: boolean
  /** A client's options (a getter); absent on a cluster. */
  readonly options?: NodeRedisEndpointOptions | undefined
  /** A cluster's options. */
  readonly _options?: { readonly rootNodes?: readonly NodeRedisEndpointOptions[] } | undefined
  /** A cluster's masters. */
  readonly masters?: readonly { readonly host: string; readonly port: number }[]
  evalSha(sha: string, options: EvalOptions): Promise<unknown>
  eval(lua: string, options: EvalOptions): Promise<unknown>
  set(key: string, value: string, options: { expiration: { type: 'PX'; value: number } }): Promise<unknown>
  del(key: string): Promise<number>
  wait(replicas: number, timeoutMs: number): Promise<number>
  scan(
    cursor: string,
    options: { MATCH: string; COUNT: number },
  ): Promise<{ cursor: string | number; keys: string[] }>
  nodeClient(node: unknown): NodeRedisClient | Promise<NodeRedisClient>
  withCommandOptions(options: { abortSignal?: AbortSignal }): NodeRedisClient
  duplicate(): NodeRedisSubscriberClient
  on(event: 'error', listener: (error: Error) => void): unknown
  on(event: 'ready', listener: () => void): unknown
  off(event: string, listener: (...args: never[]) => void): unknown
}

/** The slice of a duplicated node-redis client the subscriber uses. */
interface NodeRedisSubscriberClient {
  connect(): Promise<unknown>
  subscribe(channels: string[], listener: (message: string, channel: string) => void): Promise<unknown>
  unsubscribe(channel: string, listener: (message: string, channel: string) => void): Promise<unknown>
  on(event: 'error', listener: (error: Error) => void): unknown
  on(event: 'ready', listener: () => void): unknown
  destroy?(): void
  disconnect?(): Promise<unknown>
}

/**
 * How long the subscriber connection may take to connect (node-redis would
 * retry for ever): a cluster client connects to every master first, which
 * takes a while on a loaded machine. Only a waiter whose key was found held a
 * moment before waits for it; it then fails with a `BackendError`.
 */
const SUBSCRIBER_CONNECT_TIMEOUT_MS = 10_000

/** Messages node-redis rejects a command with when the connection, not Redis, failed. */
const CONNECTION_FAILURES = new Set([
  'The command was aborted',
  'The client is closed',
  'The client is offline',
  'Socket closed unexpectedly',
  'Connection timeout',
  'Disconnects client',
  'All the root nodes are unavailable',
])

/** Whether `client` looks like a node-redis client or cluster (by its stable members, not its class). */
export function isNodeRedisLike(client: unknown): client is NodeRedisLikeClient {
  if (typeof client !== 'object' || client === null) return false
  const c = client as Partial<Record<string, unknown>>
  return (
    typeof c.evalSha === 'function' &&
    typeof c.duplicate === 'function' &&
    typeof c.isOpen === 'boolean' &&
    typeof c.isReady === 'boolean'
  )
}

/**
 * The adapter over a caller's node-redis client or cluster. node-redis keeps
 * a command in its offline queue while it reconnects, for as long as that
 * takes; so that a lock request does not wait through an outage, a command
 * sent while the client is not ready is withdrawn from the queue after
 * {@link LOCK_CONNECTION_DEFAULTS}`.connectTimeout` (it was never sent, so
 * nothing happened on the server) and rejects. While the backend is open it
 * listens to the client's `error` and `ready` events to name the connection's
 * error as the cause; `close()` removes its listeners.
 */
export function nodeRedisPort(client: NodeRedisLikeClient): CommandPort {
  return new NodeRedisPort(client as unknown as NodeRedisClient)
}

class NodeRedisPort implements CommandPort {
  readonly kind = 'node-redis'
  readonly isCluster: boolean
  readonly endpoint: string
  readonly clientKeyPrefix = ''
  readonly #client: NodeRedisClient
  /** The client with default command options (the caller's may map replies to other types). */
  readonly #plain: NodeRedisClient
  #connectionError: Error | undefined
  readonly #onError = (error: Error) => {
    this.#connectionError = error
  }
  readonly #onReady = () => {
    this.#connectionError = undefined
  }

  constructor(client: NodeRedisClient) {
    this.#client = client
    this.#plain = client.withCommandOptions({})
    this.isCluster = Array.isArray(client.masters) && typeof client.nodeClient === 'function'
    this.endpoint = this.isCluster
      ? `cluster ${endpointOfNode(client._options?.rootNodes?.[0])}`
      : endpointOfNode(client.options)
    client.on('error', this.#onError)
    client.on('ready', this.#onReady)
  }

  /** The client to send a command through: while it is not ready, one whose queued command gives up in time. */
  #sender(): NodeRedisClient {
    if (this.#client.isReady) return this.#plain
    return this.#client.withCommandOptions({
      abortSignal: AbortSignal.timeout(LOCK_CONNECTION_DEFAULTS.connectTimeout),
    })
  }

  evalsha(sha: string, numberOfKeys: number, keysAndArgs: readonly (string | number)[]): Promise<unknown> {
    return this.#sender().evalSha(sha, split(numberOfKeys, keysAndArgs))
  }

  eval(lua: string, numberOfKeys: number, keysAndArgs: readonly (string | number)[]): Promise<unknown> {
    return this.#sender().eval(lua, split(numberOfKeys, keysAndArgs))
  }

  async setPx(key: string, value: string, ttlMs: number): Promise<void> {
    await this.#sender().set(key, value, { expiration: { type: 'PX', value: ttlMs } })
  }

  async del(key: string): Promise<number> {
    return Number(await this.#sender().del(key))
  }

  async wait(replicas: number, timeoutMs: number): Promise<number> {
    return Number(await this.#sender().wait(replicas, timeoutMs))
  }

  async scanTargets(): Promise<ScanTarget[]> {
    const client = this.#client
    const nodes: { name: string; client: () => Promise<NodeRedisClient> }[] = this.isCluster
      ? (client.masters ?? []).map((master) => ({
          name: `${master.host}:${master.port}`,
          client: async () => (await client.nodeClient(master)).withCommandOptions({}),
        }))
      : [{ name: this.endpoint, client: async () => this.#sender() }]
    return nodes
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map(({ name, client: node }) => ({
        name,
        async scan(cursor: string, pattern: string, count: number): Promise<[string, string[]]> {
          const reply = await (await node()).scan(cursor, { MATCH: pattern, COUNT: count })
          return [String(reply.cursor), reply.keys.map(String)]
        },
      }))
  }

  subscriber(): SubscriberConnection {
    return new NodeRedisSubscriber(this.#client.duplicate())
  }

  connectionError(): Error | undefined {
    return this.#connectionError
  }

  isConnectionFailure(error: unknown): boolean {
    return error instanceof Error && CONNECTION_FAILURES.has(error.message)
  }

  async close(): Promise<void> {
    this.#client.off('error', this.#onError)
    this.#client.off('ready', this.#onReady)
  }
}

/**
 * A duplicated node-redis client as the release subscriber's connection:
 * node-redis takes a listener per `SUBSCRIBE`, where ioredis emits `message`
 * events; one listener here forwards every message to the `message` handlers.
 */
class NodeRedisSubscriber implements SubscriberConnection {
  readonly #client: NodeRedisSubscriberClient
  readonly #handlers: ((channel: string, message: string) => void)[] = []
  readonly #listener = (message: string, channel: string) => {
    for (const handler of this.#handlers) handler(channel, message)
  }
  #closed = false

  constructor(client: NodeRedisSubscriberClient) {
    this.#client = client
  }

  /** Connects, or gives up after {@link SUBSCRIBER_CONNECT_TIMEOUT_MS} (the caller then disconnects): node-redis would retry for ever. */
  async connect(): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    let lastError: Error | undefined
    this.#client.on('error', (error) => {
      lastError = error
    })
    try {
      await Promise.race([
        this.#client.connect(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(lastError ?? new Error('Connection timeout')),
            SUBSCRIBER_CONNECT_TIMEOUT_MS,
          )
        }),
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  subscribe(...channels: string[]): Promise<unknown> {
    return this.#client.subscribe(channels, this.#listener)
  }

  unsubscribe(channel: string): Promise<unknown> {
    return this.#client.unsubscribe(channel, this.#listener)
  }

  on(event: 'message', listener: (channel: string, message: string) => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
  on(event: 'ready', listener: () => void): unknown
  on(
    event: 'message' | 'error' | 'ready',
    listener: ((channel: string, message: string) => void) | ((error: Error) => void) | (() => void),
  ): unknown {
    if (event === 'message') this.#handlers.push(listener as (channel: string, message: string) => void)
    else if (event === 'error') this.#client.on('error', listener as (error: Error) => void)
    else this.#client.on('ready', listener as () => void)
    return this
  }

  disconnect(): void {
    if (this.#closed) return
    this.#closed = true
    try {
      if (typeof this.#client.destroy === 'function') this.#client.destroy()
      else void this.#client.disconnect?.().catch(() => {})
    } catch {
      // Already closed (node-redis 5 throws on a second close).
    }
  }
}

/** Keys and arguments as node-redis takes them: separate lists, every item a string. */
function split(numberOfKeys: number, keysAndArgs: readonly (string | number)[]): EvalOptions {
  const all = keysAndArgs.map(String)
  return { keys: all.slice(0, numberOfKeys), arguments: all.slice(numberOfKeys) }
}

/** host:port, a socket path or the URL's host:port (never the password) of a node-redis client's options. */
function endpointOfNode(options: NodeRedisEndpointOptions | undefined): string {
  if (options?.url !== undefined) {
    try {
      const url = new URL(options.url)
      return `${url.hostname || 'localhost'}:${url.port || '6379'}`
    } catch {
      return 'redis'
    }
  }
  return endpointOf({ host: options?.socket?.host, port: options?.socket?.port, path: options?.socket?.path })
}
