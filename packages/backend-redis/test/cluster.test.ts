import { runConformance } from '@lockwork/conformance'
import { createLockwork } from '@lockwork/core'
import { Cluster } from 'ioredis'
import { createCluster } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisBackend, GRANT_LIVENESS_MS } from '../src/index.js'
import { randomPrefix } from './redis-available.js'
import { RedisCluster, redisServerAvailable } from './redis-process.js'

// A private 3-master Redis Cluster on loopback ports, started from the redis-server binary.
const enabled = redisServerAvailable('the @lockwork/redis cluster tests')
const keyPrefix = randomPrefix('cluster')
let cluster: RedisCluster | undefined
const clients: Cluster[] = []
const nodeRedisClusters: { destroy(): void }[] = []

/** A new ioredis Cluster client (closed in teardown: the backend never closes a caller's client). */
function newCluster(): Cluster {
  if (cluster === undefined) throw new Error('the cluster is not running')
  const client = new Cluster(cluster.startupNodes)
  client.on('error', () => {})
  clients.push(client)
  return client
}

/** A new, connected node-redis cluster client (closed in teardown). */
async function newNodeRedisCluster() {
  if (cluster === undefined) throw new Error('the cluster is not running')
  const client = createCluster({
    rootNodes: cluster.startupNodes.map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
  })
  client.on('error', () => {})
  nodeRedisClusters.push(client)
  await client.connect()
  return client
}

async function closeClients(): Promise<void> {
  await Promise.allSettled(clients.splice(0).map((client) => client.quit()))
  await Promise.allSettled(nodeRedisClusters.splice(0).map(async (client) => client.destroy()))
}

