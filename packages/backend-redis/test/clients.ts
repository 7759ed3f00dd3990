import { Redis as IoredisRedis } from 'ioredis'
import { Redis as IovalkeyRedis } from 'iovalkey'
import { createClient } from 'redis'
import type { RedisClientLike } from '../src/index.js'
import { redisUrl } from './redis-available.js'

/** The client libraries the backend supports, as the tests name them. */
export type ClientKind = 'ioredis' | 'node-redis' | 'iovalkey'

/** Every client kind. */
export const CLIENT_KINDS: readonly ClientKind[] = ['ioredis', 'node-redis', 'iovalkey']

/** A client of one kind, and how to close it (the backend never closes a caller's client). */
export interface TestClient {
  readonly kind: ClientKind
  readonly client: RedisClientLike
  close(): Promise<void>
}

/**
 * Opens a connected client of `kind` to `url`, with settings made for locks
 * (a command fails within seconds while Redis is away).
 */
export async function openClient(kind: ClientKind, url = redisUrl): Promise<TestClient> {
  if (kind === 'node-redis') {
    const client = createClient({ url })
    client.on('error', () => {})
    await client.connect()
    return { kind, client, close: async () => client.destroy() }
  }
  const settings = { maxRetriesPerRequest: 1, connectTimeout: 2_000, lazyConnect: true }
  const client = kind === 'ioredis' ? new IoredisRedis(url, settings) : new IovalkeyRedis(url, settings)
  client.on('error', () => {})
  await client.connect()
  return { kind, client, close: async () => void client.disconnect() }
}

/** Clients opened through {@link ClientPool.open}, closed together. */
export class ClientPool {
  readonly #clients: TestClient[] = []

  /** Opens a client of `kind` and remembers it for {@link ClientPool.closeAll}. */
  async open(kind: ClientKind, url?: string): Promise<TestClient> {
    const client = await openClient(kind, url)
    this.#clients.push(client)
    return client
  }

  /** Closes every client opened so far. */
  async closeAll(): Promise<void> {
    await Promise.allSettled(this.#clients.splice(0).map((client) => client.close()))
  }
}
