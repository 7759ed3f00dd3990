import { randomUUID } from 'node:crypto'
import type { AcquireResult, LockInfo } from '@lockwork/core'
import { BackendError, createLockwork, InvalidArgumentError } from '@lockwork/core'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import type { PostgresBackend, PostgresBackendOptions } from '../src/index.js'
import { createPostgresBackend, FENCE_EPOCH_GAP, postgresMigrationSql } from '../src/index.js'
import {
  adminQuery,
  databaseUrl,
  dropObjects,
  postgresAvailable,
  randomTable,
  urlWithApplicationName,
} from './postgres-available.js'

const available = await postgresAvailable()
const suite = available ? describe : describe.skip
const table = randomTable('backend')
const tables = [table]
const schemas: string[] = []
const backends: PostgresBackend[] = []
const pools: pg.Pool[] = []

afterAll(async () => {
  await Promise.allSettled(backends.map((b) => b.close()))
  await Promise.allSettled(pools.map((p) => p.end()))
  if (!available) return
  for (const t of tables) await dropObjects(t)
  for (const s of schemas) await adminQuery(`DROP SCHEMA IF EXISTS "${s}" CASCADE`)
})

function make(options: Partial<PostgresBackendOptions> = {}): PostgresBackend {
  const backend = createPostgresBackend({
    ...(options.pool === undefined ? { connectionString: databaseUrl, poolConfig: { max: 3 } } : {}),
    table,
    ...options,
  })
  backends.push(backend)
  return backend
}

function newPool(config: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, keepAlive: true, ...config })
  pools.push(pool)
  return pool
}

const key = (label: string) => `pg-test:${randomUUID().slice(0, 8)}:${label}`
const owner = () => randomUUID()
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

function won(result: AcquireResult): { fence: number } {
  if (!result.acquired) throw new Error(`expected to acquire, but ${result.holder.owner} holds it`)
  return result
}
function lost(result: AcquireResult): LockInfo {
  if (result.acquired) throw new Error('expected the key to be held')
  return result.holder
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

/** Polls `check` until it returns true or `ms` pass. */
async function eventually(check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await delay(20)
  }
}

describe('options', () => {
  it('rejects bad names and option mixes with InvalidArgumentError', () => {
    const bad: PostgresBackendOptions[] = [
      { connectionString: databaseUrl, table: 'bad-name' },
      { connectionString: databaseUrl, table: 'x"; DROP TABLE y; --' },
      { connectionString: databaseUrl, table: 'a'.repeat(58) },
      { connectionString: databaseUrl, schema: '1abc' },
      { connectionString: databaseUrl, schema: '' },
      {},
      { connectionString: databaseUrl, pool: new pg.Pool() },
      { connectionString: databaseUrl, durability: 'fastest' as 'fast' },
      { connectionString: databaseUrl, sweepIntervalMs: -1 },
      { pool: new pg.Pool(), poolConfig: { max: 1 } },
    ]
    for (const options of bad) expect(() => createPostgresBackend(options)).toThrow(InvalidArgumentError)
  })

  it('exports idempotent migration SQL with quoted names', () => {
    const sql = postgresMigrationSql({ schema: 'locks', table: 'Leases' })
    expect(sql).toContain('CREATE SCHEMA IF NOT EXISTS "locks"')
    expect(sql).toContain('CREATE TABLE IF NOT EXISTS "locks"."Leases" (')
    expect(sql).toContain('CREATE TABLE IF NOT EXISTS "locks"."Leases_cache" (')
    expect(sql).toContain('CREATE SEQUENCE IF NOT EXISTS "locks"."Leases_fence"')
    expect(sql).toContain('CREATE UNLOGGED TABLE IF NOT EXISTS "locks"."Leases_guard" (')
    expect(postgresMigrationSql()).not.toContain('CREATE SCHEMA')
  })
})

