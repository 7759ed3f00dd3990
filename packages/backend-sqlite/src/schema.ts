/**
 * All SQL text of the SQLite backend, in one place.
 *
 * Table names are the only values spliced into SQL; they are validated
 * against {@link TABLE_NAME_PATTERN} first. Keys, owners, times and TTLs are
 * always bound parameters.
 *
 * Three tables share one name stem (`table`, default `lockwork`):
 *
 * - `<table>`: one row per lock key. `owner` is the holder, or `NULL` once
 *   released; `fence` is the key's counter and survives release and expiry
 *   (the row is kept and marked free); `expires_at` is the lease end in
 *   `Date.now()` milliseconds, or the release time of a free row; `waited`
 *   is `1` while a waiter that watches the wake file waits for this lease's
 *   release (`0` or `-1` otherwise): only such a release writes the wake
 *   file. Files made before `waited` existed get it on first open.
 * - `<table>_cache`: the cache store behind `cached`.
 * - `<table>_meta`: one row; `fence_floor` is the highest fence ever swept
 *   away, so a key whose row was deleted restarts above every fence it had.
 *
 * The semaphore tables (`<table>_sem`, `<table>_sem_holder`) are described,
 * and their statements kept, in `semaphore-statements.ts`; {@link SqliteSchema.create}
 * creates them with the others.
 */
import { type SemaphoreSql, semaphoreSql } from './semaphore-statements.js'

/**
 * What a table name must look like: an SQL identifier of at most 48 ASCII
 * letters, digits and underscores, not starting with a digit nor with
 * `sqlite_` (reserved by SQLite).
 */
export const TABLE_NAME_PATTERN = /^(?!sqlite_)[A-Za-z_][A-Za-z0-9_]{0,47}$/i

/** The SQL statements of one table set. */
export interface SqliteSchema {
  /**
   * Creates the tables if missing (run once per connection, in a write
   * transaction). The lock table has no index on `expires_at`: keeping one
   * up to date cost a third of every acquire and release, while only the
   * periodic sweep would use it (a scan of the rows kept for `retainFreeFor`).
   */
  readonly create: string
  /**
   * Upserts a lease if the key is free, expired or already held by the same
   * owner; returns the fence. Positional parameters: key, owner, expires at,
   * now, now.
   */
  readonly acquire: string
  /** Reads the current row of a key (used in the same transaction as {@link acquire} when it fails). Parameter: key. */
  readonly holder: string
  /** Moves the expiry of a lease the owner holds and that has not expired. Parameters: expires at, key, owner, now. */
  readonly extend: string
  /**
   * The common release: marks a lease the owner holds, unexpired and not
   * flagged by a waiter, as free, keeping its fence, with its flag `0` (one
   * change), as {@link SqliteSchema.release} leaves it; else
   * changes nothing. No `RETURNING`: SQLite collects a statement's returned
   * rows in a temporary table first, which cost about a tenth of an
   * uncontended acquire + release. Parameters: now, key, owner, now.
   */
  readonly releaseUnwaited: string
  /**
   * Marks a lease the owner holds, unexpired, as free, keeping its fence, and
   * clears its waiter flag; returns `waited`, which is `-1` when a waiter was
   * flagged (the release must write the wake file), else `0`. Run when
   * {@link SqliteSchema.releaseUnwaited} changed nothing. Parameters: now,
   * key, owner, now.
   */
  readonly release: string
  /**
   * Flags that a waiter watching the wake file waits for the release of the
   * lease with this fence, if that lease still holds the key (one change);
   * else changes nothing. Parameters: key, fence, now.
   */
  readonly flagWaiter: string
  /** Whether the lock table has the `waited` column (a file made by an earlier version has not). Parameter: none. */
  readonly hasWaitedColumn: string
  /** Adds the `waited` column to a lock table made before it existed (run in the schema's write transaction). */
  readonly addWaitedColumn: string
  /** Reads the unexpired holder of a key. Parameters: key, now. */
  readonly peek: string
  /** Raises the fence floor to the highest fence about to be swept. */
  readonly raiseFenceFloor: string
  /** Deletes lock rows that have been free or expired since before the cutoff. */
  readonly sweepLocks: string
  /** Deletes expired cache entries. */
  readonly sweepCache: string
  /** Reads an unexpired cache entry. */
  readonly getCached: string
  /** Writes or overwrites a cache entry. */
  readonly setCached: string
  /** Deletes a cache entry and returns its expiry (to tell whether it was still live). */
  readonly deleteCached: string
  /** The statements of the counting semaphores. */
  readonly semaphore: SemaphoreSql
}

/** Quotes a validated identifier. */
function quote(identifier: string): string {
  return `"${identifier}"`
}

