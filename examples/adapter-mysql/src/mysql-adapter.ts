/**
 * The adapter module `lockwork-conformance` loads:
 *
 * ```sh
 * npx lockwork-conformance ./src/mysql-adapter.ts
 * ```
 *
 * Connects to `MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`). Each
 * run uses its own set of tables, created on first use and dropped in
 * `teardown`, unless `MYSQL_TABLE` names tables to keep.
 */
import { randomUUID } from 'node:crypto'
import type { LockBackend } from '@lockwork/core'
import { createConnection } from 'mysql2/promise'
import { createMysqlBackend } from './mysql-backend.js'
import { statements } from './schema.js'

const uri = process.env.MYSQL_URL || 'mysql://root@127.0.0.1:3306/test'
const keep = process.env.MYSQL_TABLE
const table = keep || `lwc_${randomUUID().slice(0, 8)}`

/** The name shown in the results. */
export const name = 'mysql'

/** Separate instances are separate pools over one database, like separate processes; no wake-on-release (nor waitForPermits). */
export const capabilities = { sharedAcrossInstances: true, waitForRelease: false }

/** A new backend with its own connection pool over the same tables. */
export function createBackend(): LockBackend {
  return createMysqlBackend({ uri, table, connectionLimit: 4 })
}

/** Drops this run's tables (after every instance is closed). */
export async function teardown(): Promise<void> {
  if (keep) return
  const connection = await createConnection(uri)
  try {
    for (const sql of statements(table).drop) await connection.query(sql)
  } finally {
    await connection.end()
  }
}