suite('schema', () => {
  it('runs on objects made by the migration SQL (twice) with createSchema: false, in a custom schema', async () => {
    const schema = randomTable('schema')
    schemas.push(schema)
    const sql = postgresMigrationSql({ schema, table: 'MixedCase' })
    await adminQuery(sql)
    await adminQuery(sql)
    const b = make({ schema, table: 'MixedCase', createSchema: false })
    const a = owner()
    const k = key('custom')
    won(await b.acquire(k, a, 5_000))
    const rows = await adminQuery<{ owner: string }>(
      `SELECT owner FROM "${schema}"."MixedCase" WHERE key = $1`,
      [k],
    )
    expect(rows[0]?.owner).toBe(a)
  })

  it('with createSchema: false and no table, fails with a BackendError carrying the cause', async () => {
    const b = make({ table: randomTable('missing'), createSchema: false })
    const error = await rejection(b.acquire(key('missing'), owner(), 1_000))
    expect(error).toBeInstanceOf(BackendError)
    expect(((error as BackendError).cause as { code?: string }).code).toBe('42P01') // undefined_table
  })

  it('creates the objects once under concurrent first use by many instances', async () => {
    const fresh = randomTable('first_use')
    tables.push(fresh)
    const many = Array.from({ length: 8 }, () => make({ table: fresh }))
    const results = await Promise.all(many.map((b, i) => b.acquire(key(`first-${i}`), owner(), 5_000)))
    expect(results.every((r) => r.acquired)).toBe(true)
  })
})

suite('leases', () => {
  it('takes one statement per acquire, extend, release and peek, and a second one for a refusal (with the holder)', async () => {
    const pool = newPool()
    const b = make({ pool })
    const k = key('one-statement')
    const a = owner()
    const warm = owner()
    won(await b.acquire(k, warm, 5_000)) // creates the schema and the guard row
    await b.release(k, warm)
    let statements = 0
    const query = pool.query.bind(pool)
    pool.query = ((...args: Parameters<typeof query>) => {
      statements++
      return query(...args)
    }) as typeof pool.query
    const count = async (call: () => Promise<unknown>) => {
      statements = 0
      await call()
      return statements
    }
    expect(await count(() => b.acquire(k, a, 5_000))).toBe(1)
    expect(await count(async () => expect(lost(await b.acquire(k, owner(), 5_000)).owner).toBe(a))).toBe(2)
    expect(await count(() => b.extend(k, a, 5_000))).toBe(1)
    expect(await count(() => b.peek(k))).toBe(1)
    expect(await count(() => b.release(k, a))).toBe(1)
  })

  it('keeps fences strictly increasing across release, expiry and the sweeper deleting the row', async () => {
    const b = make()
    const other = make()
    const k = key('fences')
    const fences: number[] = []
    const a = owner()
    fences.push(won(await b.acquire(k, a, 5_000)).fence)
    await b.release(k, a)
    expect((await b.sweep()).leases).toBeGreaterThanOrEqual(1)
    expect(await adminQuery(`SELECT 1 FROM "${table}" WHERE key = $1`, [k])).toEqual([])
    fences.push(won(await other.acquire(k, owner(), 100)).fence)
    await delay(300)
    fences.push(won(await b.acquire(k, owner(), 100)).fence)
    await delay(300)
    await other.sweep()
    fences.push(won(await other.acquire(k, owner(), 5_000)).fence)
    for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1] ?? 0)
  })

  it('after a crash (the unlogged guard row gone) jumps fences past anything the crash could have lost, once', async () => {
    const b = make()
    const c = make({ durability: 'fast' })
    const k = key('guard')
    const a = owner()
    const before = won(await b.acquire(k, a, 5_000)).fence
    await b.release(k, a)
    // What crash recovery, a promoted standby or a restored backup do to an unlogged table:
    await adminQuery(`TRUNCATE "${table}_guard"`)
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? b : c).acquire(key(`guard-${i}`), owner(), 5_000)),
    )
    const after = results.map((r) => won(r).fence)
    expect(Math.min(...after)).toBeGreaterThanOrEqual(before + FENCE_EPOCH_GAP)
    expect(Math.max(...after) - Math.min(...after)).toBeLessThan(FENCE_EPOCH_GAP)
    expect(won(await c.acquire(k, owner(), 5_000)).fence).toBeGreaterThan(Math.max(...after))
  })

  it("works in 'fast' mode and without prepared statements (for poolers that lack them)", async () => {
    for (const options of [{ durability: 'fast' as const }, { preparedStatements: false }]) {
      const b = make(options)
      const k = key('modes')
      const a = owner()
      const first = won(await b.acquire(k, a, 5_000)).fence
      expect(won(await b.acquire(k, a, 5_000)).fence).toBe(first)
      expect(lost(await make(options).acquire(k, owner(), 5_000)).owner).toBe(a)
      expect(await b.extend(k, a, 5_000)).toBe(true)
      expect(await b.release(k, a)).toBe(true)
      expect(await b.peek(k)).toBeNull()
    }
  })

  it('the sweeper timer deletes released and expired leases and expired cache entries', async () => {
    const b = make({ sweepIntervalMs: 100 })
    const k = key('sweep')
    const a = owner()
    won(await b.acquire(k, a, 5_000))
    await b.release(k, a)
    await b.setCached(k, { value: 'v', computeMs: 1 }, 50)
    const live = key('live')
    won(await b.acquire(live, owner(), 60_000))
    const count = async (suffix: string, k2: string) =>
      (await adminQuery(`SELECT 1 FROM "${table}${suffix}" WHERE key = $1`, [k2])).length
    await eventually(async () => (await count('', k)) === 0 && (await count('_cache', k)) === 0, 10_000)
    expect(await count('', live)).toBe(1)
  })
})

