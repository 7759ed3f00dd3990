import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BackendError, type PermitAcquireResult } from '@lockwork/core'
import Database from 'better-sqlite3'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createSqliteBackend, type SqliteBackend, type SqliteBackendOptions } from '../src/index.js'

/**
 * The semaphore capability of the SQLite backend, exercised directly against
 * the backend contract, with several connections to one file contending.
 */
let dir: string
const opened: SqliteBackend[] = []

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lockwork-sqlite-sem-'))
})

afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((b) => b.close()))
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

const file = (): string => join(dir, `${randomUUID()}.sqlite`)
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function backend(options: SqliteBackendOptions): SqliteBackend {
  const b = createSqliteBackend(options)
  opened.push(b)
  return b
}

function won(result: PermitAcquireResult): number {
  if (!result.acquired) throw new Error(`expected to acquire; in use ${result.holders.inUse}`)
  return result.fence
}

describe('sqlite semaphore: the contract', () => {
  it('admits holders up to the limit, then reports the holders; release frees permits', async () => {
    const b = backend({ path: file() })
    const f1 = won(await b.acquirePermits('s', 'a', 2, 3, 5_000))
    const f2 = won(await b.acquirePermits('s', 'b', 1, 3, 5_000))
    expect(f2).toBeGreaterThan(f1)
    const refused = await b.acquirePermits('s', 'c', 1, 3, 5_000)
    if (refused.acquired) throw new Error('expected a refusal')
    expect(refused.holders.inUse).toBe(3)
    expect(refused.holders.holders.map((h) => [h.owner, h.permits, h.fence]).sort()).toEqual(
      [
        ['a', 2, f1],
        ['b', 1, f2],
      ].sort(),
    )
    for (const holder of refused.holders.holders) {
      expect(holder.remainingMs).toBeGreaterThan(4_000)
      expect(holder.remainingMs).toBeLessThanOrEqual(5_000)
    }
    expect(await b.releasePermits('s', 'a')).toBe(true)
    expect((await b.peekPermits('s')).inUse).toBe(1)
    const f3 = won(await b.acquirePermits('s', 'c', 2, 3, 5_000))
    expect(f3).toBeGreaterThan(f2)
    expect((await b.peekPermits('s')).inUse).toBe(3)
  })

  it('re-acquiring for the same owner is idempotent: same fence, permits unchanged, expiry refreshed', async () => {
    const b = backend({ path: file() })
    const fence = won(await b.acquirePermits('s', 'a', 2, 2, 200))
    await sleep(100)
    expect(won(await b.acquirePermits('s', 'a', 2, 2, 5_000))).toBe(fence)
    // Also when the semaphore is full, and with a different permit count asked.
    expect(won(await b.acquirePermits('s', 'a', 1, 2, 5_000))).toBe(fence)
    const { holders, inUse } = await b.peekPermits('s')
    expect(inUse).toBe(2)
    expect(holders).toHaveLength(1)
    expect(holders[0]?.remainingMs).toBeGreaterThan(4_000)
  })

  it('the limit is the caller’s: a lower one admits no one new and evicts no one', async () => {
    const b = backend({ path: file() })
    won(await b.acquirePermits('s', 'a', 1, 5, 5_000))
    won(await b.acquirePermits('s', 'b', 1, 5, 5_000))
    expect((await b.acquirePermits('s', 'c', 1, 2, 5_000)).acquired).toBe(false)
    expect((await b.peekPermits('s')).inUse).toBe(2)
    won(await b.acquirePermits('s', 'c', 1, 3, 5_000))
  })

  it('ignores expired holders; their release and extend are refused', async () => {
    const b = backend({ path: file() })
    won(await b.acquirePermits('s', 'a', 1, 1, 60))
    expect((await b.acquirePermits('s', 'b', 1, 1, 5_000)).acquired).toBe(false)
    await sleep(120)
    expect(await b.peekPermits('s')).toEqual({ inUse: 0, holders: [] })
    expect(await b.extendPermits('s', 'a', 5_000)).toBe(false)
    expect(await b.releasePermits('s', 'a')).toBe(false)
    won(await b.acquirePermits('s', 'b', 1, 1, 5_000))
    expect(await b.releasePermits('s', 'a')).toBe(false) // a stale owner never frees b
    expect((await b.peekPermits('s')).holders.map((h) => h.owner)).toEqual(['b'])
  })

  it('extend and release check the owner; releasing twice is a no-op', async () => {
    const b = backend({ path: file() })
    won(await b.acquirePermits('s', 'a', 1, 2, 100))
    expect(await b.extendPermits('s', 'stranger', 5_000)).toBe(false)
    expect(await b.releasePermits('s', 'stranger')).toBe(false)
    expect(await b.extendPermits('s', 'a', 5_000)).toBe(true)
    await sleep(150)
    expect((await b.peekPermits('s')).inUse).toBe(1) // extended past the first ttl
    expect(await b.releasePermits('s', 'a')).toBe(true)
    expect(await b.releasePermits('s', 'a')).toBe(false)
    expect(await b.extendPermits('s', 'a', 5_000)).toBe(false)
  })

  it('one fence counter per semaphore: strictly increasing, also after every holder expired or was swept', async () => {
    const path = file()
    const b = backend({ path, retainFreeFor: 0, sweepInterval: 0 })
    const fences: number[] = []
    for (let i = 0; i < 4; i++) {
      fences.push(won(await b.acquirePermits('s', `o${i}`, 1, 1, 30)))
      await sleep(50) // every holder expires before the next one comes
    }
    // A write runs the sweep, which deletes the idle semaphore row and raises the fence floor.
    await b.acquire('other', 'x', 5_000)
    const db = new Database(path)
    try {
      expect(db.prepare('SELECT count(*) FROM lockwork_sem').pluck().get()).toBe(0)
      expect(db.prepare('SELECT count(*) FROM lockwork_sem_holder').pluck().get()).toBe(0)
    } finally {
      db.close()
    }
    fences.push(won(await b.acquirePermits('s', 'after-sweep', 1, 1, 5_000)))
    for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1] ?? 0)
  })

  it('semaphore keys are a namespace of their own, compared byte for byte', async () => {
    const b = backend({ path: file() })
    expect((await b.acquire('k', 'lock-owner', 5_000)).acquired).toBe(true)
    won(await b.acquirePermits('k', 'a', 1, 1, 5_000))
    expect((await b.peek('k'))?.owner).toBe('lock-owner')
    const lookAlikes = ['k ', 'K', 'caf\u00e9', 'cafe\u0301', 'it\'s "quoted" %*{}', 'k\u001fx']
    for (const key of lookAlikes) won(await b.acquirePermits(key, 'a', 1, 1, 5_000))
    for (const key of lookAlikes) expect((await b.peekPermits(key)).inUse).toBe(1)
    expect((await b.peekPermits('k')).inUse).toBe(1)
  })

  it('rejects every call after close with BackendError; driver errors name the file', async () => {
    const b = createSqliteBackend({ path: file() })
    won(await b.acquirePermits('s', 'a', 1, 1, 5_000))
    await b.close()
    for (const call of [
      () => b.acquirePermits('s', 'a', 1, 1, 5_000),
      () => b.extendPermits('s', 'a', 5_000),
      () => b.releasePermits('s', 'a'),
      () => b.peekPermits('s'),
      () => b.waitForPermits('s', 1, 1, 100),
    ]) {
      await expect(call()).rejects.toBeInstanceOf(BackendError)
    }
    const missing = join(dir, 'no-such-dir', 'x.sqlite')
    const broken = backend({ path: missing })
    const error = await broken.acquirePermits('s', 'a', 1, 1, 5_000).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendError)
    expect((error as Error).message).toContain(missing)
    expect((error as Error).cause).toBeDefined()
  })
})

