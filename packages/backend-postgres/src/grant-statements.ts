/**
 * The SQL of grant-on-release for the PostgreSQL backend (see
 * `grant-wait.ts`): a waiter queues itself for a lock key, keeps its entry
 * alive while it waits, and leaves the queue when it stops waiting; the
 * release statement (`release` in `schema.ts`) hands the lease to the
 * oldest live entry.
 *
 * The queue is the UNLOGGED table `<table>_queue` (for `table:
 * 'lockwork_lease'`: `lockwork_lease_queue`), one row per queued owner of a
 * key: `(key, owner)` primary key, the ttl it asks for, when it queued
 * (arrival order, the server's clock) and its liveness deadline. Its writes
 * make no WAL, so they commit without a flush in either durability mode; a
 * crash or a failover empties it, and every waiter then looks again (its
 * next refresh finds its entry gone).
 *
 * The lease row's `waiters` flag is what makes a release look at the queue:
 * the first queued owner sets it (an enqueue writes the lease row only then),
 * a grant keeps it, the next acquisition by a new holder clears it. Keys and
 * owners are `$n` parameters.
 */
import type { ResolvedNames } from './schema.js'

/** The grant-on-release statements, for one set of names. */
export interface GrantSql {
  /**
   * `$1` key, `$2` owner, `$3` ttl ms, `$4` liveness ms → no row when the key
   * is free (not queued); else one row `{mine, fence, remaining_ms, server_ms}`:
   * `mine` when `owner` holds the key already, otherwise queued (or its
   * entry refreshed, keeping its place) behind the holder.
   */
  readonly enqueue: string
  /**
   * `$1` keys, `$2` owners (text arrays, pairwise), `$3` liveness ms → one row
   * `{key, owner, server_ms}` per entry still queued (its deadline moved on).
   */
  readonly refresh: string
  /** `$1` key, `$2` owner → one row when the entry was still queued (and is now gone). */
  readonly withdraw: string
  /** `$1` key, `$2` owner → `{fence, remaining_ms}` when `owner` holds the key. */
  readonly held: string
  /** Deletes a batch of entries whose deadline passed (waiters that died). */
  readonly sweep: string
}

/** Queue entries the sweeper deletes per statement ({@link GrantSql.sweep}). */
export const QUEUE_SWEEP_BATCH = 5000

/** Builds the grant statements for `names`. */
export function buildGrantSql(names: ResolvedNames): GrantSql {
  const { lease, queue } = names
  const remaining = (column: string) =>
    `ceil(extract(epoch FROM ${column} - clock_timestamp()) * 1000)::float8`
  const serverMs = `(extract(epoch FROM clock_timestamp()) * 1000)::float8`
  const after = (param: string) => `clock_timestamp() + ${param}::float8 * interval '1 millisecond'`
  return {
    // The lease row is written only by the first waiter (to set `waiters`), and
    // committed asynchronously: a lost mark only costs its waiter the grant (it
    // looks again when the holder's lease runs out). Queued only behind a live
    // holder that is someone else; a holder released meanwhile makes `m` empty.
    enqueue: `WITH c AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true) AS sc),
cur AS MATERIALIZED (
  SELECT owner, fence, expires_at, waiters FROM ${lease} WHERE key = $1 AND expires_at > clock_timestamp()
), m AS (
  UPDATE ${lease} t SET waiters = true FROM c, cur
  WHERE t.key = $1 AND NOT cur.waiters AND cur.owner <> $2 AND t.expires_at > clock_timestamp()
  RETURNING t.owner, t.fence, t.expires_at
), h AS (
  SELECT owner, fence, expires_at FROM m
  UNION ALL SELECT owner, fence, expires_at FROM cur WHERE cur.waiters OR cur.owner = $2
), q AS (
  INSERT INTO ${queue} AS e (key, owner, ttl_ms, queued_at, live_until)
  SELECT $1, $2, $3::float8, clock_timestamp(), ${after('$4')} FROM h, c WHERE h.owner <> $2
  ON CONFLICT (key, owner) DO UPDATE SET ttl_ms = excluded.ttl_ms, live_until = excluded.live_until
  RETURNING 1
)
SELECT h.owner = $2 AS mine, h.fence::text AS fence, ${remaining('h.expires_at')} AS remaining_ms,
  ${serverMs} AS server_ms, (SELECT count(*) FROM q) AS queued
FROM h`,
    refresh: `UPDATE ${queue} e SET live_until = ${after('$3')}
FROM unnest($1::text[], $2::text[]) AS w(key, owner)
WHERE e.key = w.key AND e.owner = w.owner
RETURNING e.key, e.owner, ${serverMs} AS server_ms`,
    withdraw: `DELETE FROM ${queue} WHERE key = $1 AND owner = $2 RETURNING 1 AS ok`,
    held: `SELECT fence::text AS fence, ${remaining('expires_at')} AS remaining_ms
FROM ${lease} WHERE key = $1 AND owner = $2 AND expires_at > clock_timestamp()`,
    sweep: `DELETE FROM ${queue} WHERE ctid = ANY (ARRAY(
  SELECT ctid FROM ${queue} WHERE live_until <= clock_timestamp() LIMIT ${QUEUE_SWEEP_BATCH}))
  AND live_until <= clock_timestamp()`,
  }
}
