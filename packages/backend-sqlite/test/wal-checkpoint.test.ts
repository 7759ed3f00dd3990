import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSqliteBackend, type SqliteBackend } from '../src/index.js'

/**
 * The write-ahead log must not grow without bound: SQLite checkpoints it into
 * the database file once it passes 1,000 pages (about 4 MB), then reuses it.
 * A statement with `RETURNING` that is read with `get()` is not stepped to
 * its end; two such statements on one connection kept every automatic
 * checkpoint from completing, so the log grew by about 8 KB per acquire +
 * release (165 MB after 20,000 pairs, the database file still 4 KB) and
 * every call slowed down as it grew.
 */
const WAL_BOUND_BYTES = 8 * 1024 * 1024

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lockwork-sqlite-wal-'))
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

/** The size of the log and of the database file while `backend` is open. */
function sizes(path: string): { readonly wal: number; readonly database: number } {
  return { wal: statSync(`${path}-wal`).size, database: statSync(path).size }
}

async function withBackend(name: string, body: (backend: SqliteBackend, path: string) => Promise<void>) {
  const path = join(dir, `${name}.sqlite`)
  const backend = createSqliteBackend({ path })
  try {
    await body(backend, path)
  } finally {
    await backend.close()
  }
}

describe('sqlite: the write-ahead log is checkpointed and stays bounded', () => {
  it('6,000 lock acquire + release pairs', async () => {
    await withBackend('locks', async (backend, path) => {
      for (let i = 0; i < 6_000; i++) {
        const key = `k${i % 500}`
        const owner = `o${i}`
        expect((await backend.acquire(key, owner, 30_000)).acquired).toBe(true)
        expect(await backend.release(key, owner)).toBe(true)
      }
      const { wal, database } = sizes(path)
      expect(wal, `log ${wal} bytes, database file ${database} bytes`).toBeLessThan(WAL_BOUND_BYTES)
      expect(database).toBeGreaterThan(4_096)
    })
  })

  it('3,000 semaphore acquire + release pairs, interleaved with lock pairs', async () => {
    await withBackend('permits', async (backend, path) => {
      for (let i = 0; i < 3_000; i++) {
        const key = `s${i % 200}`
        const owner = `o${i}`
        expect((await backend.acquirePermits!(key, owner, 1, 2, 30_000)).acquired).toBe(true)
        expect((await backend.acquire(key, owner, 30_000)).acquired).toBe(true)
        expect(await backend.extendPermits!(key, owner, 30_000)).toBe(true)
        expect(await backend.releasePermits!(key, owner)).toBe(true)
        expect(await backend.release(key, owner)).toBe(true)
      }
      const { wal, database } = sizes(path)
      expect(wal, `log ${wal} bytes, database file ${database} bytes`).toBeLessThan(WAL_BOUND_BYTES)
    })
  })

  it('3,000 cache writes and deletes, interleaved with lock pairs', async () => {
    await withBackend('cache', async (backend, path) => {
      for (let i = 0; i < 3_000; i++) {
        const key = `c${i % 200}`
        const owner = `o${i}`
        await backend.setCached(key, { value: `v${i}`, computeMs: 1 }, 30_000)
        expect((await backend.acquire(key, owner, 30_000)).acquired).toBe(true)
        expect(await backend.deleteCached(key)).toBe(true)
        expect(await backend.release(key, owner)).toBe(true)
      }
      const { wal, database } = sizes(path)
      expect(wal, `log ${wal} bytes, database file ${database} bytes`).toBeLessThan(WAL_BOUND_BYTES)
    })
  })
})
