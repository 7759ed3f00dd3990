import { createHash } from 'node:crypto'
import { InvalidArgumentError } from '@lockwork/core'
import { GRANT_PAYLOAD_SQL } from './grant-payload.js'

/**
 * All SQL text of the PostgreSQL backend, in one place.
 *
 * Objects, for `table: 'lockwork_lease'` in schema `public`:
 *
 * - `lockwork_lease`: one row per key (the lease). Released leases stay as
 *   tombstones (`expires_at` set to the release time) until the sweeper deletes them.
 * - `lockwork_lease_fence`: the sequence every fence is drawn from (`nextval`
 *   on each takeover, so fences rise across keys, releases, expiry and row deletion).
 * - `lockwork_lease_guard`: an UNLOGGED one-row table. PostgreSQL empties
 *   unlogged tables after crash recovery, on a promoted standby and in a
 *   restored backup: exactly the events after which the sequence may have
 *   lost its most recent values. Acquire refuses to hand out a fence while the
 *   row is missing; the backend then moves the sequence up by
 *   {@link FENCE_EPOCH_GAP} in a synchronously committed transaction and puts
 *   the row back. So a fence never repeats or goes backwards, whatever the
 *   commit mode.
 * - `lockwork_lease_cache`: the cache store behind `cached`.
 * - `lockwork_lease_sem`: one row per counting semaphore, its holders in a
 *   `jsonb` column (see `semaphore-statements.ts`, which has its statements).
 * - `lockwork_lease_queue`: an UNLOGGED table of the owners queued for a
 *   lock key by grant-on-release, with their liveness deadlines (see
 *   `grant-statements.ts`). Its rows live for seconds; losing them in a crash
 *   only makes their waiters look again.
 *
 * Keys and owners are always `$n` parameters; schema and table names are
 * validated with {@link IDENTIFIER} and double-quoted.
 */

/** What a schema or table name must look like: a plain SQL identifier. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Longest lease-table name: PostgreSQL's 63-byte limit less the 6-character suffixes of the other objects. */
export const MAX_TABLE_NAME_LENGTH = 57

/** Longest schema name (PostgreSQL's identifier limit). */
export const MAX_SCHEMA_NAME_LENGTH = 63

/** The default schema. */
export const DEFAULT_SCHEMA = 'public'

/** The default lease-table name. */
export const DEFAULT_TABLE = 'lockwork_lease'

/**
 * How far the fence sequence jumps after the guard row is found missing (2^32).
 * Far more fences than PostgreSQL could hand out in the commits a crash can
 * lose; fences stay exact JavaScript integers for 2^21 such jumps.
 */
export const FENCE_EPOCH_GAP = 4_294_967_296

/** Notification payloads must stay under this many bytes (PostgreSQL's limit is 8000). */
export const MAX_NOTIFY_PAYLOAD_BYTES = 7999

/** How a backend commits its writes: see `PostgresBackendOptions.durability`. */
export type Durability = 'durable' | 'fast'

/** Where the backend's objects live. */
export interface SchemaNames {
  /** The schema, e.g. `public`. */
  readonly schema?: string
  /** The lease table; the other objects take its name with a suffix. */
  readonly table?: string
}

/** The validated, quoted names of every object the backend uses. */
export interface ResolvedNames {
  /** The schema name as given. */
  readonly schema: string
  /** The lease-table name as given. */
  readonly table: string
  /** Quoted `"schema"`. */
  readonly schemaSql: string
  /** The lease table, quoted and schema-qualified. */
  readonly lease: string
  /** The cache table, quoted and schema-qualified. */
  readonly cache: string
  /** The fence sequence, quoted and schema-qualified. */
  readonly fence: string
  /** The unlogged guard table, quoted and schema-qualified. */
  readonly guard: string
  /** The semaphore table, quoted and schema-qualified. */
  readonly semaphore: string
  /** The unlogged grant-queue table, quoted and schema-qualified. */
  readonly queue: string
  /** The `regclass` literal of the fence sequence, e.g. `'"public"."lockwork_lease_fence"'`. */
  readonly fenceRegclass: string
  /** The LISTEN/NOTIFY channel: fixed per schema and table. */
  readonly channel: string
  /** A 32-bit number for the advisory locks that serialise schema creation and sweeping. */
  readonly lockId: number
}

