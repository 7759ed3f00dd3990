import { randomUUID } from 'node:crypto'
import { createLockwork, type Semaphore as LockworkSemaphore } from '@lockwork/core'
import { createRedisBackend } from '@lockwork/redis'
import { Redlock } from '@sesamecare-oss/redlock'
import { redisStore } from '@verrou/core/drivers/redis'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { Mutex, Semaphore } from 'redis-semaphore'
import type { BackendSuite, PairVariant } from '../pairs.js'
import { redisUrl } from '../services.js'
import { bareVariant, lockworkVariant, TTL_MS } from './common.js'
import { verrouVariant } from './verrou.js'

/** Compare-and-delete: the least a safe Redis release can do. */
export const RAW_RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

/** The limit of the semaphore rows (every pair takes one permit of it, uncontended). */
export const SEMAPHORE_LIMIT = 3

/** Opens an ioredis connection to the benchmarked server and waits until it is ready. */
export async function connectRedis(): Promise<Redis> {
  const client = new Redis(redisUrl, { lazyConnect: true })
  client.on('error', () => {})
  await client.connect()
  return client
}

/** Deletes every key whose name contains `marker` (the run's unique prefix). */
export async function deleteRedisKeys(client: Redis, marker: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `*${marker}*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await client.unlink(...keys)
  } while (cursor !== '0')
}

/** Opens a node-redis connection to the benchmarked server and waits until it is ready. */
export async function connectNodeRedis() {
  const client = createClient({ url: redisUrl })
  client.on('error', () => {})
  await client.connect()
  return client
}

/**
 * The Redis backend against the raw floor (`SET NX PX` + `EVALSHA`
 * compare-and-delete on one ioredis connection) and the peers
 * redis-semaphore (`Mutex`), @sesamecare-oss/redlock (one client) and
 * verrou's Redis store; then
 * one permit of a semaphore: `lw.semaphore(key, { limit }).acquire()` and
 * the backend's `acquirePermits` + `releasePermits` against redis-semaphore's
 * `Semaphore`. The lockwork and bare rows run again over a node-redis
 * client. Every variant has its own
 * connection to the same server (the two redis-semaphore rows share one).
 */
export async function redisSuite(marker: string): Promise<BackendSuite> {
  const clients = await Promise.all([
    connectRedis(),
    connectRedis(),
    connectRedis(),
    connectRedis(),
    connectRedis(),
  ])
  const [lwClient, rawClient, semaphoreClient, redlockClient, verrouClient] = clients as [
    Redis,
    Redis,
    Redis,
    Redis,
    Redis,
  ]
  // verrou types its peer ioredis 5; the connection's runtime surface is the same.
  const verrouStore = redisStore({
    connection: verrouClient as unknown as Parameters<typeof redisStore>[0]['connection'],
  }).factory()
  const backend = createRedisBackend({ client: lwClient })
  // The same backend over node-redis: the rows show what the client library costs.
  const nodeRedisClient = await connectNodeRedis()
  const nodeRedisBackend = createRedisBackend({ client: nodeRedisClient })
  const releaseSha = String(await rawClient.script('LOAD', RAW_RELEASE_LUA))
  const redlock = new Redlock([redlockClient])
  redlock.on('error', () => {})

  const raw: PairVariant = {
    id: 'raw',
    label: 'raw SET NX PX + EVALSHA del',
    role: 'floor',
    async pair(key) {
      const owner = randomUUID()
      if ((await rawClient.set(key, owner, 'PX', TTL_MS, 'NX')) !== 'OK')
        throw new Error(`raw: ${key} is held`)
      if ((await rawClient.evalsha(releaseSha, 1, key, owner)) !== 1)
        throw new Error(`raw: del of ${key} failed`)
    },
  }

  const semaphore: PairVariant = {
    id: 'redis-semaphore',
    label: 'redis-semaphore Mutex',
    role: 'peer',
    async pair(key) {
      const mutex = new Mutex(semaphoreClient, key, { lockTimeout: TTL_MS })
      await mutex.acquire()
      await mutex.release()
    },
  }

  const semaphores = new Map<string, LockworkSemaphore>()
  const lw = createLockwork({ backend })
  const lockworkSemaphore: PairVariant = {
    id: 'lockwork-semaphore',
    label: `lockwork semaphore acquire+release (limit ${SEMAPHORE_LIMIT})`,
    role: 'ours',
    primitive: 'semaphore',
    async pair(key) {
      // One Semaphore object per name, as an application keeps it.
      let semaphore = semaphores.get(key)
      if (semaphore === undefined) {
        semaphore = lw.semaphore(key, { limit: SEMAPHORE_LIMIT })
        semaphores.set(key, semaphore)
      }
      const permit = await semaphore.acquire({ wait: 0 })
      if (!(await permit.release())) throw new Error(`lockwork semaphore: release of ${key} returned false`)
    },
  }

  const bareSemaphore: PairVariant = {
    id: 'bare-semaphore',
    label: 'bare backend semaphore (no core)',
    role: 'bare',
    primitive: 'semaphore',
    async pair(key) {
      const owner = randomUUID()
      const result = await backend.acquirePermits(key, owner, 1, SEMAPHORE_LIMIT, TTL_MS)
      if (!result.acquired) throw new Error(`bare semaphore: ${key} is full (${result.holders.inUse} in use)`)
      if (!(await backend.releasePermits(key, owner)))
        throw new Error(`bare semaphore: release of ${key} returned false`)
    },
  }

  const semaphorePeer: PairVariant = {
    id: 'redis-semaphore-semaphore',
    label: `redis-semaphore Semaphore (limit ${SEMAPHORE_LIMIT})`,
    role: 'peer',
    primitive: 'semaphore',
    async pair(key) {
      const semaphore = new Semaphore(semaphoreClient, key, SEMAPHORE_LIMIT, {
        lockTimeout: TTL_MS,
        acquireAttemptsLimit: 1,
      })
      await semaphore.acquire()
      await semaphore.release()
    },
  }

  const redlockVariant: PairVariant = {
    id: 'redlock',
    label: '@sesamecare-oss/redlock',
    role: 'peer',
    async pair(key) {
      const lock = await redlock.acquire([key], TTL_MS)
      await lock.release()
    },
  }

  return {
    variants: [
      lockworkVariant(createLockwork({ backend })),
      bareVariant(backend),
      {
        ...lockworkVariant(createLockwork({ backend: nodeRedisBackend })),
        id: 'lockwork-node-redis',
        label: 'lockwork acquire+release (node-redis)',
      },
      {
        ...bareVariant(nodeRedisBackend),
        id: 'bare-node-redis',
        label: 'bare backend, node-redis (no core)',
      },
      raw,
      semaphore,
      redlockVariant,
      verrouVariant(verrouStore, 'redis store'),
      lockworkSemaphore,
      bareSemaphore,
      semaphorePeer,
    ],
    floorId: 'raw',
    async close() {
      await backend.close()
      await nodeRedisBackend.close()
      await deleteRedisKeys(rawClient, marker)
      for (const client of clients) client.disconnect()
      nodeRedisClient.destroy()
    },
  }
}