suite('cache store', () => {
  it('stores value and compute time with a remaining lifetime, expires, deletes', async () => {
    const b = make()
    const k = key('cache')
    expect(await b.getCached(k)).toBeUndefined()
    await b.setCached(k, { value: '{"a":"é"}', computeMs: 12.5 }, 5_000)
    const got = await make().getCached(k)
    expect(got?.value).toBe('{"a":"é"}')
    expect(got?.computeMs).toBe(12.5)
    expect(got?.remainingMs).toBeGreaterThan(3_000)
    expect(got?.remainingMs).toBeLessThanOrEqual(5_000)
    expect(await b.deleteCached(k)).toBe(true)
    expect(await b.deleteCached(k)).toBe(false)
    await b.setCached(k, { value: 'short', computeMs: 0 }, 100)
    await delay(300)
    expect(await b.getCached(k)).toBeUndefined()
    expect(await b.deleteCached(k)).toBe(false)
  })
})

suite('wake-on-release (LISTEN/NOTIFY)', () => {
  it('wakes a waiter within a few ms of the release: a notification, not a poll', async () => {
    const holder = make()
    const waiterBackend = make()
    const lw = createLockwork({ backend: waiterBackend })
    const k = key('notify')
    const a = owner()
    won(await holder.acquire(k, a, 60_000))
    let acquiredAt = 0
    const waiting = lw.acquire(k, { ttl: '10s', wait: '30s' }).then((lock) => {
      acquiredAt = performance.now()
      return lock
    })
    await eventually(() => waiterBackend.listenerProcessId !== undefined)
    await delay(300) // the waiter is parked in waitForRelease now
    const releasedAt = performance.now()
    expect(await holder.release(k, a)).toBe(true)
    const lock = await waiting
    // Typically 2–5 ms; the holder had 60 s left and a listener-less wait would poll every 200 ms.
    expect(acquiredAt - releasedAt).toBeLessThan(150)
    await lock.release()
  })

  it('wakes every waiter of a key, also those that found the lease already marked as waited on', async () => {
    const holder = make()
    const waiters = [make(), make(), make()]
    const k = key('many-waiters')
    const a = owner()
    won(await holder.acquire(k, a, 60_000))
    const waits = waiters.map((w) => w.waitForRelease(k, 30_000))
    await eventually(() => waiters.every((w) => w.listenerProcessId !== undefined))
    await delay(300)
    const marked = await adminQuery<{ waiters: boolean }>(`SELECT waiters FROM "${table}" WHERE key = $1`, [
      k,
    ])
    expect(marked[0]?.waiters).toBe(true)
    const releasedAt = performance.now()
    await holder.release(k, a)
    await Promise.all(waits)
    expect(performance.now() - releasedAt).toBeLessThan(300)
  })

  it('wakes for the longest key (640 three-byte characters: a 1,920-byte payload)', async () => {
    const holder = make()
    const waiter = make()
    const k = '€'.repeat(640)
    const a = owner()
    won(await holder.acquire(k, a, 60_000))
    const waited = waiter.waitForRelease(k, 30_000)
    await eventually(() => waiter.listenerProcessId !== undefined)
    await delay(200)
    const releasedAt = performance.now()
    await holder.release(k, a)
    await waited
    expect(performance.now() - releasedAt).toBeLessThan(150)
  })

  it('resolves at once for a free key, at the holder’s expiry, on timeout and on abort', async () => {
    const b = make()
    const k = key('bounds')
    let start = performance.now()
    await b.waitForRelease(k, 30_000)
    expect(performance.now() - start).toBeLessThan(1_000)

    won(await b.acquire(k, owner(), 600))
    start = performance.now()
    await b.waitForRelease(k, 30_000) // no NOTIFY on expiry: bounded by the remaining lease
    const waited = performance.now() - start
    expect(waited).toBeGreaterThan(300)
    expect(waited).toBeLessThan(2_500)

    won(await b.acquire(k, owner(), 60_000))
    start = performance.now()
    await b.waitForRelease(k, 300)
    expect(performance.now() - start).toBeLessThan(2_000)

    const controller = new AbortController()
    setTimeout(() => controller.abort(), 200)
    start = performance.now()
    await b.waitForRelease(k, 30_000, controller.signal)
    expect(performance.now() - start).toBeLessThan(2_000)
    start = performance.now()
    await b.waitForRelease(k, 30_000, controller.signal) // already aborted
    expect(performance.now() - start).toBeLessThan(50)
  })

  it('pg_terminate_backend on the listener mid-wait: the waiter still acquires after the release', async () => {
    const holder = make()
    const waiterBackend = make()
    const lw = createLockwork({ backend: waiterBackend })
    for (const releaseWhileDown of [false, true]) {
      const k = key(`listener-killed-${releaseWhileDown}`)
      const a = owner()
      won(await holder.acquire(k, a, 60_000))
      const waiting = lw.acquire(k, { ttl: '10s', wait: '30s' })
      await eventually(() => waiterBackend.listenerProcessId !== undefined)
      await delay(300)
      const pid = waiterBackend.listenerProcessId
      await adminQuery('SELECT pg_terminate_backend($1)', [pid])
      if (!releaseWhileDown) {
        // Released after the listener came back (a new connection, LISTEN again).
        await eventually(() => (waiterBackend.listenerProcessId ?? pid) !== pid)
        await delay(200)
      }
      const releasedAt = performance.now()
      await holder.release(k, a)
      const lock = await waiting
      expect(performance.now() - releasedAt).toBeLessThan(5_000)
      expect(lock.fence).toBeGreaterThan(0)
      await lock.release()
    }
  })

  it('close() resolves pending waits', async () => {
    const holder = make()
    const b = make()
    const k = key('close-wait')
    won(await holder.acquire(k, owner(), 60_000))
    const waited = b.waitForRelease(k, 30_000)
    await delay(200)
    const start = performance.now()
    await b.close()
    await waited
    expect(performance.now() - start).toBeLessThan(2_000)
    expect(await rejection(b.waitForRelease(k, 1_000))).toBeInstanceOf(BackendError)
  })
})

