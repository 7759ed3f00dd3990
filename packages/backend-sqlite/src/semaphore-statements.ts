/**
 * The counting semaphores of the SQLite backend: their SQL and the
 * transactions built from it.
 *
 * Two tables share the backend's name stem (`table`, default `lockwork`):
 *
 * - `<table>_sem`: one row per semaphore key. `fence` is the semaphore's
 *   counter (one per semaphore, raised on every new acquisition);
 *   `acquired_at` is the time of the last one, in `Date.now()` milliseconds.
 *   A row idle for `retainFreeFor` is swept after the per-file fence floor
 *   (in `<table>_meta`, shared with the locks) has been raised to its fence,
 *   so a semaphore whose row is gone restarts above every fence it gave out.
 * - `<table>_sem_holder`: one row per holder: `(key, owner)`, its `permits`,
 *   the `fence` its acquisition got and `expires_at`. Released holders are
 *   deleted; expired ones are ignored and deleted by the next acquire of the
 *   key or by the sweep.
 *
 * Keys are `TEXT` compared with SQLite's default `BINARY` collation, as in
 * the lock table: no case folding, no Unicode normalisation, trailing spaces
 * significant. Keys, owners, counts and times are bound parameters; only the
 * validated table name is spliced.
 */
import type { PermitAcquireResult, PermitHolder, PermitHolders } from '@lockwork/core'
import type { Database } from './driver-types.js'
import { returningRow } from './returning-row.js'

/** The SQL of the semaphore tables for one name stem. */
export interface SemaphoreSql {
  /** Creates both tables if missing (part of the schema creation). */
  readonly create: string
  /** Deletes the expired holders of one key. */
  readonly dropExpired: string
  /** Refreshes an unexpired holder's expiry; returns its fence (the idempotent re-acquire). */
  readonly refresh: string
  /** The permits in use by the unexpired holders of a key. */
  readonly inUse: string
  /** Raises (or creates, above the fence floor) the semaphore's counter; returns the new fence. */
  readonly nextFence: string
  /** Adds a holder. */
  readonly addHolder: string
  /** Moves the expiry of an unexpired holder. */
  readonly extend: string
  /** Deletes an unexpired holder. */
  readonly release: string
  /** The unexpired holders of a key. */
  readonly holders: string
  /** Raises the fence floor to the highest fence about to be swept. */
  readonly raiseFenceFloor: string
  /** Deletes semaphore rows idle since before the cutoff. */
  readonly sweepSemaphores: string
  /** Deletes every expired holder. */
  readonly sweepHolders: string
}

/** Builds the semaphore SQL for the name stem `table` (already checked against the table-name pattern). */
export function semaphoreSql(table: string): SemaphoreSql {
  const sem = `"${table}_sem"`
  const holder = `"${table}_sem_holder"`
  const meta = `"${table}_meta"`
  return {
    create: `
      CREATE TABLE IF NOT EXISTS ${sem} (
        key TEXT NOT NULL PRIMARY KEY,
        fence INTEGER NOT NULL,
        acquired_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS ${holder} (
        key TEXT NOT NULL,
        owner TEXT NOT NULL,
        permits INTEGER NOT NULL,
        fence INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (key, owner)
      ) WITHOUT ROWID;
    `,
    dropExpired: `DELETE FROM ${holder} WHERE key = @key AND expires_at <= @now`,
    refresh: `
      UPDATE ${holder} SET expires_at = @expiresAt
      WHERE key = @key AND owner = @owner AND expires_at > @now
      RETURNING fence
    `,
    inUse: `
      SELECT COALESCE(SUM(permits), 0) AS in_use FROM ${holder}
      WHERE key = @key AND expires_at > @now
    `,
    nextFence: `
      INSERT INTO ${sem} (key, fence, acquired_at)
      VALUES (@key, (SELECT fence_floor FROM ${meta} WHERE id = 1) + 1, @now)
      ON CONFLICT (key) DO UPDATE SET fence = ${sem}.fence + 1, acquired_at = excluded.acquired_at
      RETURNING fence
    `,
    addHolder: `
      INSERT INTO ${holder} (key, owner, permits, fence, expires_at)
      VALUES (@key, @owner, @permits, @fence, @expiresAt)
    `,
    extend: `
      UPDATE ${holder} SET expires_at = @expiresAt
      WHERE key = @key AND owner = @owner AND expires_at > @now
    `,
    release: `DELETE FROM ${holder} WHERE key = @key AND owner = @owner AND expires_at > @now`,
    holders: `
      SELECT owner, permits, fence, expires_at FROM ${holder}
      WHERE key = @key AND expires_at > @now
    `,
    raiseFenceFloor: `
      UPDATE ${meta} SET fence_floor = MAX(
        fence_floor,
        COALESCE((SELECT MAX(fence) FROM ${sem} WHERE acquired_at <= @cutoff), 0)
      )
      WHERE id = 1
    `,
    sweepSemaphores: `DELETE FROM ${sem} WHERE acquired_at <= @cutoff`,
    sweepHolders: `DELETE FROM ${holder} WHERE expires_at <= @now`,
  }
}

