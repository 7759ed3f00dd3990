import { randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { BackendError, type PermitAcquireResult } from '@lockwork/core'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { PostgresBackend, PostgresBackendOptions } from '../src/index.js'
import { createPostgresBackend, FENCE_EPOCH_GAP, postgresMigrationSql } from '../src/index.js'
import { adminQuery, databaseUrl, dropObjects, postgresAvailable, randomTable } from './postgres-available.js'

/**
 * The semaphore capability of the PostgreSQL backend, exercised directly
 * against the backend contract. Every backend here has a Pool of its own, as
 * separate processes would.
 */
const available = await postgresAvailable()
const suite = available ? describe : describe.skip
const table = randomTable('sem')
const backends: PostgresBackend[] = []

// Close each test's pools at once: the server's connections are shared with other test files.
afterEach(async () => {
  await Promise.allSettled(backends.splice(0).map((b) => b.close()))
})

afterAll(async () => {
  if (available) await dropObjects(table)
})

function make(options: Partial<PostgresBackendOptions> = {}): PostgresBackend {
  const backend = createPostgresBackend({
    connectionString: databaseUrl,
    poolConfig: { max: 2 },
    table,
    ...options,
  })
  backends.push(backend)
  return backend
}

const key = (label: string) => `pg-sem:${randomUUID().slice(0, 8)}:${label}`
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

function won(result: PermitAcquireResult): number {
  if (!result.acquired) throw new Error(`expected to acquire; in use ${result.holders.inUse}`)
  return result.fence
}

it('the migration SQL creates the semaphore table', () => {
  expect(postgresMigrationSql({ table: 'Leases' })).toContain(
    'CREATE TABLE IF NOT EXISTS "public"."Leases_sem" (',
  )
})

suite('postgres semaphore: the contract', () => {
  it('admits holders up to the limit, then reports the holders; release frees permits', async () => {
    const b = make()
    const s = key('basic')
    const f1 = won(await b.acquirePermits(s, 'a', 2, 3, 5_000))
    const f2 = won(await b.acquirePermits(s, 'b', 1, 3, 5_000))
    expect(f2).toBeGreaterThan(f1)
    const refused = await make().acquirePermits(s, 'c', 1, 3, 5_000)
    if (refused.acquired) throw new Error('expected a refusal')
    expect(refused.holders.inUse).toBe(3)
    expect(refused.holders.holders.map((h) => [h.owner, h.permits, h.fence]).sort()).toEqual(
      [
        ['a', 2, f1],
        ['b', 1, f2],
      ].sort(),
    )
    for (const holder of refused.holders.holders) {
      expect(holder.remainingMs).toBeGreaterThan(3_000)
      expect(holder.remainingMs).toBeLessThanOrEqual(5_000)
    }
    expect(await b.releasePermits(s, 'a')).toBe(true)
    expect((await b.peekPermits(s)).inUse).toBe(1)
    expect(won(await b.acquirePermits(s, 'c', 2, 3, 5_000))).toBeGreaterThan(f2)
    expect((await b.peekPermits(s)).inUse).toBe(3)
    expect(await b.peekPermits(key('never-used'))).toEqual({ inUse: 0, holders: [] })
  })

  it('re-acquiring for the same owner is idempotent: same fence, permits unchanged, expiry refreshed', async () => {
    const b = make()
    const s = key('idempotent')
    const fence = won(await b.acquirePermits(s, 'a', 2, 2, 300))
    await sleep(150)
    expect(won(await b.acquirePermits(s, 'a', 2, 2, 5_000))).toBe(fence)
    expect(won(await b.acquirePermits(s, 'a', 1, 2, 5_000))).toBe(fence) // also when full, other count asked
    const { holders, inUse } = await b.peekPermits(s)
    expect(inUse).toBe(2)
    expect(holders).toHaveLength(1)
    expect(holders[0]?.remainingMs).toBeGreaterThan(3_000)
  })

  it('the limit is the caller’s: a lower one admits no one new and evicts no one', async () => {
    const b = make()
    const s = key('limit')
    won(await b.acquirePermits(s, 'a', 1, 5, 5_000))
    won(await b.acquirePermits(s, 'b', 1, 5, 5_000))
    expect((await b.acquirePermits(s, 'c', 1, 2, 5_000)).acquired).toBe(false)
    expect((await b.peekPermits(s)).inUse).toBe(2)
    won(await b.acquirePermits(s, 'c', 1, 3, 5_000))
  })

  it('ignores expired holders; their release and extend are refused and never touch a later holder', async () => {
    const b = make()
    const s = key('expiry')
    won(await b.acquirePermits(s, 'a', 1, 1, 80))
    expect((await b.acquirePermits(s, 'b', 1, 1, 5_000)).acquired).toBe(false)
    await sleep(200)
    expect(await b.peekPermits(s)).toEqual({ inUse: 0, holders: [] })
    expect(await b.extendPermits(s, 'a', 5_000)).toBe(false)
    expect(await b.releasePermits(s, 'a')).toBe(false)
    won(await b.acquirePermits(s, 'b', 1, 1, 5_000))
    expect(await b.releasePermits(s, 'a')).toBe(false)
    expect((await b.peekPermits(s)).holders.map((h) => h.owner)).toEqual(['b'])
  })

  it('extend and release check the owner; releasing twice is a no-op', async () => {
    const b = make()
    const s = key('owner')
    won(await b.acquirePermits(s, 'a', 1, 2, 150))
    expect(await b.extendPermits(s, 'stranger', 5_000)).toBe(false)
    expect(await b.releasePermits(s, 'stranger')).toBe(false)
    expect(await b.extendPermits(s, 'a', 5_000)).toBe(true)
    await sleep(250)
    expect((await b.peekPermits(s)).inUse).toBe(1)
    expect(await b.releasePermits(s, 'a')).toBe(true)
    expect(await b.releasePermits(s, 'a')).toBe(false)
    expect(await b.extendPermits(s, 'a', 5_000)).toBe(false)
  })

  it('fences strictly increase per semaphore, also after every holder expired and the row was swept', async () => {
    const b = make({ sweepIntervalMs: 0 })
    const s = key('fences')
    const fences: number[] = []
    for (let i = 0; i < 4; i++) {
      fences.push(won(await b.acquirePermits(s, `o${i}`, 1, 1, 30)))
      await sleep(60)
    }
    expect((await b.sweep()).semaphores).toBeGreaterThanOrEqual(1)
    expect(await adminQuery(`SELECT 1 FROM "${table}_sem" WHERE key = $1`, [s])).toEqual([])
    fences.push(won(await b.acquirePermits(s, 'after-sweep', 1, 1, 5_000)))
    for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1] ?? 0)
  })

  it('after a crash (the unlogged guard row gone) semaphore fences jump past anything lost', async () => {
    const b = make({ durability: 'fast' })
    const s = key('guard')
    const before = won(await b.acquirePermits(s, 'a', 1, 5, 5_000))
    await adminQuery(`TRUNCATE "${table}_guard"`)
    const after = won(await b.acquirePermits(s, 'b', 1, 5, 5_000))
    expect(after).toBeGreaterThanOrEqual(before + FENCE_EPOCH_GAP)
  })

  it('semaphore keys are a namespace of their own, compared exactly like lock keys', async () => {
    const b = make()
    const base = key('k')
    expect((await b.acquire(base, 'lock-owner', 5_000)).acquired).toBe(true)
    won(await b.acquirePermits(base, 'a', 1, 1, 5_000))
    expect((await b.peek(base))?.owner).toBe('lock-owner')
    const lookAlikes = [
      `${base} `,
      base.toUpperCase(),
      `${base}caf\u00e9`,
      `${base}cafe\u0301`,
      `${base}'"%*{}`,
    ]
    for (const k of lookAlikes) won(await b.acquirePermits(k, `o'"${k}`, 1, 1, 5_000))
    for (const k of lookAlikes) expect((await b.peekPermits(k)).holders[0]?.owner).toBe(`o'"${k}`)
    expect((await b.peekPermits(base)).holders.map((h) => h.owner)).toEqual(['a'])
  })

  it("works in 'fast' mode and without prepared statements", async () => {
    for (const options of [{ durability: 'fast' as const }, { preparedStatements: false }]) {
      const b = make(options)
      const s = key('modes')
      const fence = won(await b.acquirePermits(s, 'a', 1, 1, 5_000))
      expect(won(await b.acquirePermits(s, 'a', 1, 1, 5_000))).toBe(fence)
      expect((await make(options).acquirePermits(s, 'b', 1, 1, 5_000)).acquired).toBe(false)
      expect(await b.extendPermits(s, 'a', 5_000)).toBe(true)
      expect(await b.releasePermits(s, 'a')).toBe(true)
    }
  })

  it('rejects every call after close with BackendError', async () => {
    const b = make()
    const s = key('closed')
    won(await b.acquirePermits(s, 'a', 1, 1, 5_000))
    await b.close()
    for (const call of [
      () => b.acquirePermits(s, 'a', 1, 1, 5_000),
      () => b.extendPermits(s, 'a', 5_000),
      () => b.releasePermits(s, 'a'),
      () => b.peekPermits(s),
      () => b.waitForPermits(s, 1, 1, 100),
    ]) {
      await expect(call()).rejects.toBeInstanceOf(BackendError)
    }
  })
})

