import { BackendError, createLockwork, LockLostError } from '@lockwork/core'
import { createRedisBackend, type RedisBackend } from '@lockwork/redis'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomPrefix } from '../src/backends.js'
import { sleep } from '../src/clock.js'
import { PrivateRedis, redisServerAvailable } from '../src/redis-server.js'
import { figure } from '../src/report.js'

const enabled = redisServerAvailable('reliability Redis primary + replica')

const WAIT = { replicas: 1, timeoutMs: 300 }

/**
 * Waits until `replica` reports its link to the primary up and then
 * acknowledges a write on `primary` (a link just up may not acknowledge the
 * first writes within the 300 ms the tests allow, at load).
 */
async function linked(replica: Redis, primary: Redis): Promise<void> {
  const until = performance.now() + 20_000
  while (!(await replica.info('replication')).includes('master_link_status:up')) {
    if (performance.now() > until) throw new Error('the replica never linked to the primary')
    await sleep(50)
  }
  for (;;) {
    await primary.set('lockwork-replicas-warm-up', '1')
    if ((await primary.wait(1, 1_000)) >= 1) break
    if (performance.now() > until) throw new Error('the replica never acknowledged a write')
  }
  await primary.del('lockwork-replicas-warm-up')
}

describe.skipIf(!enabled)('redis: a private primary + replica, waitForReplicas', () => {
  let primary: PrivateRedis
  let replica: PrivateRedis
  let admin: Redis
  let replicaAdmin: Redis
  const backends: RedisBackend[] = []
  const backend = (withWait: boolean) => {
    const created = createRedisBackend({
      url: primary.url,
      keyPrefix: 'lockwork-replicas:',
      ...(withWait ? { waitForReplicas: WAIT } : {}),
    })
    backends.push(created)
    return created
  }

  beforeAll(async () => {
    primary = await PrivateRedis.start()
    replica = await PrivateRedis.start(['--replicaof', '127.0.0.1', String(primary.port)])
    admin = primary.client()
    replicaAdmin = replica.client()
    await linked(replicaAdmin, admin)
  })

  afterAll(async () => {
    replica?.resume()
    await Promise.allSettled(backends.map((b) => b.close()))
    admin?.disconnect()
    replicaAdmin?.disconnect()
    await replica?.destroy()
    await primary?.destroy()
  })

  it('with the replica up: acquire returns once the replica has the lease and the fence counter', async () => {
    const lw = createLockwork({ backend: backend(true), prefix: randomPrefix('replicas') })
    const lock = await lw.acquire('up', { ttl: '10s' })
    // Read on the replica at once: WAIT has already seen it acknowledge both keys.
    const keys = await replicaAdmin.keys('lockwork-replicas:*')
    expect(keys.filter((k) => k.includes(':lock:') && k.endsWith('up'))).toHaveLength(1)
    expect(keys.filter((k) => k.includes(':fence:') && k.endsWith('up'))).toHaveLength(1)
    await lock.extend('10s')
    expect(await lock.release()).toBe(true)
  })

  it('with the replica stopped: acquire rejects with BackendError after the timeout and leaves the key free; without the option it would succeed', async () => {
    const plain = createLockwork({ backend: backend(false), prefix: randomPrefix('replicas') })
    const waiting = createLockwork({ backend: backend(true), prefix: plain.prefix })
    replica.pause()
    try {
      const started = performance.now()
      const error = await waiting.acquire('down', { ttl: '10s', wait: 0 }).catch((caught: unknown) => caught)
      const tookMs = performance.now() - started
      figure(
        'redis waitForReplicas, replica stopped',
        `acquire rejected after ${Math.round(tookMs)} ms (timeout ${WAIT.timeoutMs} ms)`,
      )
      expect(error).toBeInstanceOf(BackendError)
      expect(String((error as Error).message)).toMatch(/0 of 1 replica/)
      expect(tookMs).toBeGreaterThanOrEqual(WAIT.timeoutMs - 5)
      expect(await plain.peek('down')).toBeNull()
      // The control: the same acquisition without the option is granted, unreplicated.
      const unreplicated = await plain.acquire('down', { ttl: '10s', wait: 0 })
      expect(unreplicated.held).toBe(true)
      await unreplicated.release()
    } finally {
      replica.resume()
    }
    await linked(replicaAdmin, admin)
    const lock = await waiting.acquire('down', { ttl: '10s' })
    expect(lock.held).toBe(true)
    await lock.release()
  })

  it('with the replica stopped mid-lease: extensions are not confirmed, so the holder’s deadline is not moved and its signal aborts at the last replicated deadline', async () => {
    const lw = createLockwork({ backend: backend(true), prefix: randomPrefix('replicas') })
    const lock = await lw.acquire('mid', { ttl: 1_500 })
    const signal = lock.signal
    replica.pause()
    try {
      await expect(lock.extend()).rejects.toBeInstanceOf(BackendError)
      const until = performance.now() + 3_000
      while (!signal.aborted && performance.now() < until) await sleep(20)
      expect(signal.reason).toBeInstanceOf(LockLostError)
      expect(signal.reason).toMatchObject({ reason: 'expired' })
    } finally {
      replica.resume()
    }
    await linked(replicaAdmin, admin)
  })

  it('rejects a bad option before connecting', () => {
    expect(() =>
      createRedisBackend({ url: 'redis://127.0.0.1:1', waitForReplicas: { replicas: 0, timeoutMs: 100 } }),
    ).toThrow(/options\.waitForReplicas\.replicas/)
    expect(() =>
      createRedisBackend({ url: 'redis://127.0.0.1:1', waitForReplicas: { replicas: 1, timeoutMs: 0.5 } }),
    ).toThrow(/options\.waitForReplicas\.timeoutMs/)
  })
})
