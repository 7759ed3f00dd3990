/**
 * The counting semaphores of the PostgreSQL backend: their SQL, and the few
 * lines that turn result rows into the contract's shapes.
 *
 * One table, `<table>_sem` (for `table: 'lockwork_lease'`:
 * `lockwork_lease_sem`; created with the other objects by `schema.ts`), one
 * row per semaphore key:
 *
 * - `holders jsonb`: an object from owner to `{"p": permits, "f": fence,
 *   "e": expiry}`, the expiry in milliseconds since the epoch on the
 *   server's `clock_timestamp()`. Expired entries are ignored, and dropped by
 *   the next acquire of the key.
 * - `expires_at timestamptz`: no holder's lease outlasts it; the sweeper
 *   deletes the row once it has passed.
 * - `waiters boolean`: set by a waiter, so that releases send a `NOTIFY`
 *   only while someone waits; cleared by the next new acquisition.
 *
 * Keeping the holders in the semaphore's own row is what makes an acquire
 * one statement: `INSERT … ON CONFLICT (key) DO UPDATE` locks the row and
 * evaluates its `WHERE` (permits in use + permits ≤ the caller's limit) and
 * `SET` on the latest committed version, so concurrent acquires of one
 * semaphore take turns and never overshoot the limit. (Holders in rows of
 * their own would need a transaction: a statement's snapshot cannot see a
 * holder committed while it waited for a lock.)
 *
 * Fences come from the lease table's sequence (`<table>_fence`), drawn in
 * the `DO UPDATE` branch only after the row is locked, so they strictly
 * increase across the acquisitions of one semaphore, are never reused (also
 * after every holder expired or the row was swept) and are protected by the
 * same guard row against a rewound sequence. Semaphore keys are `text`
 * primary keys exactly like the lease table's: a namespace of their own,
 * compared the same way. Keys and owners are `$n` parameters.
 */
import type { PermitAcquireResult, PermitHolder, PermitHolders } from '@lockwork/core'
import type { QueryResult, QueryResultRow } from './driver-types.js'
import type { Durability, ResolvedNames } from './schema.js'
import { MAX_NOTIFY_PAYLOAD_BYTES, SWEEP_BATCH } from './schema.js'

/**
 * What a semaphore release notifies: this prefix and the key. No key can
 * contain U+0002 (the core refuses control characters), so a semaphore's
 * notification never looks like a lock's (whose payload is the bare key).
 */
export const SEMAPHORE_PAYLOAD_PREFIX = '\u0002'

/** The SQL texts of the semaphores, for one set of names and one durability mode. */
export interface SemaphoreSql {
  /** `$1` key, `$2` owner, `$3` permits, `$4` limit, `$5` ttl ms → one row `{status, fence, holders}`. */
  readonly acquire: string
  /** `$1` key, `$2` owner, `$3` ttl ms → one row when extended. */
  readonly extend: string
  /** `$1` key, `$2` owner → one row when released; notifies waiters. */
  readonly release: string
  /** `$1` key → one row per unexpired holder. */
  readonly peek: string
  /** `$1` key → like peek, and marks the semaphore as waited on so its releases send a NOTIFY. */
  readonly markWaiting: string
  /** Sweep transaction: wait for running acquires, hold new ones back (after the sweep lock and timeout). */
  readonly sweepTableLock: string
  /** Sweep transaction: delete a batch of rows whose every holder has expired or left. */
  readonly sweep: string
}

/**
 * Builds the semaphore SQL. `fast` mode turns `synchronous_commit` off for
 * each writing statement's own transaction, as the lease statements do.
 */
