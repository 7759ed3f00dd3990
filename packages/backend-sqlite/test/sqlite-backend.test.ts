import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BackendError, createLockwork, InvalidArgumentError, type LockBackend } from '@lockwork/core'
import Database from 'better-sqlite3'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createSqliteBackend, type SqliteBackendOptions } from '../src/index.js'
import { trackSqliteCalls } from './fixtures/sqlite-timing.js'

let dir: string
const opened: LockBackend[] = []
const raw: Database.Database[] = []

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lockwork-sqlite-'))
})

afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((b) => b.close()))
  for (const db of raw.splice(0)) if (db.open) db.close()
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

const file = (): string => join(dir, `${randomUUID()}.sqlite`)

function backend(options: SqliteBackendOptions): LockBackend {
  const b = createSqliteBackend(options)
  opened.push(b)
  return b
}

function open(path: string, options?: Database.Options): Database.Database {
  const db = new Database(path, options)
  raw.push(db)
  return db
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

describe('sqlite: options', () => {
  it('validates the table name and rejects path together with database', () => {
    for (const table of ['', '1abc', 'a-b', 'a b', 'x"; DROP TABLE t; --', 'sqlite_master', 'a'.repeat(49)]) {
      expect(() => createSqliteBackend({ path: file(), table })).toThrow(InvalidArgumentError)
    }
    expect(() => createSqliteBackend({ path: file(), table: 'My_Locks_2' })).not.toThrow()
    const db = open(':memory:')
    expect(() => createSqliteBackend({ path: file(), database: db })).toThrow(InvalidArgumentError)
    expect(() => createSqliteBackend({ path: file(), busyTimeout: -1 })).toThrow(InvalidArgumentError)
    expect(() => createSqliteBackend({ path: file(), synchronous: 'OFF' as unknown as 'FULL' })).toThrow(
      InvalidArgumentError,
    )
  })

  it('puts the file in WAL mode and creates the tables under the chosen name', async () => {
    const path = file()
    const b = backend({ path, table: 'jobs', synchronous: 'FULL' })
    await b.acquire('k', 'a', 1_000)
    const db = open(path)
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all()
    expect(tables).toEqual(['jobs', 'jobs_cache', 'jobs_meta', 'jobs_sem', 'jobs_sem_holder'])
  })

  it('different table names on one file are separate lock spaces', async () => {
    const path = file()
    const a = backend({ path, table: 'one' })
    const b = backend({ path, table: 'two' })
    expect((await a.acquire('k', 'x', 5_000)).acquired).toBe(true)
    expect((await b.acquire('k', 'y', 5_000)).acquired).toBe(true)
  })
})

describe('sqlite: with the core client (the README example)', () => {
  it('withLock runs under the lock, with a fence, and releases it', async () => {
    const path = file()
    const lw = createLockwork({ backend: backend({ path }), prefix: 'myapp:' })
    const rival = createLockwork({ backend: backend({ path }), prefix: 'myapp:' })
    const result = await lw.withLock('orders:42', async (lock) => {
      expect(lock.fence).toBeGreaterThanOrEqual(1)
      expect(await rival.tryAcquire('orders:42')).toBeNull()
      return 'done'
    })
    expect(result).toBe('done')
    expect(await rival.isLocked('orders:42')).toBe(false)
  })
})

describe('sqlite: leases and fences', () => {
  it('treats keys and owners as parameters: quotes, %, *, {}, Unicode, SQL', async () => {
    const b = backend({ path: file() })
    const keys = [`it's "quoted"`, '100% *{x}*', 'ключ 🔒', "'); DROP TABLE lockwork; --", 'K', 'k']
    for (const key of keys) {
      const owner = `${key} owner '"`
      expect((await b.acquire(key, owner, 5_000)).acquired).toBe(true)
      expect((await b.peek(key))?.owner).toBe(owner)
    }
    for (const key of keys) expect(await b.release(key, `${key} owner '"`)).toBe(true)
  })

  it('a refusal reports at least 1 ms left, also when the lease expires between the clock readings of one acquire', async () => {
    const b = backend({ path: file() })
    // The lease of `a` ends at 1,050. During the acquire of `b` the clock reads 1,049 for the
    // first `turn` readings and 1,050 after: whichever reading the refusal and the holder's
    // remaining time come from, the attempt either takes the key or reports a live holder.
    const clock = vi.spyOn(Date, 'now')
    try {
      for (let turn = 0; turn < 8; turn++) {
        const key = `edge-${turn}`
        clock.mockImplementation(() => 1_000)
        expect((await b.acquire(key, 'a', 50)).acquired).toBe(true)
        let readings = 0
        clock.mockImplementation(() => (readings++ < turn ? 1_049 : 1_050))
        const result = await b.acquire(key, 'b', 50)
        if (!result.acquired) {
          expect(result.holder.owner).toBe('a')
          expect(result.holder.remainingMs).toBeGreaterThanOrEqual(1)
        }
      }
    } finally {
      clock.mockRestore()
    }
  })

  it('keeps the fence across release and expiry (the row is kept, marked free)', async () => {
    const path = file()
    const b = backend({ path })
    const first = await b.acquire('k', 'a', 5_000)
    expect(await b.release('k', 'a')).toBe(true)
    const second = await b.acquire('k', 'b', 50)
    await sleep(120)
    const third = await b.acquire('k', 'c', 5_000)
    if (!first.acquired || !second.acquired || !third.acquired) throw new Error('expected to acquire')
    expect(second.fence).toBe(first.fence + 1)
    expect(third.fence).toBe(second.fence + 1)
    const row = open(path).prepare('SELECT owner, fence FROM lockwork WHERE key = ?').get('k')
    expect(row).toEqual({ owner: 'c', fence: third.fence })
  })

  it('the same owner re-acquiring an unexpired lease keeps its fence; after expiry it gets a new one', async () => {
    const b = backend({ path: file() })
    const first = await b.acquire('k', 'a', 80)
    const again = await b.acquire('k', 'a', 80)
    if (!first.acquired || !again.acquired) throw new Error('expected to acquire')
    expect(again.fence).toBe(first.fence)
    await sleep(150)
    const later = await b.acquire('k', 'a', 5_000)
    if (!later.acquired) throw new Error('expected to acquire')
    expect(later.fence).toBe(first.fence + 1)
  })

  it('sweeps old free and expired rows and expired cache entries, and fences never go back', async () => {
    const path = file()
    const b = backend({ path, retainFreeFor: 0, sweepInterval: 0 })
    let last = 0
    for (let i = 0; i < 5; i++) {
      const got = await b.acquire('k', `o${i}`, 5_000)
      if (!got.acquired) throw new Error('expected to acquire')
      last = got.fence
      await b.release('k', `o${i}`)
    }
    await b.acquire('expiring', 'x', 20)
    await b.setCached('c', { value: 'v', computeMs: 1 }, 20)
    await sleep(60)
    await b.acquire('held', 'h', 60_000) // a write: runs the sweep
    const db = open(path)
    expect(db.prepare('SELECT key FROM lockwork ORDER BY key').pluck().all()).toEqual(['held'])
    expect(db.prepare('SELECT count(*) FROM lockwork_cache').pluck().get()).toBe(0)
    expect(db.prepare('SELECT fence_floor FROM lockwork_meta').pluck().get()).toBeGreaterThanOrEqual(last)
    const next = await b.acquire('k', 'new', 5_000)
    if (!next.acquired) throw new Error('expected to acquire')
    expect(next.fence).toBeGreaterThan(last)
  })

  it('keeps free rows for retainFreeFor (default 1 h)', async () => {
    const path = file()
    const b = backend({ path, sweepInterval: 0 })
    await b.acquire('k', 'a', 5_000)
    await b.release('k', 'a')
    await b.acquire('other', 'a', 5_000)
    expect(open(path).prepare('SELECT count(*) FROM lockwork').pluck().get()).toBe(2)
  })

  it('returns plain numbers even when a supplied database defaults to BigInt', async () => {
    const db = open(file())
    db.defaultSafeIntegers(true)
    const b = backend({ database: db })
    const got = await b.acquire('k', 'a', 5_000)
    if (!got.acquired) throw new Error('expected to acquire')
    expect(typeof got.fence).toBe('number')
    expect(typeof (await b.peek('k'))?.remainingMs).toBe('number')
  })
})

describe('sqlite: cache store', () => {
  it('gets, overwrites, expires and deletes entries', async () => {
    const path = file()
    const a = backend({ path })
    const b = backend({ path })
    expect(await a.getCached('c')).toBeUndefined()
    await a.setCached('c', { value: '{"n":1}', computeMs: 12.5 }, 5_000)
    const got = await b.getCached('c')
    expect(got?.value).toBe('{"n":1}')
    expect(got?.computeMs).toBe(12.5)
    expect(got?.remainingMs).toBeGreaterThan(4_000)
    await b.setCached('c', { value: 'two', computeMs: 1 }, 40)
    expect((await a.getCached('c'))?.value).toBe('two')
    await sleep(80)
    expect(await a.getCached('c')).toBeUndefined()
    expect(await a.deleteCached('c')).toBe(false) // expired: did not exist
    await a.setCached('d', { value: 'x', computeMs: 0 }, 5_000)
    expect(await b.deleteCached('d')).toBe(true)
    expect(await b.deleteCached('d')).toBe(false)
  })
})

describe('sqlite: waitForRelease', () => {
  it('wakes at once for a release in the same process, through another instance', async () => {
    const path = file()
    const holder = backend({ path })
    const waiter = backend({ path })
    await holder.acquire('k', 'a', 30_000)
    const peek = vi.spyOn(waiter, 'peek')
    const waiting = waiter.waitForRelease!('k', 10_000)
    await sleep(300) // the poll has backed off to its cap by now
    const polls = peek.mock.calls.length
    const releasedAt = performance.now()
    await holder.release('k', 'a')
    await waiting
    // Typically under 1 ms; the bound leaves room for a loaded machine, the peek count below proves the mechanism.
    expect(performance.now() - releasedAt).toBeLessThan(60)
    expect(polls).toBeGreaterThan(1)
    expect(peek.mock.calls.length).toBe(polls) // woken by the release, not by a poll
  })

  it('wakes at once between instances sharing one in-memory database', async () => {
    const db = open(':memory:')
    const holder = backend({ database: db })
    const waiter = backend({ database: db, pollMax: 10_000 })
    await holder.acquire('k', 'a', 30_000)
    const peek = vi.spyOn(waiter, 'peek')
    const waiting = waiter.waitForRelease!('k', 10_000)
    await sleep(100)
    const polls = peek.mock.calls.length
    await holder.release('k', 'a')
    await waiting
    expect(peek.mock.calls.length).toBe(polls) // woken by the release, not by a poll
  })

  it('sees a release made elsewhere (no notification) by polling, within about pollMax', async () => {
    const path = file()
    const b = backend({ path, pollMax: 50 })
    await b.acquire('k', 'a', 30_000)
    const elsewhere = open(path)
    const waiting = b.waitForRelease!('k', 10_000)
    await sleep(300)
    const releasedAt = performance.now()
    elsewhere.prepare('UPDATE lockwork SET owner = NULL WHERE key = ?').run('k')
    await waiting
    const latency = performance.now() - releasedAt
    expect(latency).toBeLessThan(500)
  })

  it('wakes when the lease expires, not at the poll cap or the timeout', async () => {
    const b = backend({ path: file(), pollMax: 5_000 })
    await b.acquire('k', 'a', 250)
    const started = performance.now()
    await b.waitForRelease!('k', 10_000)
    const waited = performance.now() - started
    expect(waited).toBeGreaterThanOrEqual(200)
    expect(waited).toBeLessThan(1_000)
  })

  it('wakes when the key changes hands between two polls', async () => {
    const path = file()
    const b = backend({ path, pollMax: 100 })
    await b.acquire('k', 'a', 30_000)
    const elsewhere = open(path)
    const waiting = b.waitForRelease!('k', 10_000)
    await sleep(200)
    elsewhere.prepare("UPDATE lockwork SET owner = 'b', fence = fence + 1 WHERE key = ?").run('k')
    const started = performance.now()
    await waiting
    expect(performance.now() - started).toBeLessThan(500)
  })

  it('pending waits resolve on close; a wait started after close rejects with BackendError', async () => {
    const path = file()
    const holder = backend({ path })
    const b = createSqliteBackend({ path })
    await holder.acquire('k', 'a', 30_000)
    const waiting = b.waitForRelease!('k', 10_000)
    await sleep(20)
    const started = performance.now()
    await b.close()
    await waiting
    expect(performance.now() - started).toBeLessThan(100)
    expect(await rejection(b.waitForRelease!('k', 1_000))).toBeInstanceOf(BackendError)
  })
})

describe('sqlite: the wake file is written only for a waiter', () => {
  it('a release no waiter flagged leaves the wake file alone; a flagged one writes it and clears the flag', async () => {
    const path = file()
    const wakePath = `${path}-wake`
    const holder = backend({ path })
    await holder.acquire('k', 'a', 30_000)
    expect(await holder.release('k', 'a')).toBe(true)
    expect(existsSync(wakePath)).toBe(false)

    const waiter = backend({ path })
    await holder.acquire('k', 'b', 30_000)
    const waiting = waiter.waitForRelease!('k', 10_000)
    const waited = (): unknown =>
      open(path).prepare('SELECT waited FROM lockwork WHERE key = ?').pluck().get('k')
    for (let i = 0; i < 100 && waited() !== 1; i++) await sleep(10)
    expect(waited()).toBe(1)
    expect(statSync(wakePath).size).toBe(0) // the watch created it; nothing was written yet
    expect(await holder.release('k', 'b')).toBe(true)
    await waiting
    expect(statSync(wakePath).size).toBe(1)
    expect(waited()).toBe(-1)

    const before = statSync(wakePath, { bigint: true }).mtimeNs
    await holder.acquire('k', 'c', 30_000)
    expect(await holder.release('k', 'c')).toBe(true)
    expect(waited()).toBe(0)
    expect(statSync(wakePath, { bigint: true }).mtimeNs).toBe(before)
  })

  it('a wait flags only the lease it saw, not one that took the key between its look and its flag', async () => {
    const path = file()
    const holder = backend({ path })
    await holder.acquire('k', 'a', 30_000)
    const waiter = createSqliteBackend({ path, pollMax: 10_000 })
    opened.push(waiter)
    // Between the waiter's look and its flag, the lease changes hands through
    // another connection, as another process would: no in-process wake-up,
    // so only the failed flag can end the wait (long before its 10 s poll).
    const other = open(path)
    const peek = waiter.peek.bind(waiter)
    let looks = 0
    waiter.peek = async (key) => {
      const seen = await peek(key)
      if (looks++ === 0) {
        other
          .prepare(`UPDATE lockwork SET owner = 'b', fence = fence + 1, expires_at = ? WHERE key = 'k'`)
          .run(Date.now() + 30_000)
      }
      return seen
    }
    const started = performance.now()
    await waiter.waitForRelease('k', 20_000)
    expect(performance.now() - started).toBeLessThan(5_000)
    expect(looks).toBe(1)
    expect(other.prepare('SELECT owner, waited FROM lockwork WHERE key = ?').get('k')).toEqual({
      owner: 'b',
      waited: 0,
    })
  })

  it('adds the waiter flag to a lock table made before it existed, keeping its leases and fences', async () => {
    const path = file()
    const old = open(path)
    old.pragma('journal_mode = WAL')
    old.exec(`
      CREATE TABLE lockwork (key TEXT NOT NULL PRIMARY KEY, owner TEXT, fence INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE lockwork_meta (id INTEGER PRIMARY KEY CHECK (id = 1), fence_floor INTEGER NOT NULL);
      INSERT INTO lockwork_meta (id, fence_floor) VALUES (1, 3);
    `)
    old
      .prepare('INSERT INTO lockwork (key, owner, fence, expires_at) VALUES (?, ?, ?, ?)')
      .run('k', 'old', 7, Date.now() + 60_000)
    const b = backend({ path })
    const refused = await b.acquire('k', 'new', 30_000)
    expect(refused.acquired ? undefined : refused.holder).toMatchObject({ owner: 'old', fence: 7 })
    const columns = old.prepare(`SELECT name FROM pragma_table_info('lockwork')`).pluck().all()
    expect(columns).toEqual(['key', 'owner', 'fence', 'expires_at', 'waited'])
    expect(await b.release('k', 'old')).toBe(true)
    const taken = await b.acquire('k', 'new', 30_000)
    expect(taken.acquired ? taken.fence : undefined).toBe(8)
    // A statement of the earlier layout (naming its four columns) still works beside the new one.
    old
      .prepare('INSERT INTO lockwork (key, owner, fence, expires_at) VALUES (?, ?, ?, ?)')
      .run('j', 'old', 4, 0)
    const next = await b.acquire('j', 'new', 30_000)
    expect(next.acquired ? next.fence : undefined).toBe(5)
    // A second open finds the column and changes nothing.
    const again = backend({ path })
    expect((await again.peek('k'))?.fence).toBe(8)
  })
})

describe('sqlite: busy file', () => {
  it('waits out another connection’s write lock asynchronously, without stalling the event loop', async () => {
    const path = file()
    const b = backend({ path })
    await b.peek('warm-up')
    const hog = open(path)
    hog.exec('BEGIN IMMEDIATE')
    let ticks = 0
    const ticker = setInterval(() => ticks++, 10)
    setTimeout(() => hog.exec('COMMIT'), 400)
    const sqlite = trackSqliteCalls()
    const started = performance.now()
    let result: Awaited<ReturnType<LockBackend['acquire']>>
    try {
      result = await b.acquire('k', 'a', 5_000)
    } finally {
      sqlite.restore()
      clearInterval(ticker)
    }
    const waited = performance.now() - started
    expect(result.acquired).toBe(true)
    expect(waited).toBeGreaterThanOrEqual(350)
    expect(ticks).toBeGreaterThan(5) // the event loop ran timers meanwhile
    // No single SQLite call waited out the 400 ms hold (a few ms each; generous for a loaded machine).
    expect(sqlite.maxMs()).toBeLessThan(200)
  })

  it('gives up after busyRetryFor with a BackendError carrying SQLITE_BUSY, having changed nothing', async () => {
    const path = file()
    const b = backend({ path, busyRetryFor: 200 })
    await b.peek('warm-up')
    const hog = open(path)
    hog.exec('BEGIN IMMEDIATE')
    const started = performance.now()
    const error = await rejection(b.acquire('k', 'a', 5_000))
    expect(performance.now() - started).toBeGreaterThanOrEqual(190)
    hog.exec('COMMIT')
    expect(error).toBeInstanceOf(BackendError)
    expect((error as BackendError).message).toMatch('acquire')
    expect(((error as BackendError).cause as { code?: string }).code).toMatch(/^SQLITE_BUSY/)
    expect(await b.peek('k')).toBeNull()
  })

  it('reads are not blocked by a writer (WAL)', async () => {
    const path = file()
    const b = backend({ path, busyRetryFor: 100 })
    await b.acquire('k', 'a', 5_000)
    const hog = open(path)
    hog.exec('BEGIN IMMEDIATE')
    try {
      expect((await b.peek('k'))?.owner).toBe('a')
      expect(await b.getCached('c')).toBeUndefined()
    } finally {
      hog.exec('COMMIT')
    }
  })
})

describe('sqlite: lifecycle', () => {
  it('surfaces driver errors as BackendError with the cause (unopenable path)', async () => {
    const b = backend({ path: join(dir, 'missing-dir', 'x.sqlite') })
    const error = await rejection(b.acquire('k', 'a', 1_000))
    expect(error).toBeInstanceOf(BackendError)
    expect((error as BackendError).cause).toBeInstanceOf(Error)
  })

  it('does not close a caller-supplied database', async () => {
    const db = open(file())
    const b = createSqliteBackend({ database: db })
    await b.acquire('k', 'a', 1_000)
    await b.close()
    await b.close()
    expect(db.open).toBe(true)
    expect(await rejection(b.peek('k'))).toBeInstanceOf(BackendError)
  })

  it('rejects a closed supplied database with BackendError', async () => {
    const db = open(file())
    db.close()
    expect(await rejection(backend({ database: db }).peek('k'))).toBeInstanceOf(BackendError)
  })

  describe('fork safety: a connection opened in another process is not reused', () => {
    const realPid = process.pid
    const pretendForked = (): void => {
      Object.defineProperty(process, 'pid', { value: realPid + 100_000, configurable: true })
    }
    afterEach(() => {
      Object.defineProperty(process, 'pid', { value: realPid, configurable: true })
    })

    it('reopens its own file in the new process and keeps working', async () => {
      const b = backend({ path: file() })
      const got = await b.acquire('k', 'a', 30_000)
      pretendForked()
      const info = await b.peek('k')
      expect(info?.owner).toBe('a')
      expect(await b.release('k', 'a')).toBe(true)
      const again = await b.acquire('k', 'b', 30_000)
      if (!got.acquired || !again.acquired) throw new Error('expected to acquire')
      expect(again.fence).toBe(got.fence + 1)
    })

    it('refuses a supplied database opened in another process', async () => {
      const b = backend({ database: open(file()) })
      await b.peek('k')
      pretendForked()
      const error = await rejection(b.peek('k'))
      expect(error).toBeInstanceOf(BackendError)
      expect((error as Error).message).toMatch('fork')
    })
  })
})
