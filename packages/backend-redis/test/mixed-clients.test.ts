import { createLockwork, type Lockwork } from '@lockwork/core'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisBackend } from '../src/index.js'
import { CLIENT_KINDS, ClientPool } from './clients.js'
import { deleteTestKeys, randomPrefix, redisAvailable, redisUrl } from './redis-available.js'

const available = await redisAvailable()
const clients = new ClientPool()

/** One lockwork client per client library, all on the same key prefix. */
async function instancesPerKind(keyPrefix: string): Promise<Lockwork[]> {
  return Promise.all(
    CLIENT_KINDS.map(async (kind) =>
      createLockwork({
        backend: createRedisBackend({ client: (await clients.open(kind)).client, keyPrefix }),
        prefix: 'mixed:',
        label: kind,
      }),
    ),
  )
}

describe.skipIf(!available)('redis backend: ioredis, node-redis and iovalkey instances on one server', () => {
  let raw: Redis
  beforeAll(() => {
    raw = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
  })
  afterAll(async () => {
    await clients.closeAll()
    if (available) await deleteTestKeys(raw)
    raw.disconnect()
  })

  it('contending loops never overlap, lose no update of a shared counter, and see fences strictly increase', async () => {
    const keyPrefix = randomPrefix('mixed')
    const instances = await instancesPerKind(keyPrefix)
    const keys = ['a', 'b']
    const rounds = 40
    const inside = new Map<string, number>()
    const fences = new Map<string, number[]>()
    const byKind = new Map<string, number>()
    let overlaps = 0
    const counterKey = (key: string) => `${keyPrefix}counter:${key}`
    await Promise.all(
      instances.flatMap((lw, index) =>
        keys.map(async (key) => {
          for (let round = 0; round < rounds; round++) {
            await lw.withLock(
              key,
              async (lock) => {
                const now = (inside.get(key) ?? 0) + 1
                inside.set(key, now)
                if (now > 1) overlaps++
                fences.set(key, [...(fences.get(key) ?? []), lock.fence])
                const kind = CLIENT_KINDS[index] as string
                byKind.set(kind, (byKind.get(kind) ?? 0) + 1)
                // A read-modify-write that loses updates unless the lock excludes the others.
                const value = Number((await raw.get(counterKey(key))) ?? 0)
                await new Promise((resolve) => setTimeout(resolve, Math.random() * 2))
                await raw.set(counterKey(key), String(value + 1))
                inside.set(key, (inside.get(key) ?? 1) - 1)
              },
              { ttl: '10s', wait: '60s' },
            )
          }
        }),
      ),
    )
    expect(overlaps).toBe(0)
    for (const key of keys) {
      expect(Number(await raw.get(counterKey(key)))).toBe(rounds * instances.length)
      const seen = fences.get(key) ?? []
      expect(seen).toHaveLength(rounds * instances.length)
      for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1] as number)
    }
    // Every library took its turns.
    expect([...byKind.keys()].sort()).toEqual([...CLIENT_KINDS].sort())
    for (const lw of instances) await lw.close()
  }, 120_000)

  it('a lock taken through one library is seen, refused and woken through the others; cache entries are shared', async () => {
    const keyPrefix = randomPrefix('mixed-peek')
    const instances = await instancesPerKind(keyPrefix)
    for (const holder of instances) {
      for (const waiter of instances) {
        if (waiter === holder) continue
        const held = await holder.acquire('shared', { ttl: '30s' })
        const seen = await waiter.peek('shared')
        expect(seen?.fence).toBe(held.fence)
        expect(seen?.owner).toBe(held.owner)
        expect(await waiter.tryAcquire('shared')).toBeNull()
        const waiting = waiter.acquire('shared', { wait: '20s' })
        await new Promise((resolve) => setTimeout(resolve, 50))
        const releasedAt = performance.now()
        expect(await held.release()).toBe(true)
        const next = await waiting
        // Woken by the release message, not by the 30 s lease running out (a wide margin for a loaded machine).
        expect(performance.now() - releasedAt).toBeLessThan(10_000)
        expect(next.fence).toBeGreaterThan(held.fence)
        expect(await next.release()).toBe(true)
      }
    }
    const [first, ...rest] = instances as [Lockwork, ...Lockwork[]]
    const price = first.cached({ key: 'price', ttl: '30s' }, async () => 42)
    expect(await price()).toBe(42)
    for (const lw of rest) {
      let computed = 0
      const again = lw.cached({ key: 'price', ttl: '30s' }, async () => ++computed)
      expect(await again()).toBe(42)
      expect(computed).toBe(0)
    }
    for (const lw of instances) await lw.close()
  })
})