/** The semaphore operations of one connection: each is one synchronous `BEGIN IMMEDIATE` transaction or statement. */
export interface SemaphoreStatements {
  readonly acquire: (
    key: string,
    owner: string,
    permits: number,
    limit: number,
    ttlMs: number,
  ) => PermitAcquireResult
  readonly extend: (key: string, owner: string, ttlMs: number) => boolean
  readonly release: (key: string, owner: string) => boolean
  readonly peek: (key: string) => PermitHolders
  /** Raises the fence floor and deletes idle semaphore rows and expired holders; run inside the sweep transaction. */
  readonly sweep: (now: number, cutoff: number) => void
}

/** Row shape of the `holders` statement. */
interface HolderRow {
  readonly owner: string
  readonly permits: number
  readonly fence: number
  readonly expires_at: number
}

/**
 * Prepares the semaphore statements on `db`, whose schema (including
 * {@link SemaphoreSql.create}) already exists. Times are `Date.now()`, the
 * clock the lock leases use.
 */
export function prepareSemaphoreStatements(db: Database.Database, sql: SemaphoreSql): SemaphoreStatements {
  // Fences and times are plain numbers even if the caller's database defaults to BigInt.
  const prepare = (text: string): Database.Statement => db.prepare(text).safeIntegers(false)
  const dropExpired = prepare(sql.dropExpired)
  const refresh = prepare(sql.refresh)
  const inUse = prepare(sql.inUse)
  const nextFence = prepare(sql.nextFence)
  const addHolder = prepare(sql.addHolder)
  const extend = prepare(sql.extend)
  const release = prepare(sql.release)
  const holders = prepare(sql.holders)
  const raiseFenceFloor = prepare(sql.raiseFenceFloor)
  const sweepSemaphores = prepare(sql.sweepSemaphores)
  const sweepHolders = prepare(sql.sweepHolders)

  const peek = (key: string, now: number): PermitHolders => {
    const rows = holders.all({ key, now }) as HolderRow[]
    let total = 0
    const list: PermitHolder[] = rows.map((row) => {
      total += row.permits
      return { owner: row.owner, permits: row.permits, fence: row.fence, remainingMs: row.expires_at - now }
    })
    return { inUse: total, holders: list }
  }

  // The whole attempt is one write transaction: the count of permits in use
  // and the insert of the new holder cannot be separated by another writer.
  const acquire = db.transaction(
    (key: string, owner: string, permits: number, limit: number, ttlMs: number): PermitAcquireResult => {
      const now = Date.now()
      const expiresAt = now + ttlMs
      dropExpired.run({ key, now })
      const mine = returningRow(refresh.all({ key, owner, now, expiresAt })) as { fence: number } | undefined
      if (mine !== undefined) return { acquired: true, fence: mine.fence, ttlMs }
      const { in_use: used } = inUse.get({ key, now }) as { in_use: number }
      if (used + permits > limit) return { acquired: false, holders: peek(key, now) }
      const { fence } = returningRow(nextFence.all({ key, now })) as { fence: number }
      addHolder.run({ key, owner, permits, fence, expiresAt })
      return { acquired: true, fence, ttlMs }
    },
  )

  return {
    acquire: (key, owner, permits, limit, ttlMs) => acquire.immediate(key, owner, permits, limit, ttlMs),
    extend: (key, owner, ttlMs) => {
      const now = Date.now()
      return extend.run({ key, owner, now, expiresAt: now + ttlMs }).changes === 1
    },
    release: (key, owner) => release.run({ key, owner, now: Date.now() }).changes === 1,
    peek: (key) => peek(key, Date.now()),
    sweep: (now, cutoff) => {
      raiseFenceFloor.run({ cutoff })
      sweepSemaphores.run({ cutoff })
      sweepHolders.run({ now })
    },
  }
}