describe('sqlite semaphore: contention across connections', () => {
  it('200 attempts through 8 connections at once on a free semaphore of 3 → exactly 3 holders', async () => {
    const path = file()
    const backends = Array.from({ length: 8 }, () => backend({ path }))
    await Promise.all(backends.map((b) => b.peekPermits('warm-up')))
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        (backends[i % backends.length] as SqliteBackend).acquirePermits('s', `o${i}`, 1, 3, 10_000),
      ),
    )
    const winners = results.filter((r) => r.acquired)
    expect(winners).toHaveLength(3)
    expect(new Set(winners.map((r) => (r.acquired ? r.fence : 0))).size).toBe(3)
    expect((await backends[0]?.peekPermits('s'))?.inUse).toBe(3)
  })

  it('8 connections × 40 sections with mixed permit counts: occupancy never above the limit, fences unique and rising', async () => {
    const path = file()
    const limit = 4
    const backends = Array.from({ length: 8 }, () => backend({ path }))
    let occupancy = 0
    let peak = 0
    const fences: number[] = []
    const worker = async (b: SqliteBackend, w: number): Promise<number[]> => {
      const mine: number[] = []
      for (let i = 0; i < 40; i++) {
        const owner = `w${w}-${i}`
        const permits = 1 + ((w + i) % 2)
        let fence: number | undefined
        while (fence === undefined) {
          const result = await b.acquirePermits('s', owner, permits, limit, 10_000)
          if (result.acquired) fence = result.fence
          else await b.waitForPermits('s', permits, limit, 50)
        }
        occupancy += permits
        peak = Math.max(peak, occupancy)
        if (occupancy > limit) throw new Error(`occupancy ${occupancy} > ${limit}`)
        mine.push(fence)
        fences.push(fence)
        await sleep(Math.random() < 0.5 ? 0 : 1)
        occupancy -= permits
        expect(await b.releasePermits('s', owner)).toBe(true)
      }
      return mine
    }
    const perWorker = await Promise.all(backends.map((b, w) => worker(b, w)))
    expect(peak).toBeLessThanOrEqual(limit)
    expect(peak).toBeGreaterThan(1) // the semaphore really admitted several at once
    expect(new Set(fences).size).toBe(8 * 40)
    for (const mine of perWorker) {
      for (let i = 1; i < mine.length; i++) expect(mine[i]).toBeGreaterThan(mine[i - 1] ?? 0)
    }
  }, 60_000)
})

