import { BackendError, type PermitAcquireResult } from '@lockwork/core'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisBackend, type RedisBackend } from '../src/index.js'
import { msUntilRoom } from '../src/semaphore-commands.js'
import { deleteTestKeys, randomPrefix, redisAvailable, redisUrl } from './redis-available.js'

const available = await redisAvailable()

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function fenceOf(result: PermitAcquireResult): number {
  if (!result.acquired) throw new Error(`expected an acquisition, got ${JSON.stringify(result.holders)}`)
  return result.fence
}

describe('msUntilRoom', () => {
  const holder = (permits: number, remainingMs: number) => ({ owner: 'o', permits, fence: 1, remainingMs })
  it('is 0 when the permits are free, else the expiry that makes enough room', () => {
    expect(msUntilRoom({ inUse: 2, holders: [holder(2, 50)] }, 1, 3)).toBe(0)
    const holders = [holder(1, 300), holder(2, 100), holder(1, 200)]
    expect(msUntilRoom({ inUse: 4, holders }, 1, 4)).toBe(100)
    expect(msUntilRoom({ inUse: 4, holders }, 3, 4)).toBe(200)
    expect(msUntilRoom({ inUse: 4, holders }, 4, 4)).toBe(300)
    // A limit lowered below what is in use: the room comes later.
    expect(msUntilRoom({ inUse: 4, holders }, 1, 2)).toBe(200)
  })
})

