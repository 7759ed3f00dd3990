import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLockwork } from '@lockwork/core'
import { createSqliteBackend } from '@lockwork/sqlite'
import { kyselyStore } from '@verrou/core/drivers/kysely'
import Database from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import type { BackendSuite, PairVariant } from '../pairs.js'
import { bareVariant, lockworkVariant, TTL_MS } from './common.js'
import { verrouVariant } from './verrou.js'

/** A temporary folder for the benchmark's SQLite files, removed by the returned function. */
export function sqliteDirectory(): { readonly dir: string; readonly remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'lockwork-bench-'))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/**
 * The SQLite backend against the floor: a lease upsert and an owner-checked
 * delete with better-sqlite3 on a WAL file, `synchronous = NORMAL` (the
 * backend's default), each one statement, prepared once.
 */
export async function sqliteSuite(dir: string): Promise<BackendSuite> {
  const backend = createSqliteBackend({ path: join(dir, 'lockwork.sqlite') })
  const db = new Database(join(dir, 'raw.sqlite'), { timeout: 5 })
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec(`CREATE TABLE IF NOT EXISTS leases (
    key TEXT NOT NULL PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL
  ) WITHOUT ROWID`)
  const take = db.prepare(`INSERT INTO leases (key, owner, expires_at) VALUES (?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
    WHERE leases.expires_at <= ? RETURNING 1`)
  const free = db.prepare('DELETE FROM leases WHERE key = ? AND owner = ?')

  const raw: PairVariant = {
    id: 'raw',
    label: 'raw WAL upsert+delete',
    role: 'floor',
    async pair(key) {
      const owner = randomUUID()
      const now = Date.now()
      if (take.get(key, owner, now + TTL_MS, now) === undefined) throw new Error(`raw: ${key} is held`)
      if (free.run(key, owner).changes !== 1) throw new Error(`raw: delete of ${key} changed nothing`)
    },
  }

  // verrou's SQL store through Kysely on its own WAL file, same pragmas.
  const verrouDb = new Database(join(dir, 'verrou.sqlite'), { timeout: 5 })
  verrouDb.pragma('journal_mode = WAL')
  verrouDb.pragma('synchronous = NORMAL')
  // biome-ignore lint/suspicious/noExplicitAny: verrou's store takes an untyped Kysely
  const kysely = new Kysely<any>({ dialect: new SqliteDialect({ database: verrouDb }) })
  const verrouStore = kyselyStore({ connection: kysely }).factory()
  await verrouStore.exists('warm-up') // creates its table before timing

  return {
    variants: [
      lockworkVariant(createLockwork({ backend })),
      bareVariant(backend),
      raw,
      verrouVariant(verrouStore, 'kysely store (better-sqlite3)'),
    ],
    floorId: 'raw',
    async close() {
      await backend.close()
      db.close()
      await kysely.destroy()
    },
  }
}