suite('connections', () => {
  it('recovers after pg_terminate_backend on every pool connection', async () => {
    const app = `lw_test_${randomUUID().slice(0, 8)}`
    const b = make({ connectionString: urlWithApplicationName(app) })
    const k = key('terminated')
    await Promise.all(Array.from({ length: 5 }, () => b.peek(k))) // several pooled connections
    const killed = await adminQuery(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
      [app],
    )
    expect(killed.length).toBeGreaterThan(0)
    const a = owner()
    won(await b.acquire(k, a, 5_000))
    expect((await b.peek(k))?.owner).toBe(a)
    expect(await b.release(k, a)).toBe(true)
  })

  it('a caller-supplied pool survives idle-connection errors and stays open after close()', async () => {
    const app = `lw_test_${randomUUID().slice(0, 8)}`
    const pool = newPool({ application_name: app })
    const listeners = pool.listenerCount('error')
    const b = make({ pool })
    await Promise.all(Array.from({ length: 3 }, () => b.peek(key('own-pool'))))
    await adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [
      app,
    ])
    await delay(200) // the idle clients' errors arrive; without a listener they would crash the process
    expect(await b.peek(key('own-pool'))).toBeNull()
    await b.close()
    expect(pool.listenerCount('error')).toBe(listeners)
    expect((await pool.query('SELECT 1 AS one')).rows[0]?.one).toBe(1)
  })

  it('ends the pool and listener it created on close()', async () => {
    const app = `lw_test_${randomUUID().slice(0, 8)}`
    const b = make({ connectionString: urlWithApplicationName(app) })
    const holder = make()
    const k = key('own-close')
    won(await holder.acquire(k, owner(), 60_000))
    void b.waitForRelease(k, 30_000)
    await eventually(() => b.listenerProcessId !== undefined)
    await b.close()
    const count = async () =>
      (await adminQuery('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [app])).length
    await eventually(async () => (await count()) === 0)
  })

  it('an unreachable server is a BackendError with the cause; waits still resolve', async () => {
    const b = make({ connectionString: 'postgres://postgres@127.0.0.1:1/test' })
    const error = await rejection(b.acquire(key('down'), owner(), 1_000))
    expect(error).toBeInstanceOf(BackendError)
    expect((error as BackendError).cause).toBeInstanceOf(Error)
    const start = performance.now()
    await b.waitForRelease(key('down'), 10_000)
    expect(performance.now() - start).toBeLessThan(2_000)
  })
})
