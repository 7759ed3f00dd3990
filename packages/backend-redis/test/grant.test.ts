import { randomUUID } from 'node:crypto'
import { BackendError } from '@lockwork/core'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { QUEUE_KEY_TTL_FACTOR } from '../src/grant-scripts.js'
import { createRedisBackend, GRANT_LIVENESS_MS } from '../src/index.js'
import { deleteTestKeys, randomPrefix, redisAvailable, redisUrl } from './redis-available.js'

const keyPrefix = randomPrefix('grant')

describe.skipIf(!(await redisAvailable()))('redis grant-on-release', () => {
  afterAll(() => deleteTestKeys())

  it(`a queued waiter whose connection dropped is skipped once GRANT_LIVENESS_MS (${GRANT_LIVENESS_MS} ms) has passed: the key is not stranded with it`, async () => {
    const holder = createRedisBackend({ url: redisUrl, keyPrefix })
    const next = createRedisBackend({ url: redisUrl, keyPrefix })
    // The waiter's own client: dropped below without a close, as a lost network would.
    const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
    const dropped = createRedisBackend({ client, keyPrefix })
    try {
      const key = `grant-drop:${randomUUID()}`
      const a = randomUUID()
      const d = randomUUID()
      const n = randomUUID()
      expect((await holder.acquire(key, a, 20_000)).acquired).toBe(true)
      const lost = dropped.waitForGrant(key, d, 20_000, 20_000).then(
        (grant) => ({ grant }),
        (error: unknown) => ({ error }),
      )
      await new Promise((resolve) => setTimeout(resolve, 500))
      // Queued first; then a live waiter behind it.
      const live = next.waitForGrant(key, n, 20_000, 20_000)
      await new Promise((resolve) => setTimeout(resolve, 500))
      client.disconnect()
      await new Promise((resolve) => setTimeout(resolve, GRANT_LIVENESS_MS + 300))
      const releasedAt = performance.now()
      expect(await holder.release(key, a)).toBe(true)
      const grant = await live
      expect(performance.now() - releasedAt).toBeLessThan(1_000)
      expect(grant).not.toBeUndefined()
      expect((await holder.peek(key))?.owner).toBe(n)
      // The dropped waiter never got the key; its wait ended without it (or failed on the dead connection).
      const outcome = await Promise.race([
        lost,
        new Promise<{ pending: true }>((resolve) => setTimeout(() => resolve({ pending: true }), 100)),
      ])
      if ('grant' in outcome) expect(outcome.grant).toBeUndefined()
      if ('error' in outcome) expect(outcome.error).toBeInstanceOf(BackendError)
      expect(await next.release(key, n)).toBe(true)
    } finally {
      await holder.close()
      await next.close()
      await dropped.close()
    }
  }, 30_000)

  // A release looks at the queue only when the waiting marker is there; after a grant it sets the
  // marker again for as long as the queue keys live, and every refresh of a queued entry keeps it so.
  it(`a waiter still queued after a grant is granted by the next release, also after the queue keys' first lifetime (${QUEUE_KEY_TTL_FACTOR} × ${GRANT_LIVENESS_MS} ms) has passed`, async () => {
    const holder = createRedisBackend({ url: redisUrl, keyPrefix })
    const first = createRedisBackend({ url: redisUrl, keyPrefix })
    const second = createRedisBackend({ url: redisUrl, keyPrefix })
    try {
      const key = `grant-marker:${randomUUID()}`
      const a = randomUUID()
      const w1 = randomUUID()
      const w2 = randomUUID()
      expect((await holder.acquire(key, a, 30_000)).acquired).toBe(true)
      const firstWait = first.waitForGrant(key, w1, 30_000, 30_000)
      await new Promise((resolve) => setTimeout(resolve, 500))
      const secondWait = second.waitForGrant(key, w2, 30_000, 30_000)
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(await holder.release(key, a)).toBe(true)
      expect(await firstWait).not.toBeUndefined()
      await new Promise((resolve) => setTimeout(resolve, QUEUE_KEY_TTL_FACTOR * GRANT_LIVENESS_MS + 1_000))
      const releasedAt = performance.now()
      expect(await first.release(key, w1)).toBe(true)
      expect(await secondWait).not.toBeUndefined()
      expect(performance.now() - releasedAt).toBeLessThan(2_000)
      expect((await holder.peek(key))?.owner).toBe(w2)
      expect(await second.release(key, w2)).toBe(true)
    } finally {
      await holder.close()
      await first.close()
      await second.close()
    }
  }, 40_000)
})