/** Double-quotes an identifier that already passed {@link IDENTIFIER}. */
function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** Single-quotes a string literal. */
function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`
}

function checkIdentifier(value: unknown, argument: string, maxLength: number): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
    throw new InvalidArgumentError(
      argument,
      'must be a plain SQL identifier (letters, digits and _, not starting with a digit)',
    )
  }
  if (value.length > maxLength) {
    throw new InvalidArgumentError(
      argument,
      `is ${value.length} characters long; the maximum is ${maxLength}`,
    )
  }
  return value
}

/** Validates and quotes the schema and table names; throws `InvalidArgumentError` for a bad name. */
export function resolveNames(names: SchemaNames = {}): ResolvedNames {
  const schema = checkIdentifier(names.schema ?? DEFAULT_SCHEMA, 'options.schema', MAX_SCHEMA_NAME_LENGTH)
  const table = checkIdentifier(names.table ?? DEFAULT_TABLE, 'options.table', MAX_TABLE_NAME_LENGTH)
  const schemaSql = quoteIdent(schema)
  const qualified = (suffix: string) => `${schemaSql}.${quoteIdent(table + suffix)}`
  const digest = createHash('sha256').update(`${schema}.${table}`).digest()
  return {
    schema,
    table,
    schemaSql,
    lease: qualified(''),
    cache: qualified('_cache'),
    fence: qualified('_fence'),
    guard: qualified('_guard'),
    semaphore: qualified('_sem'),
    queue: qualified('_queue'),
    fenceRegclass: quoteLiteral(qualified('_fence')),
    channel: `lockwork_release_${digest.subarray(0, 8).toString('hex')}`,
    lockId: digest.readInt32BE(8),
  }
}

/** The DDL as separate statements, every one idempotent. */
function ddlStatements(n: ResolvedNames): string[] {
  return [
    ...(n.schema === DEFAULT_SCHEMA ? [] : [`CREATE SCHEMA IF NOT EXISTS ${n.schemaSql}`]),
    `CREATE TABLE IF NOT EXISTS ${n.lease} (
  key text PRIMARY KEY,
  owner text NOT NULL,
  fence bigint NOT NULL,
  expires_at timestamptz NOT NULL,
  waiters boolean NOT NULL DEFAULT false
)`,
    `CREATE SEQUENCE IF NOT EXISTS ${n.fence} AS bigint`,
    `CREATE UNLOGGED TABLE IF NOT EXISTS ${n.guard} (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  fence_floor bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
)`,
    `CREATE TABLE IF NOT EXISTS ${n.cache} (
  key text PRIMARY KEY,
  value text NOT NULL,
  compute_ms double precision NOT NULL,
  expires_at timestamptz NOT NULL
)`,
    `CREATE TABLE IF NOT EXISTS ${n.semaphore} (
  key text PRIMARY KEY,
  holders jsonb NOT NULL,
  expires_at timestamptz NOT NULL,
  waiters boolean NOT NULL DEFAULT false
)`,
    `CREATE UNLOGGED TABLE IF NOT EXISTS ${n.queue} (
  key text NOT NULL,
  owner text NOT NULL,
  ttl_ms float8 NOT NULL,
  queued_at timestamptz NOT NULL,
  live_until timestamptz NOT NULL,
  PRIMARY KEY (key, owner)
)`,
  ]
}

/**
 * The migration SQL that creates every object the backend needs, for a
 * migration tool when `createSchema: false`. Idempotent (`IF NOT EXISTS`).
 * The guard row is not part of it: the backend writes it at run time.
 *
 * @example
 * ```ts
 * import { postgresMigrationSql } from '@lockwork/postgres'
 * fs.writeFileSync('migrations/0042_lockwork.sql', postgresMigrationSql({ schema: 'locks' }))
 * ```
 */
export function postgresMigrationSql(names: SchemaNames = {}): string {
  return `${ddlStatements(resolveNames(names)).join(';\n\n')};\n`
}

/** The SQL texts the backend runs, specialised for one set of names and one durability mode. */
export interface Statements {
  /** Whether every object exists: `[lease, cache, fence, guard, semaphore, queue]` regclass names as `$1..$6`. */
  readonly objectsExist: string
  /** The DDL, run in one transaction after {@link Statements.schemaLock}. */
  readonly ddl: readonly string[]
  /** Serialises concurrent first use (transaction-scoped advisory lock). */
  readonly schemaLock: string
  /** Guard repair, in a transaction: force a synchronous commit, lock, then jump the sequence and insert the row. */
  readonly guardRepair: readonly string[]
  /** `$1` key, `$2` owner, `$3` ttl ms → one row `{fence}` when taken, else none. */
  readonly acquire: string
  /** `$1` key → one row `{guarded, owner, fence, remaining_ms}` (holder columns null when none is live). */
  readonly acquireRefused: string
  /** `$1` key, `$2` owner, `$3` ttl ms → one row when extended. */
  readonly extend: string
  /**
   * `$1` key, `$2` owner → one row when released, only when no waiter marked
   * the lease (the common case: one short `UPDATE`, no `NOTIFY`). No row:
   * `owner` does not hold the key, or waiters marked it; then
   * {@link Statements.releaseToWaiters} decides.
   */
  readonly release: string
  /**
   * `$1` key, `$2` owner → one row when released (`notified` is the
   * notification it sent, if any): hands the lease to the oldest live queued
   * owner, or frees it and notifies the key's waiters.
   */
  readonly releaseToWaiters: string
  /** `$1` key → `{owner, fence, remaining_ms}` or no row. */
  readonly peek: string
  /** `$1` key → like peek, and marks the lease as waited on so its release sends a NOTIFY. */
  readonly markWaiting: string
  /** `$1` key → `{value, compute_ms, remaining_ms}` or no row. */
  readonly getCached: string
  /** `$1` key, `$2` value, `$3` compute ms, `$4` ttl ms. */
  readonly setCached: string
  /** `$1` key → `{live}` or no row. */
  readonly deleteCached: string
  /** Sweep transaction, step 1: one sweeper at a time (`{locked}`); sets the commit mode. */
  readonly sweepLock: string
  /** Sweep transaction, step 2: give up rather than queue behind a long transaction. */
  readonly sweepLockTimeout: string
  /** Sweep transaction, step 3: wait for running acquires, hold new ones back. */
  readonly sweepTableLock: string
  /** Sweep transaction, step 4: delete a batch of expired and released leases. */
  readonly sweepLeases: string
  /** Deletes a batch of expired cache entries (its own statement, no table lock). */
  readonly sweepCache: string
  /** `LISTEN` on the release channel. */
  readonly listen: string
}

/** Rows deleted per sweep statement, to keep the sweeper's table lock short. */
export const SWEEP_BATCH = 5000

/**
 * Builds every statement for `names` in `durability` mode. In `'fast'` mode
 * each writing statement turns `synchronous_commit` off for its own
 * transaction with `set_config(…, true)`, so it stays one statement and
 * works through a transaction-mode pooler.
 */
export function buildStatements(names: ResolvedNames, durability: Durability): Statements {
  const { lease, cache, guard, queue, fenceRegclass, channel, lockId } = names
  const commit = (fast: boolean) => (fast ? `set_config('synchronous_commit', 'off', true)` : 'NULL::text')
  const fast = durability === 'fast'
  const ttl = (param: string) => `clock_timestamp() + ${param}::float8 * interval '1 millisecond'`
  const remaining = (column: string) =>
    `ceil(extract(epoch FROM ${column} - clock_timestamp()) * 1000)::float8`
  return {
    objectsExist: `SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL
  AND to_regclass($3) IS NOT NULL AND to_regclass($4) IS NOT NULL AND to_regclass($5) IS NOT NULL
  AND to_regclass($6) IS NOT NULL AS ok`,
    ddl: ddlStatements(names),
    schemaLock: `SELECT pg_advisory_xact_lock(${lockId}, 1)`,
    guardRepair: [
      'SET LOCAL synchronous_commit = on',
      `LOCK TABLE ${guard} IN SHARE ROW EXCLUSIVE MODE`,
      `INSERT INTO ${guard} (id, fence_floor)
