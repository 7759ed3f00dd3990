/**
 * The counting semaphores of the MySQL/MariaDB adapter: their SQL and the
 * transaction that takes permits. Keys, owners and numbers are always `?`
 * parameters; only the table names (checked in `schema.ts`) are in the text.
 *
 * Two tables:
 *
 * - `<table>_sem`: one row per semaphore: the key (hashed, as in the lock
 *   table), and `fence`, the semaphore's own counter. The row is kept
 *   forever, like a lock row, so a fence is never handed out twice, also
 *   after every holder has expired.
 * - `<table>_sem_holders`: one row per holder: `(key_hash, owner)`, its
 *   `permits`, the `fence` it got and `expires_ms` on the server's clock.
 *   Released holders are deleted; expired ones are ignored and deleted by
 *   the next acquire of the key.
 */
import type { PermitAcquireResult, PermitHolder, PermitHolders } from '@lockwork/core'
import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise'
import { NOW_MS } from './server-clock.js'

/** The semaphore statements for the two table names. */
export function semaphoreStatements(sem: string, holders: string) {
  return {
    createSemaphores: `CREATE TABLE IF NOT EXISTS \`${sem}\` (
  key_hash BINARY(32) NOT NULL,
  sem_key TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  fence BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (key_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,

    createHolders: `CREATE TABLE IF NOT EXISTS \`${holders}\` (
  key_hash BINARY(32) NOT NULL,
  owner VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  permits INT UNSIGNED NOT NULL,
  fence BIGINT UNSIGNED NOT NULL,
  expires_ms BIGINT NOT NULL,
  PRIMARY KEY (key_hash, owner)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,

    /**
     * Creates the semaphore's row if missing and takes its row lock for the
     * rest of the transaction: every acquire of one semaphore goes through
     * here first, so they take turns. Parameters: key_hash, key.
     */
    lockSemaphore: `INSERT INTO \`${sem}\` (key_hash, sem_key, fence) VALUES (?, ?, 0)
ON DUPLICATE KEY UPDATE fence = fence`,

    /** The server's clock, read once per acquire, after the lock is granted. */
    now: `SELECT ${NOW_MS} AS now_ms`,

    /**
     * Every holder row of a key. A plain read, so it takes no gap locks (which
     * would deadlock acquires of neighbouring keys): its snapshot is taken
     * after `lockSemaphore` was granted, so it sees every holder another
     * acquire added. A release committed after it is counted still (a
     * refusal, never an overshoot). Parameters: key_hash.
     */
    holders: `SELECT owner, permits, fence, expires_ms FROM \`${holders}\` WHERE key_hash = ?`,

    /** Parameters: expires_ms, key_hash, owner. */
    refresh: `UPDATE \`${holders}\` SET expires_ms = ? WHERE key_hash = ? AND owner = ?`,

    /** Parameters: key_hash, now_ms. */
    dropExpired: `DELETE FROM \`${holders}\` WHERE key_hash = ? AND expires_ms <= ?`,

    /** Raises the counter; the new value comes back as the result's `insertId`. Parameters: key_hash. */
    nextFence: `UPDATE \`${sem}\` SET fence = LAST_INSERT_ID(fence + 1) WHERE key_hash = ?`,

    /** Parameters: key_hash, owner, permits, fence, expires_ms. */
    addHolder: `INSERT INTO \`${holders}\` (key_hash, owner, permits, fence, expires_ms) VALUES (?, ?, ?, ?, ?)`,

    /** Parameters: ttl, key_hash, owner. One row matched = extended. */
    extendPermits: `UPDATE \`${holders}\` SET expires_ms = ${NOW_MS} + ?
WHERE key_hash = ? AND owner = ? AND expires_ms > ${NOW_MS}`,

    /** Parameters: key_hash, owner. One row deleted = released. */
    releasePermits: `DELETE FROM \`${holders}\` WHERE key_hash = ? AND owner = ? AND expires_ms > ${NOW_MS}`,

    /** Parameters: key_hash. */
    peekPermits: `SELECT owner, permits, fence, expires_ms - ${NOW_MS} AS remaining_ms
FROM \`${holders}\` WHERE key_hash = ? AND expires_ms > ${NOW_MS}`,

    drop: [`DROP TABLE IF EXISTS \`${sem}\``, `DROP TABLE IF EXISTS \`${holders}\``],
  } as const
}

/** The statements {@link semaphoreStatements} returns. */
export type SemaphoreStatements = ReturnType<typeof semaphoreStatements>

interface HolderRow extends RowDataPacket {
  owner: string
  permits: number
  fence: number | string
  expires_ms: number | string
  remaining_ms?: number | string
}

/**
 * One attempt to take `permits` of the semaphore `keyHash`, inside the
 * caller's transaction on `connection`. The semaphore row's lock makes the
 * count of permits in use and the new holder one step for every other
 * acquirer of the semaphore.
 */
export async function acquirePermitsIn(
  connection: PoolConnection,
  sql: SemaphoreStatements,
  keyHash: Buffer,
  key: string,
  owner: string,
  permits: number,
  limit: number,
  ttlMs: number,
): Promise<PermitAcquireResult> {
  await connection.execute(sql.lockSemaphore, [keyHash, key])

  const [[clock]] = await connection.execute<RowDataPacket[]>(sql.now)
  const now = Number(clock?.now_ms)
  const [rows] = await connection.execute<HolderRow[]>(sql.holders, [keyHash])
  const live = rows.filter((row) => Number(row.expires_ms) > now)
  const mine = live.find((row) => row.owner === owner)
  if (mine) {
    await connection.execute(sql.refresh, [now + ttlMs, keyHash, owner])
    return { acquired: true, fence: Number(mine.fence), ttlMs }
  }
  const inUse = live.reduce((sum, row) => sum + row.permits, 0)
  if (inUse + permits > limit) {
    return { acquired: false, holders: toHolders(live, (row) => Number(row.expires_ms) - now) }
  }
  if (live.length < rows.length) await connection.execute(sql.dropExpired, [keyHash, now])
  const [raised] = await connection.execute<ResultSetHeader>(sql.nextFence, [keyHash])
  const fence = raised.insertId
  await connection.execute(sql.addHolder, [keyHash, owner, permits, fence, now + ttlMs])
  return { acquired: true, fence, ttlMs }
}

/** Holder rows as the contract's {@link PermitHolders}. */
export function toHolders(
  rows: readonly HolderRow[],
  remainingMs: (row: HolderRow) => number = (row) => Number(row.remaining_ms),
): PermitHolders {
  const holders = rows.map(
    (row): PermitHolder => ({
      owner: row.owner,
      permits: row.permits,
      fence: Number(row.fence),
      remainingMs: Math.max(0, remainingMs(row)),
    }),
  )
  return { inUse: holders.reduce((sum, holder) => sum + holder.permits, 0), holders }
}

export type { HolderRow }