describe.skipIf(!available)('redis backend semaphores', () => {
  const opened: { close(): Promise<unknown> }[] = []
  let admin: Redis

  /** A backend over a new connection, as another process would have; closed after the file. */
  function backend(keyPrefix: string): RedisBackend {
    const created = createRedisBackend({ url: redisUrl, keyPrefix })
    opened.push(created)
    return created
  }

  /** Every Redis key under `prefix`. */
  async function keysUnder(prefix: string): Promise<string[]> {
    const keys: string[] = []
    let cursor = '0'
    do {
      const [next, batch] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      keys.push(...batch)
    } while (cursor !== '0')
    return keys.sort()
  }

  beforeAll(() => {
    admin = new Redis(redisUrl)
    opened.push({ close: () => admin.quit().catch(() => {}) })
  })
  afterAll(async () => {
    await deleteTestKeys(admin)
    await Promise.allSettled(opened.map((o) => o.close()))
  })

  it('never lets the holders of 8 connections racing for 1–3 permits exceed the limit; fences are consecutive', async () => {
    const prefix = randomPrefix('sem')
    const backends = Array.from({ length: 8 }, () => backend(prefix))
    const limit = 4
    let occupancy = 0
    let maxOccupancy = 0
    const fences: number[] = []
    let refusals = 0
    await Promise.all(
      backends.map(async (b, worker) => {
        let previous = 0
        for (let round = 0; round < 40; round++) {
          const owner = `w${worker}-${round}`
          const permits = 1 + ((worker + round) % 3)
          const result = await b.acquirePermits('pool', owner, permits, limit, 10_000)
          if (!result.acquired) {
            refusals++
            // Refused only when the holders it saw leave no room.
            expect(result.holders.inUse + permits).toBeGreaterThan(limit)
            expect(result.holders.inUse).toBe(result.holders.holders.reduce((sum, h) => sum + h.permits, 0))
            await delay(Math.random() * 3)
            continue
          }
          // One worker's successive acquisitions see strictly increasing fences.
          expect(result.fence).toBeGreaterThan(previous)
          previous = result.fence
          fences.push(result.fence)
          occupancy += permits
          maxOccupancy = Math.max(maxOccupancy, occupancy)
          expect(occupancy).toBeLessThanOrEqual(limit)
          await delay(Math.random() * 4)
          occupancy -= permits
          expect(await b.releasePermits('pool', owner)).toBe(true)
        }
      }),
    )
    // Each acquisition took the next value of the one counter: no fence twice, none skipped.
    const sorted = [...fences].sort((a, b) => a - b)
    expect(new Set(sorted).size).toBe(sorted.length)
    expect(sorted.at(-1)! - sorted[0]!).toBe(sorted.length - 1)
    expect(maxOccupancy).toBeGreaterThan(1)
    expect(refusals).toBeGreaterThan(0)
    console.info(
      `redis semaphore contention: ${fences.length} acquisitions, ${refusals} refusals, max occupancy ${maxOccupancy}/${limit}`,
    )
    expect((await backends[0]!.peekPermits('pool')).inUse).toBe(0)
  })

  it('lets exactly `limit` of many simultaneous single-permit attempts in', async () => {
    const prefix = randomPrefix('sem')
    const backends = Array.from({ length: 6 }, () => backend(prefix))
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => backends[i % 6]!.acquirePermits('burst', `o${i}`, 1, 7, 10_000)),
    )
    expect(results.filter((r) => r.acquired)).toHaveLength(7)
    const peek = await backends[0]!.peekPermits('burst')
    expect(peek.inUse).toBe(7)
    expect(peek.holders).toHaveLength(7)
  })

  it('is idempotent for the same owner: same fence and permits, expiry refreshed, nothing counted twice', async () => {
    const b = backend(randomPrefix('sem'))
    const first = fenceOf(await b.acquirePermits('idem', 'me', 2, 3, 1_000))
    const again = await b.acquirePermits('idem', 'me', 2, 3, 60_000)
    expect(fenceOf(again)).toBe(first)
    // Even when asking for a different count, or under a limit it would not fit now.
    expect(fenceOf(await b.acquirePermits('idem', 'me', 1, 1, 60_000))).toBe(first)
    const peek = await b.peekPermits('idem')
    expect(peek.inUse).toBe(2)
    expect(peek.holders).toEqual([{ owner: 'me', permits: 2, fence: first, remainingMs: expect.any(Number) }])
    expect(peek.holders[0]!.remainingMs).toBeGreaterThan(30_000)
    expect(fenceOf(await b.acquirePermits('idem', 'other', 1, 3, 1_000))).toBe(first + 1)
    expect((await b.acquirePermits('idem', 'third', 1, 3, 1_000)).acquired).toBe(false)
  })

  it("applies the caller's limit to new acquisitions and never evicts a holder", async () => {
    const b = backend(randomPrefix('sem'))
    expect((await b.acquirePermits('limit', 'a', 3, 3, 10_000)).acquired).toBe(true)
    expect((await b.acquirePermits('limit', 'b', 1, 3, 10_000)).acquired).toBe(false)
    expect((await b.acquirePermits('limit', 'b', 2, 5, 10_000)).acquired).toBe(true)
    const refused = await b.acquirePermits('limit', 'c', 1, 1, 10_000)
    expect(refused.acquired).toBe(false)
    if (!refused.acquired) {
      expect(refused.holders.inUse).toBe(5)
      expect(refused.holders.holders.map((h) => [h.owner, h.permits]).sort()).toEqual([
        ['a', 3],
        ['b', 2],
      ])
    }
    expect((await b.peekPermits('limit')).inUse).toBe(5)
  })

  it('checks the owner: a stranger can neither extend nor release, and changes nothing', async () => {
    const b = backend(randomPrefix('sem'))
    const fence = fenceOf(await b.acquirePermits('owner', 'me', 1, 2, 10_000))
    expect(await b.extendPermits('owner', 'stranger', 60_000)).toBe(false)
    expect(await b.releasePermits('owner', 'stranger')).toBe(false)
    expect(await b.extendPermits('never-used', 'me', 60_000)).toBe(false)
    expect(await b.releasePermits('never-used', 'me')).toBe(false)
    const peek = await b.peekPermits('owner')
    expect(peek.holders).toEqual([{ owner: 'me', permits: 1, fence, remainingMs: expect.any(Number) }])
    expect(peek.holders[0]!.remainingMs).toBeLessThanOrEqual(10_000)
    expect(await b.extendPermits('owner', 'me', 60_000)).toBe(true)
    expect((await b.peekPermits('owner')).holders[0]!.remainingMs).toBeGreaterThan(10_000)
    expect(await b.releasePermits('owner', 'me')).toBe(true)
    expect(await b.releasePermits('owner', 'me')).toBe(false)
    expect(await b.peekPermits('owner')).toEqual({ inUse: 0, holders: [] })
  })

  it('ignores expired holders: their permits return, they can neither extend nor release', async () => {
    const b = backend(randomPrefix('sem'))
    fenceOf(await b.acquirePermits('expiry', 'short', 2, 3, 150))
    const long = fenceOf(await b.acquirePermits('expiry', 'long', 1, 3, 10_000))
    expect((await b.acquirePermits('expiry', 'x', 1, 3, 10_000)).acquired).toBe(false)
    await delay(300)
    const peek = await b.peekPermits('expiry')
    expect(peek).toEqual({
      inUse: 1,
      holders: [{ owner: 'long', permits: 1, fence: long, remainingMs: expect.any(Number) }],
    })
    expect(await b.extendPermits('expiry', 'short', 10_000)).toBe(false)
    expect(await b.releasePermits('expiry', 'short')).toBe(false)
    // The expired holder's two permits are free again, and it did not come back.
    expect(fenceOf(await b.acquirePermits('expiry', 'x', 2, 3, 10_000))).toBe(long + 1)
    expect((await b.peekPermits('expiry')).inUse).toBe(3)
  })

  it('keeps one fence counter per semaphore that rises after every holder expired, and leaves only it behind', async () => {
    const prefix = randomPrefix('sem')
    const b = backend(prefix)
    const first = fenceOf(await b.acquirePermits('fences', 'a', 1, 2, 100))
    const second = fenceOf(await b.acquirePermits('fences', 'b', 1, 2, 100))
    expect(second).toBe(first + 1)
    await delay(250)
    // Both expired: the holder keys are gone on their own, only the counter remains.
    const left = await keysUnder(prefix)
    expect(left).toHaveLength(1)
    expect(left[0]).toMatch(/\}:semfence:fences$/)
    expect(fenceOf(await b.acquirePermits('fences', 'c', 2, 2, 100))).toBe(second + 1)
    // A semaphore and a lock of the same name are unrelated, fences included.
    const lock = await b.acquire('fences', 'a', 10_000)
    expect(lock.acquired).toBe(true)
    expect(await b.peekPermits('fences')).toMatchObject({ inUse: 2 })
    expect(await b.release('fences', 'a')).toBe(true)
    expect(await b.releasePermits('fences', 'c')).toBe(true)
    expect(await keysUnder(prefix)).toEqual([
      expect.stringMatching(/\}:fence:fences$/),
      expect.stringMatching(/\}:freed:/),
      expect.stringMatching(/\}:freed:/),
      expect.stringMatching(/\}:semfence:fences$/),
    ])
  })

  it('a counter that vanished (a restart without persistence) restarts at the server time in µs, above any earlier fence', async () => {
    const prefix = randomPrefix('sem')
    const b = backend(prefix)
    const fence = fenceOf(await b.acquirePermits('restart', 'a', 1, 1, 10_000))
    const [seconds] = await admin.time()
    // The first fence is the server's time in µs.
    expect(Math.abs(fence / 1e6 - Number(seconds))).toBeLessThan(5)
    expect(await b.releasePermits('restart', 'a')).toBe(true)
    const counter = (await keysUnder(prefix)).find((k) => k.endsWith(':semfence:restart'))!
    await admin.del(counter)
    await delay(2)
    expect(fenceOf(await b.acquirePermits('restart', 'b', 1, 1, 10_000))).toBeGreaterThan(fence)
  })

  it('a stored total that disagrees with the holders is recounted on refusal, never refusing wrongly', async () => {
    const prefix = randomPrefix('sem')
    const b = backend(prefix)
    const fence = fenceOf(await b.acquirePermits('total', 'a', 1, 3, 10_000))
    const hash = (await keysUnder(prefix)).find((k) => k.endsWith(':sempermits:total'))!
    // The total lives in the field 0xFF (a byte no UTF-8 owner token can be); make it claim a full semaphore.
    await admin.hset(hash, Buffer.from([0xff]), '3')
    expect(fenceOf(await b.acquirePermits('total', 'b', 2, 3, 10_000))).toBe(fence + 1)
    // Recounted and stored again: now the semaphore really is full.
    expect(await admin.hget(hash, Buffer.from([0xff]))).toBe('3')
    expect((await b.acquirePermits('total', 'c', 1, 3, 10_000)).acquired).toBe(false)
    expect(await b.releasePermits('total', 'b')).toBe(true)
    expect(await admin.hget(hash, Buffer.from([0xff]))).toBe('1')
  })

  it('keeps every key of one semaphore under one hash tag, whatever the key contains', async () => {
    const prefix = randomPrefix('sem')
    const b = backend(prefix)
    for (const key of ['}{', '{a}', 'sp ace', 'quo\'te"', '%*?[]', 'ключ', '😀']) {
      expect((await b.acquirePermits(key, "o'}", 1, 1, 10_000)).acquired).toBe(true)
      const keys = await keysUnder(prefix)
      const tags = new Set(keys.map((k) => k.slice(prefix.length, k.indexOf('}', prefix.length) + 1)))
      expect(keys).toHaveLength(3)
      expect(tags.size).toBe(1)
      expect((await b.peekPermits(key)).holders[0]?.owner).toBe("o'}")
      expect(await b.releasePermits(key, "o'}")).toBe(true)
      await admin.del(...(await keysUnder(prefix)))
    }
  })

  describe('waitForPermits', () => {
    it('resolves at once when there is room, and within ms of a release otherwise', async () => {
      const prefix = randomPrefix('sem')
      const holder = backend(prefix)
      const waiter = backend(prefix)
      const started = performance.now()
      await waiter.waitForPermits('wake', 1, 2, 10_000)
      expect(performance.now() - started).toBeLessThan(1_000)
      const latencies: number[] = []
      for (let round = 0; round < 10; round++) {
        fenceOf(await holder.acquirePermits('wake', 'h', 2, 2, 30_000))
        let woke = 0
        const waiting = waiter.waitForPermits('wake', 1, 2, 20_000).then(() => {
          woke = performance.now()
        })
        await delay(20 + Math.random() * 30)
        expect(woke).toBe(0)
        const releasedAt = performance.now()
        expect(await holder.releasePermits('wake', 'h')).toBe(true)
        await waiting
        latencies.push(woke - releasedAt)
      }
      latencies.sort((a, b) => a - b)
      console.info(
        `redis semaphore wake-on-release: median ${latencies[5]!.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`,
      )
      // The holder's ttl is 30 s: without the release message each round would wait that long.
      expect(latencies.at(-1)!).toBeLessThan(1_000)
    })

    it('resolves when enough leases run out (no message), at the timeout, and on abort', async () => {
      const b = backend(randomPrefix('sem'))
      fenceOf(await b.acquirePermits('timer', 'a', 1, 3, 300))
      fenceOf(await b.acquirePermits('timer', 'b', 2, 3, 30_000))
      let started = performance.now()
      await b.waitForPermits('timer', 1, 3, 20_000)
      const waited = performance.now() - started
      expect(waited).toBeGreaterThan(200)
      expect(waited).toBeLessThan(5_000)
      expect((await b.acquirePermits('timer', 'c', 1, 3, 10_000)).acquired).toBe(true)

      started = performance.now()
      await b.waitForPermits('timer', 1, 3, 200)
      expect(performance.now() - started).toBeGreaterThan(150)

      const controller = new AbortController()
      started = performance.now()
      setTimeout(() => controller.abort(), 100)
      await b.waitForPermits('timer', 1, 3, 20_000, controller.signal)
      expect(performance.now() - started).toBeLessThan(5_000)
    })

    it('settles pending waits on close; every call after close rejects with a BackendError', async () => {
      const b = createRedisBackend({ url: redisUrl, keyPrefix: randomPrefix('sem') })
      fenceOf(await b.acquirePermits('closing', 'a', 1, 1, 30_000))
      const waiting = b.waitForPermits('closing', 1, 1, 20_000)
      await delay(50)
      const started = performance.now()
      await b.close()
      await waiting
      expect(performance.now() - started).toBeLessThan(2_000)
      await expect(b.acquirePermits('closing', 'b', 1, 1, 1_000)).rejects.toBeInstanceOf(BackendError)
      await expect(b.extendPermits('closing', 'a', 1_000)).rejects.toBeInstanceOf(BackendError)
      await expect(b.releasePermits('closing', 'a')).rejects.toBeInstanceOf(BackendError)
      await expect(b.peekPermits('closing')).rejects.toBeInstanceOf(BackendError)
      await expect(b.waitForPermits('closing', 1, 1, 100)).rejects.toBeInstanceOf(BackendError)
    })
  })

  it('with waitForReplicas and no replica to acknowledge, an acquisition rejects and gives its permits back', async () => {
    const keyPrefix = randomPrefix('sem')
    const b = createRedisBackend({
      url: redisUrl,
      keyPrefix,
      waitForReplicas: { replicas: 1, timeoutMs: 50 },
    })
    opened.push(b)
    const error = await b.acquirePermits('replicas', 'a', 1, 1, 10_000).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendError)
    expect((error as Error).message).toMatch(/acquirePermits failed .*0 of 1 replica/)
    expect(await backend(keyPrefix).peekPermits('replicas')).toEqual({ inUse: 0, holders: [] })
  })

  it('rejects with a BackendError naming the endpoint when Redis is unreachable', async () => {
    const b = createRedisBackend({ url: 'redis://127.0.0.1:6399', keyPrefix: randomPrefix('sem') })
    try {
      const error = await b.acquirePermits('down', 'a', 1, 1, 1_000).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(BackendError)
      expect((error as Error).message).toContain('127.0.0.1:6399')
      expect((error as Error).cause).toBeDefined()
    } finally {
      await b.close()
    }
  })
})