describe.skipIf(!enabled)('redis cluster', () => {
  beforeAll(async () => {
    cluster = await RedisCluster.start(3)
  }, 60_000)
  afterAll(async () => {
    await closeClients()
    await cluster?.destroy()
  })

  runConformance({
    capabilities: { grantLivenessMs: GRANT_LIVENESS_MS },
    name: 'redis cluster',
    createBackend: () => createRedisBackend({ client: newCluster(), keyPrefix }),
    describe,
    it,
    expect,
    beforeAll,
    afterAll,
  })

  describe('cluster specifics', () => {
    it('an ioredis Cluster and a node-redis cluster share locks: a release on one wakes a waiter on the other', async () => {
      const own = randomPrefix('mixed-cluster')
      const io = createLockwork({ backend: createRedisBackend({ client: newCluster(), keyPrefix: own }) })
      const node = createLockwork({
        backend: createRedisBackend({ client: await newNodeRedisCluster(), keyPrefix: own }),
      })
      let lastFence = 0
      for (const [name, holder, waiter] of [
        ['a', io, node],
        ['b', node, io],
        ['c', io, node],
        ['d', node, io],
      ] as const) {
        const held = await holder.acquire(name, { ttl: '30s' })
        expect((await waiter.peek(name))?.fence).toBe(held.fence)
        const waiting = waiter.acquire(name, { wait: '20s' })
        await new Promise((resolve) => setTimeout(resolve, 100))
        const releasedAt = performance.now()
        await held.release()
        const next = await waiting
        // Woken by the release message, not by the 30 s lease running out (a wide margin for a loaded machine).
        expect(performance.now() - releasedAt).toBeLessThan(10_000)
        expect(next.fence).toBeGreaterThan(held.fence)
        lastFence = next.fence
        await next.release()
      }
      expect(lastFence).toBeGreaterThan(0)
      await io.close()
      await node.close()
    })

    it('puts the lock, fence and cache keys of one key in one slot, whatever braces the key holds', async () => {
      const client = newCluster()
      const own = randomPrefix('slots')
      const backend = createRedisBackend({ client, keyPrefix: own })
      const slots = new Set<number>()
      for (const key of ['}{', '{', '}', '{}', 'a{b}c', '{hash}{tag}', 'plain', 'orders:42']) {
        expect((await backend.acquire(key, 'me', 10_000)).acquired).toBe(true)
        await backend.setCached(key, { value: 'v', computeMs: 1 }, 10_000)
        const found = await scanAll(client, `${own}{*}:*:${escapeGlob(key)}`)
        expect(found.length).toBe(3)
        const keySlots = new Set(await Promise.all(found.map((k) => client.call('CLUSTER', 'KEYSLOT', k))))
        expect(keySlots.size).toBe(1)
        slots.add(Number([...keySlots][0]))
        expect(await backend.release(key, 'me')).toBe(true)
      }
      // Different keys spread over the cluster rather than all landing in one slot.
      expect(slots.size).toBeGreaterThan(4)
      await backend.close()
    })

    it('puts every key of one semaphore in one slot, and wakes a semaphore waiter across nodes', async () => {
      const client = newCluster()
      const own = randomPrefix('semslots')
      const backend = createRedisBackend({ client, keyPrefix: own })
      const waiter = createRedisBackend({ client: newCluster(), keyPrefix: own })
      const slots = new Set<number>()
      for (const key of ['}{', '{}', 'a{b}c', '{hash}{tag}', 'plain', 'exports', 'doc:42']) {
        const taken = await backend.acquirePermits(key, 'me', 2, 2, 30_000)
        expect(taken.acquired).toBe(true)
        const found = await scanAll(client, `${own}{*}:sem*:${escapeGlob(key)}`)
        expect(found.length).toBe(3)
        const keySlots = new Set(await Promise.all(found.map((k) => client.call('CLUSTER', 'KEYSLOT', k))))
        expect(keySlots.size).toBe(1)
        slots.add(Number([...keySlots][0]))
        const waiting = waiter.waitForPermits(key, 1, 2, 20_000)
        await new Promise((resolve) => setTimeout(resolve, 50))
        const releasedAt = performance.now()
        expect(await backend.releasePermits(key, 'me')).toBe(true)
        await waiting
        expect(performance.now() - releasedAt).toBeLessThan(1_000)
        expect(await waiter.peekPermits(key)).toEqual({ inUse: 0, holders: [] })
      }
      expect(slots.size).toBeGreaterThan(3)
      await backend.close()
      await waiter.close()
    })

    it('wakes a waiter subscribed on one node when the release runs on another', async () => {
      const lw = createLockwork({ backend: createRedisBackend({ client: newCluster(), keyPrefix }) })
      const other = createLockwork({ backend: createRedisBackend({ client: newCluster(), keyPrefix }) })
      for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) {
        const held = await lw.acquire(name, { ttl: '30s' })
        const waiting = other.acquire(name, { wait: '20s' })
        await new Promise((resolve) => setTimeout(resolve, 100))
        const releasedAt = performance.now()
        await held.release()
        const next = await waiting
        expect(performance.now() - releasedAt).toBeLessThan(1_000)
        expect(next.fence).toBeGreaterThan(held.fence)
        await next.release()
      }
      await lw.backend.close()
      await other.backend.close()
    })

    it('keeps working when SCRIPT FLUSH runs on every master mid-run', async () => {
      const client = newCluster()
      const backend = createRedisBackend({ client, keyPrefix })
      let flushes = 0
      let running = true
      const flusher = (async () => {
        while (running) {
          await Promise.all(client.nodes('master').map((node) => node.script('FLUSH')))
          flushes++
          await new Promise((resolve) => setTimeout(resolve, 5))
        }
      })()
      try {
        for (let i = 0; i < 60; i++) {
          const key = `flush:${i % 7}`
          const lease = await backend.acquire(key, `o${i}`, 5_000)
          expect(lease.acquired).toBe(true)
          expect(await backend.extend(key, `o${i}`, 5_000)).toBe(true)
          expect((await backend.peek(key))?.owner).toBe(`o${i}`)
          expect(await backend.release(key, `o${i}`)).toBe(true)
        }
      } finally {
        running = false
        await flusher
      }
      expect(flushes).toBeGreaterThan(3)
      await backend.close()
    })
  })
})

async function scanAll(client: Cluster, pattern: string): Promise<string[]> {
  const found = await Promise.all(
    client.nodes('master').map(async (node) => {
      const keys: string[] = []
      let cursor = '0'
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
        cursor = next
        keys.push(...batch)
      } while (cursor !== '0')
      return keys
    }),
  )
  return found.flat()
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}