/**
 * Builds the statements for the table set named `table`. The caller must
 * have checked `table` against {@link TABLE_NAME_PATTERN}.
 */
export function sqliteSchema(table: string): SqliteSchema {
  const locks = quote(table)
  const cache = quote(`${table}_cache`)
  const meta = quote(`${table}_meta`)
  const cacheExpiresIndex = quote(`${table}_cache_expires_at`)
  const semaphore = semaphoreSql(table)

  return {
    create: `
      CREATE TABLE IF NOT EXISTS ${locks} (
        key TEXT NOT NULL PRIMARY KEY,
        owner TEXT,
        fence INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        waited INTEGER NOT NULL DEFAULT 0
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS ${cache} (
        key TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL,
        compute_ms REAL NOT NULL,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS ${cacheExpiresIndex} ON ${cache} (expires_at);
      CREATE TABLE IF NOT EXISTS ${meta} (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        fence_floor INTEGER NOT NULL
      );
      INSERT OR IGNORE INTO ${meta} (id, fence_floor) VALUES (1, 0);
      ${semaphore.create}
    `,

    // A new key starts above the fence floor. An existing row is taken when
    // it is free, expired, or already held by this owner: the same owner with
    // an unexpired lease keeps its fence (idempotent), anyone else gets fence + 1.
    // In SQLite's UPDATE every right-hand side sees the old row, so the order
    // of the assignments does not matter.
    // The lock statements take positional parameters: better-sqlite3 binding
    // them from an object by name cost 14,500 instructions per acquire +
    // release (a sixth of the pair), positionally 6,600.
    acquire: `
      INSERT INTO ${locks} (key, owner, fence, expires_at)
      VALUES (?, ?, (SELECT fence_floor FROM ${meta} WHERE id = 1) + 1, ?)
      ON CONFLICT (key) DO UPDATE SET
        fence = CASE
          WHEN ${locks}.owner = excluded.owner AND ${locks}.expires_at > ? THEN ${locks}.fence
          ELSE ${locks}.fence + 1
        END,
        owner = excluded.owner,
        expires_at = excluded.expires_at
      WHERE ${locks}.owner IS NULL OR ${locks}.expires_at <= ? OR ${locks}.owner = excluded.owner
      RETURNING fence
    `,

    holder: `SELECT owner, fence, expires_at FROM ${locks} WHERE key = ?`,

    extend: `
      UPDATE ${locks} SET expires_at = ?
      WHERE key = ? AND owner = ? AND expires_at > ?
    `,

    releaseUnwaited: `
      UPDATE ${locks} SET owner = NULL, expires_at = ?, waited = 0
      WHERE key = ? AND owner = ? AND expires_at > ? AND waited <> 1
    `,

    release: `
      UPDATE ${locks} SET owner = NULL, expires_at = ?, waited = CASE WHEN waited = 1 THEN -1 ELSE 0 END
      WHERE key = ? AND owner = ? AND expires_at > ?
      RETURNING waited
    `,

    flagWaiter: `
      UPDATE ${locks} SET waited = 1
      WHERE key = ? AND fence = ? AND owner IS NOT NULL AND expires_at > ?
    `,

    hasWaitedColumn: `SELECT 1 FROM pragma_table_info('${table}') WHERE name = 'waited'`,

    addWaitedColumn: `ALTER TABLE ${locks} ADD COLUMN waited INTEGER NOT NULL DEFAULT 0`,

    peek: `
      SELECT owner, fence, expires_at FROM ${locks}
      WHERE key = ? AND owner IS NOT NULL AND expires_at > ?
    `,

    // Unexpired held rows have expires_at > now >= cutoff, so `expires_at <=
    // @cutoff` selects only rows free or expired since before the cutoff.
    raiseFenceFloor: `
      UPDATE ${meta} SET fence_floor = MAX(
        fence_floor,
        COALESCE((SELECT MAX(fence) FROM ${locks} WHERE expires_at <= @cutoff), 0)
      )
      WHERE id = 1
    `,

    sweepLocks: `DELETE FROM ${locks} WHERE expires_at <= @cutoff`,

    sweepCache: `DELETE FROM ${cache} WHERE expires_at <= @now`,

    getCached: `
      SELECT value, compute_ms, expires_at FROM ${cache}
      WHERE key = @key AND expires_at > @now
    `,

    setCached: `
      INSERT INTO ${cache} (key, value, compute_ms, expires_at)
      VALUES (@key, @value, @computeMs, @expiresAt)
      ON CONFLICT (key) DO UPDATE SET
        value = excluded.value,
        compute_ms = excluded.compute_ms,
        expires_at = excluded.expires_at
    `,

    deleteCached: `DELETE FROM ${cache} WHERE key = @key RETURNING expires_at`,

    semaphore,
  }
}