export function buildSemaphoreSql(names: ResolvedNames, durability: Durability): SemaphoreSql {
  const { semaphore: sem, guard, fenceRegclass, channel } = names
  const commit = (fast: boolean) => (fast ? `set_config('synchronous_commit', 'off', true)` : 'NULL::text')
  const fast = durability === 'fast'
  const nowMs = `(extract(epoch FROM clock_timestamp()) * 1000)::float8`
  const ttl = (param: string) => `clock_timestamp() + ${param}::float8 * interval '1 millisecond'`
  const expiry = (holder: string) => `(${holder}->>'e')::float8`
  // The holders of a row as `{owner, permits, fence, remaining_ms}` rows, unexpired only.
  const holderRows = (holders: string) => `SELECT h.key AS owner, (h.value->>'p')::int AS permits,
  h.value->>'f' AS fence, ceil(${expiry('h.value')} - ${nowMs})::float8 AS remaining_ms
FROM jsonb_each(${holders}) h WHERE ${expiry('h.value')} > ${nowMs}`
  // Whether `$2` holds unexpired permits in row `t` (false, not NULL, when it holds none).
  const mine = `COALESCE(${expiry('t.holders->$2::text')} > ${nowMs}, false)`
  const newHolder = `jsonb_build_object('p', $3::int, 'f', nextval(${fenceRegclass}), 'e', ${nowMs} + $5::float8)`
  return {
    // One statement (see the file comment). The INSERT branch's fence can
    // only be used when no row existed during the whole statement: the
    // sweeper deletes rows under a SHARE lock, which waits for every running
    // acquire. The same owner with unexpired permits keeps its entry (same
    // fence and permits) with a refreshed expiry.
    acquire: `WITH c AS MATERIALIZED (
  SELECT ${commit(fast)} AS sc, EXISTS (SELECT 1 FROM ${guard}) AS guarded
), up AS (
  INSERT INTO ${sem} AS t (key, holders, expires_at)
  SELECT $1, jsonb_build_object($2::text, ${newHolder}), ${ttl('$5')} FROM c WHERE c.guarded
  ON CONFLICT (key) DO UPDATE SET
    holders = (
      SELECT COALESCE(jsonb_object_agg(h.key, h.value), '{}'::jsonb) FROM jsonb_each(t.holders) h
      WHERE h.key <> $2::text AND ${expiry('h.value')} > ${nowMs}
    ) || jsonb_build_object($2::text, CASE WHEN ${mine}
      THEN jsonb_set(t.holders->$2::text, '{e}', to_jsonb(${nowMs} + $5::float8))
      ELSE ${newHolder} END),
    waiters = t.waiters AND ${mine},
    expires_at = greatest(t.expires_at, ${ttl('$5')})
  WHERE ${mine} OR (
    SELECT COALESCE(sum((h.value->>'p')::int), 0) FROM jsonb_each(t.holders) h
    WHERE ${expiry('h.value')} > ${nowMs}
  ) + $3::int <= $4::int
  RETURNING t.holders->$2::text AS mine
)
SELECT 'acquired' AS status, up.mine->>'f' AS fence, NULL::json AS holders FROM up
UNION ALL
SELECT 'held', NULL, (SELECT json_agg(x) FROM ${sem} s, LATERAL (${holderRows('s.holders')}) x WHERE s.key = $1)
  FROM c WHERE c.guarded AND NOT EXISTS (SELECT 1 FROM up)
UNION ALL
SELECT 'unguarded', NULL, NULL FROM c WHERE NOT c.guarded`,
    extend: `WITH c AS MATERIALIZED (SELECT ${commit(fast)} AS sc)
UPDATE ${sem} t SET holders = jsonb_set(t.holders, ARRAY[$2::text, 'e'], to_jsonb(${nowMs} + $3::float8)),
  expires_at = greatest(t.expires_at, ${ttl('$3')})
FROM c WHERE t.key = $1 AND ${mine}
RETURNING 1 AS ok`,
    // Notifies only while a waiter has marked the row, so an uncontended
    // release costs no NOTIFY. Payloads over PostgreSQL's limit are not sent
    // (a key is at most 641 UTF-16 units, so this does not happen).
    release: `WITH c AS MATERIALIZED (SELECT ${commit(fast)} AS sc), r AS (
  UPDATE ${sem} t SET holders = t.holders - $2::text FROM c
  WHERE t.key = $1 AND ${mine}
  RETURNING t.key, t.waiters
)
SELECT CASE WHEN r.waiters AND octet_length(r.key) < ${MAX_NOTIFY_PAYLOAD_BYTES}
  THEN pg_notify('${channel}', chr(2) || r.key) END AS notified FROM r`,
    peek: `SELECT x.* FROM ${sem} s, LATERAL (${holderRows('s.holders')}) x WHERE s.key = $1`,
    // Writes only when the row is not marked yet, so a crowd of waiters does
    // not rewrite it on every turn; always committed asynchronously (a lost
    // mark costs a waiter only its wake-up: it still re-tries at the earliest expiry).
    markWaiting: `WITH c AS MATERIALIZED (SELECT ${commit(true)} AS sc), cur AS (
  SELECT holders, waiters FROM ${sem} WHERE key = $1 AND expires_at > clock_timestamp()
), m AS (
  UPDATE ${sem} t SET waiters = true FROM c, cur
  WHERE t.key = $1 AND NOT cur.waiters AND t.expires_at > clock_timestamp()
  RETURNING t.holders
), latest AS (
  SELECT holders FROM m UNION ALL SELECT holders FROM cur WHERE cur.waiters
)
SELECT x.* FROM latest, LATERAL (${holderRows('latest.holders')}) x`,
    sweepTableLock: `LOCK TABLE ${sem} IN SHARE MODE`,
    sweep: `DELETE FROM ${sem} WHERE ctid = ANY (ARRAY(
  SELECT ctid FROM ${sem} WHERE expires_at <= clock_timestamp() LIMIT ${SWEEP_BATCH}))
  AND expires_at <= clock_timestamp()`,
  }
}

