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
  /** The hand-over function a release of a waited-on lease calls, quoted and schema-qualified. */
  readonly handover: string
  /** The `regprocedure` text of {@link ResolvedNames.handover}, e.g. `"public"."lockwork_lease_grant"(text)`. */
  readonly handoverSignature: string
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
    handover: qualified('_grant'),
    handoverSignature: `${qualified('_grant')}(text)`,
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
    handoverFunction(n),
  ]
}

/**
 * The hand-over function, `<table>_grant(key)`, which a release calls (from
 * its `RETURNING`) only for a lease that waiters marked, with the lease row
 * already freed by the release and locked by it. It drops the key's dead
 * queue entries, locks the oldest live one (`FOR UPDATE`: an entry being
 * withdrawn is waited for, one withdrawn meanwhile is skipped), deletes it,
 * writes the lease for its owner with the next fence and the entry's ttl on
 * the server's clock, and notifies the grant (see `grant-payload.ts`). With
 * no live entry, or while the guard row is missing (no fence may be drawn
 * then), it notifies the bare key instead (payloads over the limit are not
 * sent), as a plain release of a waited-on lease does. Returns
 * `'granted'`, `'released'` or `NULL` (nothing sent).
 *
 * PL/pgSQL: its plans are prepared once per connection. Every name in it is
 * schema-qualified; the key arrives as a parameter.
 */
function handoverFunction(n: ResolvedNames): string {
  return `CREATE OR REPLACE FUNCTION ${n.handover}(k text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $lockwork$
DECLARE
  entry record;
  t record;
BEGIN
  DELETE FROM ${n.queue} q WHERE q.key = k AND q.live_until <= clock_timestamp();
  IF EXISTS (SELECT 1 FROM ${n.guard}) THEN
    SELECT q.owner, q.ttl_ms INTO entry FROM ${n.queue} q
    WHERE q.key = k AND q.live_until > clock_timestamp()
    ORDER BY q.queued_at, q.owner LIMIT 1 FOR UPDATE;
    IF FOUND THEN
      DELETE FROM ${n.queue} q WHERE q.key = k AND q.owner = entry.owner;
      UPDATE ${n.lease} l SET owner = entry.owner, fence = nextval(${n.fenceRegclass}),
        expires_at = clock_timestamp() + entry.ttl_ms * interval '1 millisecond'
      WHERE l.key = k
      RETURNING l.key, l.owner, l.fence, l.expires_at INTO t;
      PERFORM pg_notify(${quoteLiteral(n.channel)}, ${GRANT_PAYLOAD_SQL});
      RETURN 'granted';
    END IF;
  END IF;
  IF octet_length(k) <= ${MAX_NOTIFY_PAYLOAD_BYTES} THEN
    PERFORM pg_notify(${quoteLiteral(n.channel)}, k);
    RETURN 'released';
  END IF;
  RETURN NULL;
END
$lockwork$`
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
  /**
   * Whether every object exists: `[lease, cache, fence, guard, semaphore, queue]` regclass names as
   * `$1..$6`, the hand-over function's signature as `$7`.
   */
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
   * `$1` key, `$2` owner → one row when released. When waiters marked the
   * lease it calls the hand-over function, which hands the lease to the
   * oldest live queued owner or notifies the key's waiters.
   */
  readonly release: string
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
  const { lease, cache, guard, fenceRegclass, channel, lockId } = names
  const commit = (fast: boolean) => (fast ? `set_config('synchronous_commit', 'off', true)` : 'NULL::text')
  const fast = durability === 'fast'
  const ttl = (param: string) => `clock_timestamp() + ${param}::float8 * interval '1 millisecond'`
  const remaining = (column: string) =>
    `ceil(extract(epoch FROM ${column} - clock_timestamp()) * 1000)::float8`
  return {
    objectsExist: `SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL
  AND to_regclass($3) IS NOT NULL AND to_regclass($4) IS NOT NULL AND to_regclass($5) IS NOT NULL
  AND to_regclass($6) IS NOT NULL AND to_regprocedure($7) IS NOT NULL AS ok`,
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
    // One plain UPDATE: a lease nobody waits for costs nothing more. A lease
    // that waiters marked calls the hand-over function (see handoverFunction)
    // from RETURNING, after the UPDATE has locked the row: the function's
    // statements see every commit up to then (a VOLATILE function takes a
    // new snapshot per statement), so a waiter that queued while the release
    // waited for the row lock is found. The grant is part of the release's
    // transaction and commit mode.
    release: `UPDATE ${lease} t SET expires_at = clock_timestamp()
FROM (SELECT ${commit(fast)} AS sc) c
WHERE t.key = $1 AND t.owner = $2 AND t.expires_at > clock_timestamp()
RETURNING CASE WHEN t.waiters THEN ${names.handover}(t.key) END AS notified`,
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