describe('sqlite semaphore: waitForPermits', () => {
  it('resolves at once when enough permits are free', async () => {
    const b = backend({ path: file() })
    won(await b.acquirePermits('s', 'a', 1, 2, 5_000))
    const started = performance.now()
    await b.waitForPermits('s', 1, 2, 5_000)
    expect(performance.now() - started).toBeLessThan(1_000)
  })

  it('wakes at once for a release through another instance in this process', async () => {
    const path = file()
    const holder = backend({ path, pollMax: 5_000 })
    const waiter = backend({ path, pollMax: 5_000 })
    won(await holder.acquirePermits('s', 'a', 1, 1, 60_000))
    await waiter.peekPermits('s')
    const started = performance.now()
    const waiting = waiter.waitForPermits('s', 1, 1, 20_000)
    await sleep(100)
    expect(await holder.releasePermits('s', 'a')).toBe(true)
    await waiting
    expect(performance.now() - started).toBeLessThan(3_000)
  })

  it('sees a release made by another connection (no notification) by polling, and an expiry', async () => {
    const path = file()
    const b = backend({ path, pollMax: 50 })
    won(await b.acquirePermits('s', 'a', 1, 1, 60_000))
    const raw = new Database(path)
    try {
      const started = performance.now()
      const waiting = b.waitForPermits('s', 1, 1, 20_000)
      await sleep(100)
      raw.prepare('DELETE FROM lockwork_sem_holder WHERE key = ?').run('s')
      await waiting
      expect(performance.now() - started).toBeLessThan(3_000)
    } finally {
      raw.close()
    }
    won(await b.acquirePermits('s', 'b', 1, 1, 300))
    const started = performance.now()
    await b.waitForPermits('s', 1, 1, 20_000)
    const waited = performance.now() - started
    expect(waited).toBeGreaterThan(200)
    expect(waited).toBeLessThan(5_000)
  })

  it('ends at the timeout or on abort while the permits stay taken; pending waits resolve on close', async () => {
    const b = backend({ path: file() })
    won(await b.acquirePermits('s', 'a', 1, 1, 60_000))
    const started = performance.now()
    await b.waitForPermits('s', 1, 1, 150)
    expect(performance.now() - started).toBeGreaterThan(100)
    const controller = new AbortController()
    const aborted = b.waitForPermits('s', 1, 1, 20_000, controller.signal)
    controller.abort()
    await aborted
    const pending = b.waitForPermits('s', 1, 1, 20_000)
    await b.close()
    await pending
  })
})