SELECT true, setval(${fenceRegclass}, nextval(${fenceRegclass}) + ${FENCE_EPOCH_GAP})
WHERE NOT EXISTS (SELECT 1 FROM ${guard})`,
    ],
    // The fast path of acquire: one plain INSERT … RETURNING, no other scan
    // of the lease table (every relation a statement names costs executor
    // start-up time, also when it is never read). The fence is drawn in the
    // DO UPDATE branch only after the row is locked, so it is drawn after the
    // previous holder's; the INSERT branch's `nextval` can only win when no
    // row existed during the whole statement (the sweeper deletes rows under
    // a SHARE lock, which waits for every running acquire). Nothing is written
    // while the guard row is missing.
    acquire: `INSERT INTO ${lease} AS t (key, owner, fence, expires_at)
SELECT $1, $2, nextval(${fenceRegclass}), ${ttl('$3')}
FROM (SELECT ${commit(fast)} AS sc, EXISTS (SELECT 1 FROM ${guard}) AS guarded) c WHERE c.guarded
ON CONFLICT (key) DO UPDATE SET
  owner = excluded.owner,
  fence = CASE WHEN t.owner = excluded.owner AND t.expires_at > clock_timestamp()
    THEN t.fence ELSE nextval(${fenceRegclass}) END,
  waiters = t.waiters AND t.owner = excluded.owner AND t.expires_at > clock_timestamp(),
  expires_at = ${ttl('$3')}
