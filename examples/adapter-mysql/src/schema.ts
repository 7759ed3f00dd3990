/**
 * Every SQL statement the MySQL/MariaDB adapter sends for locks and the
 * cache, in one place (the semaphores' are in `semaphore-statements.ts`).
 * Keys, owners, values and durations are always `?` parameters; only the
 * table names (checked against {@link TABLE_PREFIX}) are part of the text.
 */

import { semaphoreStatements } from './semaphore-statements.js'
import { NOW_MS } from './server-clock.js'

/** What a table prefix may look like: it becomes part of four table names. */
export const TABLE_PREFIX = /^[A-Za-z_][A-Za-z0-9_]{0,50}$/

/** The table names for a prefix: locks, cache, and the two semaphore tables. */
export function tableNames(prefix: string): {
  readonly locks: string
  readonly cache: string
  readonly semaphores: string
  readonly holders: string
} {
  if (!TABLE_PREFIX.test(prefix))
    throw new TypeError(`table prefix must match ${TABLE_PREFIX}, got "${prefix}"`)
  return {
    locks: `${prefix}_locks`,
    cache: `${prefix}_cache`,
    semaphores: `${prefix}_sem`,
    holders: `${prefix}_sem_holders`,
  }
}

/** The statements for one table prefix. */
export function statements(prefix: string) {
  const { locks, cache, semaphores, holders } = tableNames(prefix)
  const semaphore = semaphoreStatements(semaphores, holders)
  return {
    /**
     * One row per key ever locked, kept after release so the fence never goes
     * back. Keys are hashed (SHA-256) into a fixed 32-byte primary key: a key
     * may be up to 640 UTF-16 units (≈ 2,560 bytes in utf8mb4), close to
     * InnoDB's 3,072-byte index limit, and a binary hash is case-sensitive by
     * nature. The key itself is stored too, for people reading the table.
     * A free row has `owner` NULL and `expires_ms` 0.
     */
    createLocks: `CREATE TABLE IF NOT EXISTS \`${locks}\` (
  key_hash BINARY(32) NOT NULL,
  lock_key TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  owner VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  fence BIGINT UNSIGNED NOT NULL,
  expires_ms BIGINT NOT NULL,
  PRIMARY KEY (key_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,

    createCache: `CREATE TABLE IF NOT EXISTS \`${cache}\` (
  key_hash BINARY(32) NOT NULL,
  cache_key TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  value LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  compute_ms DOUBLE NOT NULL,
  expires_ms BIGINT NOT NULL,
  PRIMARY KEY (key_hash),
  KEY expires (expires_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,

    /**
     * Takes the key if it is free or expired (fence + 1), or refreshes it for
     * the same owner (same fence); otherwise changes nothing. One atomic
     * statement: InnoDB locks the row, so of concurrent calls exactly one
     * takes a free key.
     *
     * The assignments are ordered so they give the same result whether the
     * server evaluates them left to right (MySQL, MariaDB by default: later
     * ones see earlier results) or simultaneously (MariaDB's
     * SIMULTANEOUS_ASSIGNMENT mode): `fence` and `owner` read only columns
     * not yet assigned, and `expires_ms` reads `owner`, which is the new
     * owner after the `owner` assignment exactly when the key was free or
     * already the caller's.
     *
     * Parameters: key_hash, key, owner, ttl, owner, owner, owner, ttl.
     */
    acquire: `INSERT INTO \`${locks}\` (key_hash, lock_key, owner, fence, expires_ms)
VALUES (?, ?, ?, 1, ${NOW_MS} + ?)
ON DUPLICATE KEY UPDATE
  fence = IF(expires_ms <= ${NOW_MS}, fence + 1, fence),
  owner = IF(expires_ms <= ${NOW_MS} OR owner = ?, ?, owner),
  expires_ms = IF(expires_ms <= ${NOW_MS} OR owner = ?, ${NOW_MS} + ?, expires_ms)`,

    /** The row after `acquire`, read under the row lock `acquire` took. Parameters: key_hash. */
    afterAcquire: `SELECT owner, fence, expires_ms - ${NOW_MS} AS remaining_ms
FROM \`${locks}\` WHERE key_hash = ? FOR UPDATE`,

    /** Parameters: ttl, key_hash, owner. One row matched = extended. */
    extend: `UPDATE \`${locks}\` SET expires_ms = ${NOW_MS} + ?
WHERE key_hash = ? AND owner = ? AND expires_ms > ${NOW_MS}`,

    /** Frees the key but keeps the row (and its fence). Parameters: key_hash, owner. */
    release: `UPDATE \`${locks}\` SET owner = NULL, expires_ms = 0
WHERE key_hash = ? AND owner = ? AND expires_ms > ${NOW_MS}`,

    /** Parameters: key_hash. */
    peek: `SELECT owner, fence, expires_ms - ${NOW_MS} AS remaining_ms
FROM \`${locks}\` WHERE key_hash = ? AND expires_ms > ${NOW_MS}`,

    /** Parameters: key_hash. */
    getCached: `SELECT value, compute_ms, expires_ms - ${NOW_MS} AS remaining_ms
FROM \`${cache}\` WHERE key_hash = ? AND expires_ms > ${NOW_MS}`,

    /** Parameters: key_hash, key, value, compute_ms, ttl. */
    setCached: `REPLACE INTO \`${cache}\` (key_hash, cache_key, value, compute_ms, expires_ms)
VALUES (?, ?, ?, ?, ${NOW_MS} + ?)`,

    /** Deletes an unexpired entry (expired ones count as gone; the sweep removes them). Parameters: key_hash. */
    deleteCached: `DELETE FROM \`${cache}\` WHERE key_hash = ? AND expires_ms > ${NOW_MS}`,

    /** Removes expired cache entries, a batch at a time. */
    sweepCache: `DELETE FROM \`${cache}\` WHERE expires_ms <= ${NOW_MS} LIMIT 1000`,

    /** The semaphore statements (see `semaphore-statements.ts`). */
    semaphore,

    /** Drops every table (tests and teardown only). */
    drop: [`DROP TABLE IF EXISTS \`${locks}\``, `DROP TABLE IF EXISTS \`${cache}\``, ...semaphore.drop],
  } as const
}

/** The statements for one table prefix, as {@link statements} returns them. */
export type Statements = ReturnType<typeof statements>