describe('postgres semaphore: errors', () => {
  it('a closed port fails with BackendError naming host:port/database, the driver error as cause', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const address = server.address()
        server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
      })
    })
    const b = createPostgresBackend({ connectionString: `postgres://u:pw@127.0.0.1:${port}/appdb` })
    try {
      for (const call of [() => b.acquirePermits('s', 'a', 1, 1, 5_000), () => b.peekPermits('s')]) {
        const error = await call().catch((e: unknown) => e)
        expect(error).toBeInstanceOf(BackendError)
        expect((error as Error).message).toContain(`127.0.0.1:${port}/appdb`)
        expect(((error as Error).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED')
      }
    } finally {
      await b.close()
    }
  })
})

suite('postgres semaphore: contention across pools', () => {
  it('200 attempts through 8 pools at once on a free semaphore of 3 → exactly 3 holders', async () => {
    const pools = Array.from({ length: 8 }, () => make())
    const s = key('burst')
    await Promise.all(pools.map((b) => b.peekPermits(s)))
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        (pools[i % pools.length] as PostgresBackend).acquirePermits(s, `o${i}`, 1, 3, 10_000),
      ),
    )
    const winners = results.filter((r) => r.acquired)
    expect(winners).toHaveLength(3)
    expect((await pools[0]?.peekPermits(s))?.inUse).toBe(3)
    for (const r of results) if (!r.acquired) expect(r.holders.inUse).toBeGreaterThan(0)
  })

  it('6 pools × 25 sections with mixed permit counts: occupancy never above the limit, fences unique and rising', async () => {
    const limit = 3
    const s = key('sections')
    const pools = Array.from({ length: 6 }, () => make())
    let occupancy = 0
    let peak = 0
    const fences: number[] = []
    const worker = async (b: PostgresBackend, w: number): Promise<number[]> => {
      const mine: number[] = []
      for (let i = 0; i < 25; i++) {
        const owner = `w${w}-${i}`
        const permits = 1 + ((w + i) % 2)
        let fence: number | undefined
        while (fence === undefined) {
          const result = await b.acquirePermits(s, owner, permits, limit, 10_000)
          if (result.acquired) fence = result.fence
          else await b.waitForPermits(s, permits, limit, 200)
        }
        occupancy += permits
        peak = Math.max(peak, occupancy)
        if (occupancy > limit) throw new Error(`occupancy ${occupancy} > ${limit}`)
        mine.push(fence)
        fences.push(fence)
        await sleep(Math.random() * 3)
        occupancy -= permits
        expect(await b.releasePermits(s, owner)).toBe(true)
      }
      return mine
    }
    const perWorker = await Promise.all(pools.map((b, w) => worker(b, w)))
    expect(peak).toBeLessThanOrEqual(limit)
    expect(peak).toBeGreaterThan(1)
    expect(new Set(fences).size).toBe(6 * 25)
    for (const mine of perWorker) {
      for (let i = 1; i < mine.length; i++) expect(mine[i]).toBeGreaterThan(mine[i - 1] ?? 0)
    }
  }, 120_000)
})