WHERE t.expires_at <= clock_timestamp() OR t.owner = excluded.owner
RETURNING t.fence::text AS fence`,
    // Only after acquire returned no row: why (a live holder, or the guard
    // row missing). Reads, writes nothing.
    acquireRefused: `SELECT c.guarded, h.owner, h.fence::text AS fence, ${remaining('h.expires_at')} AS remaining_ms
FROM (SELECT EXISTS (SELECT 1 FROM ${guard}) AS guarded) c
LEFT JOIN ${lease} h ON h.key = $1 AND h.expires_at > clock_timestamp()`,
    extend: `WITH c AS MATERIALIZED (SELECT ${commit(fast)} AS sc)
UPDATE ${lease} t SET expires_at = ${ttl('$3')} FROM c
WHERE t.key = $1 AND t.owner = $2 AND t.expires_at > clock_timestamp()
RETURNING 1 AS ok`,
    // A lease nobody waits for: one plain UPDATE, as cheap as a release can be
    // (a statement that names the queue costs executor start-up time for every
    // relation and scan it names, also when they never run: about a third more
    // server time per acquire + release). It changes nothing when waiters
    // marked the lease; the backend then sends releaseToWaiters.
    release: `UPDATE ${lease} t SET expires_at = clock_timestamp()
FROM (SELECT ${commit(fast)} AS sc) c
WHERE t.key = $1 AND t.owner = $2 AND NOT t.waiters AND t.expires_at > clock_timestamp()
RETURNING 1 AS released`,
    // The release of a marked lease (`waiters`): `gate` locks the lease row first
    // (an enqueue that marks it locks it too: no deadlock), `pick` locks the oldest live queue entry (a concurrently withdrawn one is
    // skipped, and one being withdrawn is waited for), `taken` deletes it, and the
    // UPDATE hands the lease to its owner with the next fence and the entry's ttl
    // on the server's clock; the NOTIFY carries the grant (see
    // `grant-statements.ts`). No fence is drawn while the guard row is missing.
    // Entries found dead are dropped on the way. With no live entry (or a
    // `waitForRelease` waiter's mark) the lease is freed and the key notified, as
    // before. Payloads stay far below PostgreSQL's 8,000 bytes: a key has at
    // most 640 UTF-16 units (1,920 bytes), an owner 255 (765 bytes).
    releaseToWaiters: `WITH c AS MATERIALIZED (SELECT ${commit(fast)} AS sc),
gate AS MATERIALIZED (
  SELECT 1 AS locked FROM ${lease}
  WHERE key = $1 AND owner = $2 AND waiters AND expires_at > clock_timestamp() FOR UPDATE
), pick AS MATERIALIZED (
  SELECT q.owner FROM ${queue} q
  WHERE EXISTS (SELECT 1 FROM gate) AND EXISTS (SELECT 1 FROM ${guard})
    AND q.key = $1 AND q.live_until > clock_timestamp()
  ORDER BY q.queued_at, q.owner LIMIT 1 FOR UPDATE OF q
), taken AS (
  DELETE FROM ${queue} q USING pick p WHERE q.key = $1 AND q.owner = p.owner
  RETURNING q.owner, q.ttl_ms
), dead AS (
  DELETE FROM ${queue} q WHERE EXISTS (SELECT 1 FROM gate) AND q.key = $1
    AND q.live_until <= clock_timestamp() AND NOT EXISTS (SELECT 1 FROM pick p WHERE p.owner = q.owner)
)
UPDATE ${lease} t SET
  owner = coalesce(g.owner, t.owner),
  fence = CASE WHEN g.owner IS NULL THEN t.fence ELSE nextval(${fenceRegclass}) END,
  expires_at = CASE WHEN g.owner IS NULL THEN clock_timestamp() ELSE ${ttl('g.ttl_ms')} END