/** Runs one statement (the backend's `#run`): `retry` resends it after a connection error. */
export type RunStatement = <R extends QueryResultRow>(
  op: string,
  text: string,
  values: readonly unknown[],
  retry: boolean,
) => Promise<QueryResult<R>>

/** One unexpired holder as the statements return it. */
type HolderRow = { owner: string; permits: number; fence: string; remaining_ms: number }

type AcquireRow = {
  status: 'acquired' | 'held' | 'unguarded'
  fence: string | null
  holders: HolderRow[] | null
}

/** Attempts inside one acquire when the guard row needs repair (each repair is one transaction). */
const ACQUIRE_ATTEMPTS = 3

/** The semaphore operations of one backend, on top of its statement runner. */
export class SemaphoreQueries {
  readonly #sql: SemaphoreSql
  readonly #run: RunStatement
  readonly #repairGuard: () => Promise<void>
  readonly #toFence: (text: string | null) => number

  /**
   * @param sql - the statements from {@link buildSemaphoreSql}.
   * @param run - the backend's statement runner (errors, retries, use-after-close).
   * @param repairGuard - puts the fence guard row back (see `schema.ts`).
   * @param toFence - parses a fence, rejecting one that is not a safe integer.
   */
  constructor(
    sql: SemaphoreSql,
    run: RunStatement,
    repairGuard: () => Promise<void>,
    toFence: (text: string | null) => number,
  ) {
    this.#sql = sql
    this.#run = run
    this.#repairGuard = repairGuard
    this.#toFence = toFence
  }

  /** One attempt (plus a guard repair if the fence sequence may have been rewound). */
  async acquire(
    key: string,
    owner: string,
    permits: number,
    limit: number,
    ttlMs: number,
  ): Promise<PermitAcquireResult> {
    const values = [key, owner, permits, limit, ttlMs]
    for (let attempt = 1; ; attempt++) {
      const { rows } = await this.#run<AcquireRow>('acquirePermits', this.#sql.acquire, values, true)
      const row = rows[0]
      if (row?.status === 'acquired') return { acquired: true, fence: this.#toFence(row.fence), ttlMs }
      if (row?.status === 'held') {
        const holders = this.#holders(row.holders ?? [])
        // The statement's snapshot predates a holder that committed while it
        // waited for the row: look once more, so the refusal names real holders.
        if (holders.inUse + permits > limit) return { acquired: false, holders }
        return { acquired: false, holders: await this.peek(key) }
      }
      if (attempt >= ACQUIRE_ATTEMPTS) {
        return { acquired: false, holders: await this.peek(key) }
      }
      await this.#repairGuard()
    }
  }

  async extend(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const { rows } = await this.#run('extendPermits', this.#sql.extend, [key, owner, ttlMs], true)
    return rows.length > 0
  }

  /** Not resent after a connection error: a resend could report `false` for a release that happened. */
  async release(key: string, owner: string): Promise<boolean> {
    const { rows } = await this.#run('releasePermits', this.#sql.release, [key, owner], false)
    return rows.length > 0
  }

  /** The unexpired holders; with `markWaiting`, also asks the next releases to notify. */
  async peek(key: string, markWaiting = false, op = 'peekPermits'): Promise<PermitHolders> {
    const text = markWaiting ? this.#sql.markWaiting : this.#sql.peek
    const { rows } = await this.#run<HolderRow>(op, text, [key], true)
    return this.#holders(rows)
  }

  #holders(rows: readonly HolderRow[]): PermitHolders {
    let inUse = 0
    const holders = rows.map((row): PermitHolder => {
      inUse += row.permits
      return {
        owner: row.owner,
        permits: row.permits,
        fence: this.#toFence(String(row.fence)),
        remainingMs: Math.max(0, row.remaining_ms),
      }
    })
    return { inUse, holders }
  }
}
