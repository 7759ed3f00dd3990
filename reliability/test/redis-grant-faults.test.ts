import { createHash, randomUUID } from 'node:crypto'
import { createLockwork } from '@lockwork/core'
import { GRANT_LIVENESS_MS } from '@lockwork/redis'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { availableBackends, freshTarget, openBackend, randomPrefix } from '../src/backends.js'
import { sleep } from '../src/clock.js'
import type { HolderWorkerConfig } from '../src/holder-worker.js'
import { startWorker } from '../src/worker-process.js'

const available = await availableBackends(['redis'], 'reliability grant-on-release faults')

/** The Redis key of the grant queue of lock `key` under `prefix` (see the backend's `grant-scripts.ts`). */
function queueKey(namespace: string, prefix: string, key: string): string {
  const full = `${prefix}\u001f${key}`
  const tag = createHash('sha1').update(full).digest('hex').slice(0, 8)
  return `${namespace}{${tag}}:queue:${full}`
}

/** Waits until the grant queue holds `count` entries; fails after `withinMs`. */
async function queued(redis: Redis, key: string, count: number, withinMs: number): Promise<void> {
  const started = performance.now()
  while ((await redis.zcard(key)) < count) {
    if (performance.now() - started > withinMs)
      throw new Error(`fewer than ${count} queued after ${withinMs} ms`)
    await sleep(20)
  }
}

describe.skipIf(!available.redis)('redis: grant-on-release with a waiter process that dies', () => {
  it(`a waiting process SIGKILLed while queued is skipped once GRANT_LIVENESS_MS (${GRANT_LIVENESS_MS} ms) has passed: the release hands the key to the next live waiter at once`, async () => {
    const target = freshTarget('redis')
    const namespace = target.namespace ?? ''
    const prefix = randomPrefix('grant-kill')
    const key = `k:${randomUUID()}`
    const redis = new Redis(target.url ?? '')
    const holderBackend = openBackend(target)
    const waiterBackend = openBackend(target)
    const holder = createLockwork({ backend: holderBackend, prefix })
    const waiter = createLockwork({ backend: waiterBackend, prefix })
    const config: HolderWorkerConfig = { mode: 'hold', target, prefix, key, ttlMs: 30_000 }
    const child = startWorker('holder-worker.ts', [JSON.stringify(config)])
    try {
      const held = await holder.acquire(key, { ttl: '30s' })
      const queue = queueKey(namespace, prefix, key)
      // The child queues first (its process starts slowly on a busy machine), then a live waiter here.
      await queued(redis, queue, 1, 30_000)
      const pending = waiter.acquire(key, { ttl: '30s', wait: '60s' })
      await queued(redis, queue, 2, 10_000)
      child.child.kill('SIGKILL')
      expect((await child.exited).signal).toBe('SIGKILL')
      // Past the bound the dead entry is no longer live (its process refreshed it last before the kill).
      await sleep(GRANT_LIVENESS_MS + 300)
      const releasedAt = performance.now()
      expect(await held.release()).toBe(true)
      const lock = await pending
      const handedOffMs = performance.now() - releasedAt
      // A grant to the dead entry would hold the key for its 30 s ttl; a loaded machine may add a few seconds of delay.
      expect(handedOffMs).toBeLessThan(5_000)
      expect(lock.fence).toBeGreaterThan(held.fence)
      expect((await holder.peek(key))?.owner).toBe(lock.owner)
      // The dead entry was dropped on the way.
      expect(await redis.zcard(queue)).toBe(0)
      await lock.release()
    } finally {
      await child.kill()
      await holderBackend.close()
      await waiterBackend.close()
      redis.disconnect()
    }
  }, 90_000)
})