suite('postgres semaphore: waitForPermits', () => {
  it('resolves at once when enough permits are free', async () => {
    const b = make()
    const s = key('free')
    won(await b.acquirePermits(s, 'a', 1, 2, 5_000))
    const started = performance.now()
    await b.waitForPermits(s, 1, 2, 10_000)
    expect(performance.now() - started).toBeLessThan(3_000)
  })

  it('wakes on a release through another pool (NOTIFY), long before the holder’s lease ends', async () => {
    const holder = make()
    const waiter = make()
    const s = key('notify')
    won(await holder.acquirePermits(s, 'a', 1, 1, 60_000))
    const started = performance.now()
    const waiting = waiter.waitForPermits(s, 1, 1, 30_000)
    await sleep(300)
    expect(await holder.releasePermits(s, 'a')).toBe(true)
    await waiting
    const waited = performance.now() - started
    expect(waited).toBeGreaterThan(250)
    expect(waited).toBeLessThan(5_000)
  })

  it('a lock release of the same key does not wake a semaphore waiter for good: it waits for its own release', async () => {
    const b = make()
    const s = key('namespaces')
    won(await b.acquirePermits(s, 'a', 1, 1, 60_000))
    expect((await b.acquire(s, 'lock', 60_000)).acquired).toBe(true)
    await b.waitForRelease(s, 50) // makes the lock release notify
    let woke = false
    const waiting = b.waitForPermits(s, 1, 1, 30_000).then(() => {
      woke = true
    })
    await sleep(300)
    expect(await b.release(s, 'lock')).toBe(true)
    await sleep(500)
    expect(woke).toBe(false)
    expect(await b.releasePermits(s, 'a')).toBe(true)
    await waiting
  })

  it('wakes when the earliest holder’s lease runs out (expiry sends no notification)', async () => {
    const b = make()
    const s = key('expiry-wake')
    won(await b.acquirePermits(s, 'a', 1, 2, 60_000))
    won(await b.acquirePermits(s, 'b', 1, 2, 400))
    const started = performance.now()
    await b.waitForPermits(s, 1, 2, 30_000)
    const waited = performance.now() - started
    expect(waited).toBeGreaterThan(250)
    expect(waited).toBeLessThan(5_000)
  })

  it('ends at the timeout or on abort; pending waits resolve on close', async () => {
    const b = make()
    const s = key('timeout')
    won(await b.acquirePermits(s, 'a', 1, 1, 60_000))
    const started = performance.now()
    await b.waitForPermits(s, 1, 1, 200)
    expect(performance.now() - started).toBeGreaterThan(150)
    const controller = new AbortController()
    const aborted = b.waitForPermits(s, 1, 1, 30_000, controller.signal)
    controller.abort()
    await aborted
    const pending = b.waitForPermits(s, 1, 1, 30_000)
    await sleep(50)
    await b.close()
    await pending
  })
})