FROM c LEFT JOIN taken g ON true
WHERE t.key = $1 AND t.owner = $2 AND t.expires_at > clock_timestamp()
RETURNING CASE
  WHEN g.owner IS NOT NULL THEN pg_notify(${quoteLiteral(channel)}, ${GRANT_PAYLOAD_SQL})
  WHEN t.waiters AND octet_length(t.key) <= ${MAX_NOTIFY_PAYLOAD_BYTES} THEN pg_notify(${quoteLiteral(channel)}, t.key)
  END AS notified`,
    peek: `SELECT owner, fence::text AS fence, ${remaining('expires_at')} AS remaining_ms
FROM ${lease} WHERE key = $1 AND expires_at > clock_timestamp()`,
    // Writes only when the lease is not marked yet (the first waiter), so a
    // crowd of waiters does not rewrite the row on every turn. No row back
    // means "free (or released meanwhile)": the waiter re-tries at once.
    // Always committed asynchronously: a lost mark only costs a waiter its
    // wake-up (it still re-tries when the holder's lease runs out).
    markWaiting: `WITH c AS MATERIALIZED (SELECT ${commit(true)} AS sc), cur AS (
  SELECT owner, fence, expires_at, waiters FROM ${lease} WHERE key = $1 AND expires_at > clock_timestamp()
), m AS (
  UPDATE ${lease} t SET waiters = true FROM c, cur
  WHERE t.key = $1 AND NOT cur.waiters AND t.expires_at > clock_timestamp()
  RETURNING t.owner, t.fence, t.expires_at
)
SELECT owner, fence::text AS fence, ${remaining('expires_at')} AS remaining_ms FROM m
UNION ALL
SELECT owner, fence::text, ${remaining('expires_at')} FROM cur WHERE cur.waiters`,
    getCached: `SELECT value, compute_ms, ${remaining('expires_at')} AS remaining_ms
FROM ${cache} WHERE key = $1 AND expires_at > clock_timestamp()`,
    setCached: `WITH c AS MATERIALIZED (SELECT ${commit(fast)} AS sc)
INSERT INTO ${cache} AS t (key, value, compute_ms, expires_at)
SELECT $1, $2, $3::float8, ${ttl('$4')} FROM c
ON CONFLICT (key) DO UPDATE SET value = excluded.value, compute_ms = excluded.compute_ms,
  expires_at = excluded.expires_at`,
    deleteCached: `WITH c AS MATERIALIZED (SELECT ${commit(fast)} AS sc)
DELETE FROM ${cache} t USING c WHERE t.key = $1
RETURNING t.expires_at > clock_timestamp() AS live`,
    sweepLock: `SELECT pg_try_advisory_xact_lock(${lockId}, 2) AS locked, ${commit(fast)} AS sc`,
    sweepLockTimeout: `SET LOCAL lock_timeout = '200ms'`,
    // SHARE conflicts with the ROW EXCLUSIVE lock every acquire holds, so no
    // acquire runs while rows disappear (see the note on acquire).
    sweepTableLock: `LOCK TABLE ${lease} IN SHARE MODE`,
    sweepLeases: `DELETE FROM ${lease} WHERE ctid = ANY (ARRAY(
  SELECT ctid FROM ${lease} WHERE expires_at <= clock_timestamp() LIMIT ${SWEEP_BATCH}))
  AND expires_at <= clock_timestamp()`,
    sweepCache: `WITH c AS MATERIALIZED (SELECT ${commit(fast)} AS sc)
DELETE FROM ${cache} t USING c WHERE t.ctid = ANY (ARRAY(
  SELECT ctid FROM ${cache} WHERE expires_at <= clock_timestamp() LIMIT ${SWEEP_BATCH}))
  AND t.expires_at <= clock_timestamp()`,
    listen: `LISTEN ${quoteIdent(channel)}`,
  }
}
