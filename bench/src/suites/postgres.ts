import { randomUUID } from 'node:crypto'
import { createLockwork, type LockBackend } from '@lockwork/core'
import { createPostgresBackend, type Durability } from '@lockwork/postgres'
import { kyselyStore } from '@verrou/core/drivers/kysely'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import type { BackendSuite, PairVariant } from '../pairs.js'
import { postgresUrl } from '../services.js'
import { bareVariant, lockworkVariant, TTL_MS } from './common.js'
import { verrouVariant } from './verrou.js'

/** The pool size of every PostgreSQL variant: pg's default, which the backend's own pool also uses. */
export const PG_POOL_SIZE = 10

/** The lease table the backend uses in this run (unique per run; dropped at the end). */
export function benchTable(runId: string): string {
  return `lockwork_bench_${runId}`
}

/** Opens a backend on the run's table with its own pool. */
export function openPostgresBackend(runId: string, durability: Durability): LockBackend {
  return createPostgresBackend({
    connectionString: postgresUrl,
    table: benchTable(runId),
    durability,
    sweepIntervalMs: 0,
  })
}

/** Drops every object the run created (the backend's tables, sequence and the floor's table). */
export async function dropPostgresObjects(runId: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl })
  await client.connect()
  try {
    const table = benchTable(runId)
    await client.query(
      `DROP TABLE IF EXISTS "${table}", "${table}_cache", "${table}_guard", "${table}_sem", "${table}_queue", "${table}_raw", "${table}_verrou" CASCADE`,
    )
    await client.query(`DROP SEQUENCE IF EXISTS "${table}_fence", "${table}_raw_fence"`)
    await client.query(`DROP FUNCTION IF EXISTS "${table}_grant"(text)`)
  } finally {
    await client.end()
  }
}

/**
 * The PostgreSQL backend (both durability modes) against its floor on a pool
 * of the same size: the bare lease table, one per commit mode. A lease with a
 * TTL and a fence must be a row the server writes, so the least it can cost
 * is an upsert that draws a fence and an owner-checked `DELETE`, on a table of
 * the backend's own shape (`LIKE … INCLUDING ALL`) and with the commit mode
 * of the backend's `'durable'` (synchronous) or `'fast'`
 * (`synchronous_commit = off` per transaction) writes. A session advisory
 * lock (`pg_try_advisory_lock` + `pg_advisory_unlock` on one checked-out
 * connection) is the table's reference column: it writes nothing (no TTL, no
 * fence, gone with its connection), so no lease can match it. Every variant
 * uses named prepared statements, as the backend does.
 */
export async function postgresSuite(runId: string): Promise<BackendSuite> {
  const durable = openPostgresBackend(runId, 'durable')
  const fast = openPostgresBackend(runId, 'fast')
  const pool = new pg.Pool({ connectionString: postgresUrl, max: PG_POOL_SIZE })
  pool.on('error', () => {})
  const raw = `"${benchTable(runId)}_raw"`
  const rawFence = `"${benchTable(runId)}_raw_fence"`
  // Create the backend's schema before timing anything; the floor's table copies the lease table's shape.
  await durable.peek('warm-up')
  await pool.query(`CREATE TABLE IF NOT EXISTS ${raw} (LIKE "${benchTable(runId)}" INCLUDING ALL)`)
  await pool.query(`CREATE SEQUENCE IF NOT EXISTS ${rawFence} AS bigint`)

  const advisory: PairVariant = {
    id: 'advisory',
    label: 'pg_try_advisory_lock + unlock',
    role: 'floor',
    async pair(key) {
      const client = await pool.connect()
      try {
        const taken = await client.query<{ ok: boolean }>({
          name: 'bench_advisory_lock',
          text: 'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok',
          values: [key],
        })
        if (taken.rows[0]?.ok !== true) throw new Error(`advisory: ${key} is held`)
        const freed = await client.query<{ ok: boolean }>({
          name: 'bench_advisory_unlock',
          text: 'SELECT pg_advisory_unlock(hashtextextended($1, 0)) AS ok',
          values: [key],
        })
        if (freed.rows[0]?.ok !== true) throw new Error(`advisory: unlock of ${key} failed`)
      } finally {
        client.release()
      }
    },
  }

  const leaseTable = (commitMode: Durability): PairVariant => {
    const name = `bench_lease_${commitMode}`
    const sc = commitMode === 'fast' ? `set_config('synchronous_commit', 'off', true)` : 'NULL::text'
    return {
      id: `lease-table-${commitMode}`,
      label: `bare lease table upsert+delete (${commitMode}: ${commitMode === 'fast' ? 'sync commit off' : 'sync commit'})`,
      role: 'floor',
      async pair(key) {
        const owner = randomUUID()
        const taken = await pool.query({
          name: `${name}_take`,
          text: `WITH c AS MATERIALIZED (SELECT ${sc} AS sc)
INSERT INTO ${raw} AS t (key, owner, fence, expires_at)
SELECT $1, $2, nextval('${rawFence}'), clock_timestamp() + $3::float8 * interval '1 millisecond' FROM c
ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, fence = excluded.fence, expires_at = excluded.expires_at
WHERE t.expires_at <= clock_timestamp() RETURNING 1`,
          values: [key, owner, TTL_MS],
        })
        if (taken.rowCount !== 1) throw new Error(`lease table: ${key} is held`)
        const freed = await pool.query({
          name: `${name}_free`,
          text: `WITH c AS MATERIALIZED (SELECT ${sc} AS sc)
DELETE FROM ${raw} t USING c WHERE t.key = $1 AND t.owner = $2`,
          values: [key, owner],
        })
        if (freed.rowCount !== 1) throw new Error(`lease table: delete of ${key} changed nothing`)
      },
    }
  }

  // verrou's SQL store through Kysely on a pool of the same size, in its own table.
  const verrouPool = new pg.Pool({ connectionString: postgresUrl, max: PG_POOL_SIZE })
  verrouPool.on('error', () => {})
  // biome-ignore lint/suspicious/noExplicitAny: verrou's store takes an untyped Kysely
  const kysely = new Kysely<any>({ dialect: new PostgresDialect({ pool: verrouPool }) })
  const verrouStore = kyselyStore({ connection: kysely, tableName: `${benchTable(runId)}_verrou` }).factory()
  await verrouStore.exists('warm-up') // creates its table before timing

  const tag = (variant: PairVariant, suffix: string, label: string): PairVariant => ({
    ...variant,
    id: `${variant.id}-${suffix}`,
    label: `${variant.label} (${label})`,
  })

  return {
    variants: [
      tag(lockworkVariant(createLockwork({ backend: durable })), 'durable', 'durable'),
      tag(lockworkVariant(createLockwork({ backend: fast })), 'fast', 'fast'),
      tag(bareVariant(durable), 'durable', 'durable'),
      tag(bareVariant(fast), 'fast', 'fast'),
      advisory,
      leaseTable('durable'),
      leaseTable('fast'),
      verrouVariant(verrouStore, 'kysely store (pg, sync commit)'),
    ],
    floorId: 'advisory',
    async close() {
      await durable.close()
      await fast.close()
      await pool.end()
      await kysely.destroy()
    },
  }
}
