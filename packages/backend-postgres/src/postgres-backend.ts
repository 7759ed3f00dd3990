import { createHash } from 'node:crypto'
import type {
  AcquireResult,
  CacheEntry,
  ListOptions,
  ListPage,
  LockBackend,
  LockGrant,
  LockInfo,
  PermitAcquireResult,
  PermitHolders,
  StoredCacheEntry,
} from '@lockwork/core'
import { BackendError, backendClosedError, InvalidArgumentError, LockworkError } from '@lockwork/core'
import type { ClientConfig, PoolClient, PoolConfig, QueryResult, QueryResultRow } from './driver-types.js'
import { Pool } from './driver-types.js'
import { endpointOf } from './endpoint.js'
import { buildGrantSql, type GrantSql, QUEUE_SWEEP_BATCH } from './grant-statements.js'
import { type GRANT_LIVENESS_MS, GrantWaits } from './grant-wait.js'
import { listPostgres, type PostgresListStatements, postgresListStatements } from './list-statements.js'
import { listenThenLook } from './postgres-wake.js'
import { ReleaseListener } from './release-listener.js'
import type { Durability, ResolvedNames, Statements } from './schema.js'
import { buildStatements, resolveNames, SWEEP_BATCH } from './schema.js'
import {
  buildSemaphoreSql,
  SEMAPHORE_PAYLOAD_PREFIX,
  SemaphoreQueries,
  type SemaphoreSql,
} from './semaphore-statements.js'

/** Options of {@link createPostgresBackend}. */
export interface PostgresBackendOptions {
  /**
   * Your own `pg` Pool. The backend never ends it (`close()` leaves it open)
   * and adds an `error` listener to it for its lifetime, so an idle client
   * dropped by the server cannot crash the process. Give it `keepAlive: true`.
   * Pass either `pool` or `connectionString`.
   */
  readonly pool?: Pool
  /**
   * A connection string; the backend creates (and on `close()` ends) its own
   * Pool with TCP keepalive on.
   */
  readonly connectionString?: string
  /**
   * Options for the Pool the backend creates from `connectionString` (`max`,
   * `idleTimeoutMillis`, `ssl`, `statement_timeout`, …); the listening
   * connection uses them too. Only with `connectionString`.
   */
  readonly poolConfig?: Omit<PoolConfig, 'connectionString'>
  /** The schema of the backend's objects. Default `'public'`. */
  readonly schema?: string
  /**
   * The lease table's name; the cache table, fence sequence and guard table
   * are named after it with `_cache`, `_fence` and `_guard`. A plain
   * identifier of at most 57 characters, used verbatim (quoted, so case
   * matters). Default `'lockwork_lease'`.
   */
  readonly table?: string
  /**
   * Create the objects on first use (idempotent, safe when many processes
   * start at once). Turn it off when a migration tool runs
   * `postgresMigrationSql()` instead. Default `true`.
   */
  readonly createSchema?: boolean
  /**
   * How lease and cache writes are committed.
   *
   * - `'durable'` (default): the server's own `synchronous_commit` setting
   *   (normally `on`): a lease change is on disk before the call returns.
   * - `'fast'`: `synchronous_commit = off` for the backend's own writes
   *   (about twice the throughput): a server crash can forget the lease
   *   changes of its last moments (up to about 3 × `wal_writer_delay`,
   *   0.6 s by default). Fences stay strictly increasing in both modes.
   */
  readonly durability?: Durability
  /**
   * Use named prepared statements (planned once per connection: much faster).
   * Turn off behind a transaction-mode pooler that does not support them
   * (PgBouncer before 1.21, or `max_prepared_statements = 0`). Default `true`.
   */
  readonly preparedStatements?: boolean
  /**
   * Where the dedicated `LISTEN` connection goes. It must be a session
   * connection, so point it past PgBouncer when the pool goes through one.
   * Default: the pool's own connection settings.
   */
  readonly listenerConnectionString?: string
  /**
   * How often this instance sweeps released and expired leases and expired
   * cache entries (with ±50 % jitter; one sweeper runs at a time across
   * instances). `0` turns the timer off; `sweep()` still works. Default 60,000 ms.
   */
  readonly sweepIntervalMs?: number
}

/** What one {@link PostgresBackend.sweep} deleted. */
export interface SweepResult {
  /** Released or expired leases deleted. */
  readonly leases: number
  /** Semaphore rows deleted (every holder had expired or left). */
  readonly semaphores: number
  /** Expired cache entries deleted. */
  readonly cacheEntries: number
}

const NAME = 'postgres'
const DEFAULT_SWEEP_INTERVAL_MS = 60_000
/** Attempts inside one `acquire` when the holder cannot be seen (a race) or the guard needs repair. */
const ACQUIRE_ATTEMPTS = 5
/** Pauses before resending an idempotent statement after a connection error (one resend per entry). */
const RETRY_PAUSES_MS = [0, 20, 100]
/** Sweep batches per `sweep()` call at most. */
const MAX_SWEEP_BATCHES = 100

const CONNECTION_ERROR_CODES = new Set([
  '57P01', // admin_shutdown (pg_terminate_backend)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTCONN',
])

/** Whether `error` says the connection failed (so the statement may be resent on a fresh one). */
function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && (CONNECTION_ERROR_CODES.has(code) || code.startsWith('08'))) return true
  return /connection terminated|connection error|not queryable|timeout exceeded when trying to connect/i.test(
    error.message,
  )
}

const ignore = (): void => {}

type TakenRow = { fence: string }
type RefusedRow = {
  guarded: boolean
  owner: string | null
  fence: string | null
  remaining_ms: number | null
}
type HolderRow = { owner: string; fence: string; remaining_ms: number }
type CacheRow = { value: string; compute_ms: number; remaining_ms: number }

/** Runs one statement; `retry` resends it on a fresh connection after a connection error (idempotent statements only). */
type Run = <R extends QueryResultRow>(
  op: string,
  text: string,
  values: readonly unknown[],
  retry: boolean,
) => Promise<QueryResult<R>>

function toFence(text: string | null): number {
  const fence = Number(text)
  if (text === null || !Number.isSafeInteger(fence)) {
    throw new BackendError(NAME, `fence ${String(text)} is not a safe integer`)
  }
  return fence
}

/**
 * A {@link LockBackend} on PostgreSQL: leases are rows in a lease table (not
 * session advisory locks, so any pooled connection will do, also through
 * PgBouncer in transaction mode), fences come from a sequence, releases wake
 * waiters with `NOTIFY`.
 *
 * Create it with {@link createPostgresBackend}.
 */
export class PostgresBackend implements LockBackend {
  /** `'postgres'`. */
  readonly name = NAME

  readonly #pool: Pool
  readonly #ownsPool: boolean
  readonly #names: ResolvedNames
  readonly #sql: Statements
  readonly #listSql: PostgresListStatements
  readonly #semaphoreSql: SemaphoreSql
  readonly #semaphores: SemaphoreQueries
  readonly #grantSql: GrantSql
  /** Grant-on-release (`waitForGrant`). */
  readonly #grants: GrantWaits
  readonly #createSchema: boolean
  readonly #prepared: boolean
  readonly #listenerConfig: ClientConfig
  readonly #sweepIntervalMs: number
  readonly #statementNames = new Map<string, string>()
  readonly #waits = new Set<() => void>()
  readonly #onPoolError = ignore
  #listener: ReleaseListener | undefined
  #ready: Promise<void> | undefined
  /** Set once {@link #ready} has resolved: every later operation skips awaiting it. */
  #isReady = false
  #sweepTimer: NodeJS.Timeout | undefined
  #sweeping: Promise<unknown> | undefined
  #closed = false
  /** Queries sent and not yet answered; close() waits for them before it ends the pool. */
  readonly #inFlight = new Set<Promise<unknown>>()
  #closing: Promise<void> | undefined
  /** Where the pool connects (`host:port/database`), for messages. */
  readonly #endpoint: string

  /** Use {@link createPostgresBackend}; the options are validated there. */
  constructor(options: PostgresBackendOptions) {
    this.#names = resolveNames({ schema: options.schema, table: options.table })
    this.#sql = buildStatements(this.#names, options.durability ?? 'durable')
    this.#listSql = postgresListStatements(this.#names)
    this.#semaphoreSql = buildSemaphoreSql(this.#names, options.durability ?? 'durable')
    this.#semaphores = new SemaphoreQueries(this.#semaphoreSql, this.#run, () => this.#repairGuard(), toFence)
    this.#grantSql = buildGrantSql(this.#names)
    this.#grants = new GrantWaits({
      sql: this.#grantSql,
      run: this.#query,
      listener: () => this.#listen(),
      pending: this.#waits,
      toFence,
      fail: (op, error) => this.#fail(op, error),
    })
    this.#createSchema = options.createSchema ?? true
    this.#prepared = options.preparedStatements ?? true
    this.#sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS
    if (options.pool !== undefined) {
      this.#pool = options.pool
      this.#ownsPool = false
    } else {
      this.#pool = new Pool({
        keepAlive: true,
        keepAliveInitialDelayMillis: 10_000,
        connectionTimeoutMillis: 10_000,
        ...options.poolConfig,
        connectionString: options.connectionString,
      })
      this.#ownsPool = true
    }
    this.#pool.on('error', this.#onPoolError)
    this.#endpoint = endpointOf(this.#pool.options)
    const base: ClientConfig =
      options.pool !== undefined
        ? { ...this.#pool.options }
        : { ...options.poolConfig, connectionString: options.connectionString }
    if (options.listenerConnectionString !== undefined)
      base.connectionString = options.listenerConnectionString
    this.#listenerConfig = {
      ...base,
      keepAlive: true,
      keepAliveInitialDelayMillis: base.keepAliveInitialDelayMillis || 10_000,
      connectionTimeoutMillis: base.connectionTimeoutMillis || 10_000,
      application_name: base.application_name ?? 'lockwork-listener',
    }
  }

  /** The LISTEN/NOTIFY channel of this lease table (fixed per schema and table). */
  get channel(): string {
    return this.#names.channel
  }

  /** The listening connection's server process id while it listens, else `undefined`. */
  get listenerProcessId(): number | undefined {
    return this.#listener?.processId
  }

  async acquire(key: string, owner: string, ttlMs: number): Promise<AcquireResult> {
    let last: RefusedRow | undefined
    for (let attempt = 1; ; attempt++) {
      const taken = await this.#run<TakenRow>('acquire', this.#sql.acquire, [key, owner, ttlMs], true)
      const row = taken.rows[0]
      if (row !== undefined) return { acquired: true, fence: toFence(row.fence), ttlMs }
      // Refused (a live holder) or the guard row is missing: a second look says which.
      const { rows } = await this.#run<RefusedRow>('acquire', this.#sql.acquireRefused, [key], true)
      const refused = rows[0]
      if (refused?.guarded === false) {
        await this.#repairGuard()
      } else if (refused?.owner != null && (refused.remaining_ms ?? 0) > 0) {
        return { acquired: false, holder: holderFrom(refused) }
      } else {
        // A race: the holder released or its lease ran out between the two
        // statements. Take it again.
        last = refused?.owner != null ? refused : last
      }
      if (attempt >= ACQUIRE_ATTEMPTS) {
        // Heavy churn on a key with very short leases: report the last holder seen.
        return {
          acquired: false,
          holder: { owner: last?.owner ?? '', fence: last?.fence ? toFence(last.fence) : 0, remainingMs: 0 },
        }
      }
    }
  }

  async extend(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const { rows } = await this.#run('extend', this.#sql.extend, [key, owner, ttlMs], true)
    return rows.length > 0
  }

  async release(key: string, owner: string): Promise<boolean> {
    const { rows } = await this.#run('release', this.#sql.release, [key, owner], false)
    return rows.length > 0
  }

  async peek(key: string): Promise<LockInfo | null> {
    return this.#peek('peek', key)
  }

  async getCached(key: string): Promise<StoredCacheEntry | undefined> {
    const { rows } = await this.#run<CacheRow>('getCached', this.#sql.getCached, [key], true)
    const row = rows[0]
    if (row === undefined) return undefined
    return { value: row.value, computeMs: row.compute_ms, remainingMs: row.remaining_ms }
  }

  async setCached(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    await this.#run('setCached', this.#sql.setCached, [key, entry.value, entry.computeMs, ttlMs], true)
  }

  async deleteCached(key: string): Promise<boolean> {
    const { rows } = await this.#run<{ live: boolean }>('deleteCached', this.#sql.deleteCached, [key], false)
    return rows[0]?.live === true
  }

  /** {@inheritDoc @lockwork/core#LockBackend.list} Keyset paging in code point order (`COLLATE "C"`). */
  list(options: ListOptions): Promise<ListPage> {
    return listPostgres(this.#run, this.#listSql, options)
  }

  /**
   * Resolves when `key` is released (a `NOTIFY` from the release), when the
   * holder's lease runs out (plus a few ms), when `timeoutMs` ends or
   * `signal` aborts; never rejects for those. Listens first, then looks, so a
   * release after the call starts is never missed. While the listening
   * connection is down it resolves after a short pause instead, so the
   * caller re-tries.
   */
  waitForRelease(key: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError('waitForRelease'))
    return listenThenLook({
      listener: this.#listen(),
      payload: key,
      timeoutMs,
      signal,
      pending: this.#waits,
      look: async () => (await this.#peek('waitForRelease', key, true))?.remainingMs,
    })
  }

  /**
   * Grant-on-release: listens for the key's grants, then queues `owner` for
   * the key (one statement); a release hands the lease to the oldest live
   * queued owner in its own statement and `NOTIFY`s the grant, which resolves
   * this wait with the lease (no further round trip). An entry counts as live
   * while its instance refreshes it (every second, for
   * {@link GRANT_LIVENESS_MS}, 3 s); see `grant-wait.ts`. Any other end of the
   * wait leaves the queue, and reports a grant that came first.
   */
  waitForGrant(
    key: string,
    owner: string,
    ttlMs: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<LockGrant | undefined> {
    if (this.#closed) return Promise.reject(this.#closedError('waitForGrant'))
    return this.#grants.wait(key, owner, ttlMs, timeoutMs, signal)
  }

  /** {@inheritDoc @lockwork/core#LockBackend.acquirePermits} */
  acquirePermits(
    key: string,
    owner: string,
    permits: number,
    limit: number,
    ttlMs: number,
  ): Promise<PermitAcquireResult> {
    return this.#semaphores.acquire(key, owner, permits, limit, ttlMs)
  }

  /** {@inheritDoc @lockwork/core#LockBackend.extendPermits} */
  extendPermits(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.#semaphores.extend(key, owner, ttlMs)
  }

  /** {@inheritDoc @lockwork/core#LockBackend.releasePermits} */
  releasePermits(key: string, owner: string): Promise<boolean> {
    return this.#semaphores.release(key, owner)
  }

  /** {@inheritDoc @lockwork/core#LockBackend.peekPermits} */
  peekPermits(key: string): Promise<PermitHolders> {
    return this.#semaphores.peek(key)
  }

  /**
   * Resolves when `permits` of `limit` of semaphore `key` are free, when a
   * release of it is notified, when its earliest holder's lease runs out,
   * when `timeoutMs` ends or `signal` aborts; never rejects for those. Like
   * {@link waitForRelease}, it listens first, then looks.
   */
  waitForPermits(
    key: string,
    permits: number,
    limit: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError('waitForPermits'))
    return listenThenLook({
      listener: this.#listen(),
      payload: SEMAPHORE_PAYLOAD_PREFIX + key,
      timeoutMs,
      signal,
      pending: this.#waits,
      look: async () => {
        const { inUse, holders } = await this.#semaphores.peek(key, true, 'waitForPermits')
        if (inUse + permits <= limit || holders.length === 0) return undefined
        return Math.min(...holders.map((holder) => holder.remainingMs))
      },
    })
  }

  /** The listening connection, created by the first wait. */
  #listen(): ReleaseListener {
    this.#listener ??= new ReleaseListener(this.#listenerConfig, this.#names.channel, this.#sql.listen)
    return this.#listener
  }

  /**
   * Deletes released and expired leases, semaphores without an unexpired
   * holder and expired cache entries now (the timer calls it too). Lease and
   * semaphore rows are deleted under a short `SHARE` table lock, which waits
   * for running acquires: that is what keeps a fence drawn by a slow acquire
   * from landing after a newer one (see `schema.ts`).
   * Gives up quietly if another instance is sweeping or the lock is not
   * granted within 200 ms.
   */
  async sweep(): Promise<SweepResult> {
    let leases = 0
    let semaphores = 0
    let cacheEntries = 0
    await this.#ensureReady('sweep')
    try {
      for (let batch = 0; batch < MAX_SWEEP_BATCHES; batch++) {
        const deleted = await this.#sweepBatch(this.#sql.sweepTableLock, this.#sql.sweepLeases)
        leases += deleted
        if (deleted < SWEEP_BATCH) break
      }
      for (let batch = 0; batch < MAX_SWEEP_BATCHES; batch++) {
        const deleted = await this.#sweepBatch(this.#semaphoreSql.sweepTableLock, this.#semaphoreSql.sweep)
        semaphores += deleted
        if (deleted < SWEEP_BATCH) break
      }
      for (let batch = 0; batch < MAX_SWEEP_BATCHES; batch++) {
        // Entries of queued waiters that died (their waits leave the queue themselves).
        const deleted = (await this.#pool.query(this.#grantSql.sweep)).rowCount ?? 0
        if (deleted < QUEUE_SWEEP_BATCH) break
      }
      for (let batch = 0; batch < MAX_SWEEP_BATCHES; batch++) {
        const deleted = (await this.#pool.query(this.#sql.sweepCache)).rowCount ?? 0
        cacheEntries += deleted
        if (deleted < SWEEP_BATCH) break
      }
    } catch (error) {
      throw this.#fail('sweep', error)
    }
    return { leases, semaphores, cacheEntries }
  }

  /** One sweep transaction: the sweep lock, then `tableLock` (0 if either is not granted at once), then `deleteBatch`. */
  #sweepBatch(tableLock: string, deleteBatch: string): Promise<number> {
    return this.#transaction(async (client) => {
      const { rows } = await client.query<{ locked: boolean }>(this.#sql.sweepLock)
      if (rows[0]?.locked !== true) return 0
      await client.query(this.#sql.sweepLockTimeout)
      try {
        await client.query(tableLock)
      } catch (error) {
        if ((error as { code?: unknown }).code === '55P03') return 0 // lock_not_available
        throw error
      }
      return (await client.query(deleteBatch)).rowCount ?? 0
    })
  }

  /**
   * Stops the sweeper, wakes pending waits, closes the listening connection
   * and ends the Pool if the backend created it (a Pool you passed stays
   * open). Idempotent; every later call rejects with a `BackendError`.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  async #shutdown(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#sweepTimer)
    for (const finish of [...this.#waits]) finish()
    // Queued waiters leave their queues before the pool ends (a statement or two each).
    await this.#grants.settle()
    await this.#listener?.close()
    await this.#sweeping?.catch(ignore)
    await this.#ready?.catch(ignore)
    await Promise.allSettled([...this.#inFlight])
    if (this.#ownsPool) await this.#pool.end().catch(ignore)
    this.#pool.off('error', this.#onPoolError)
  }

  async #peek(op: string, key: string, markWaiting = false): Promise<LockInfo | null> {
    const text = markWaiting ? this.#sql.markWaiting : this.#sql.peek
    const { rows } = await this.#run<HolderRow>(op, text, [key], true)
    const row = rows[0]
    return row === undefined ? null : holderFrom(row)
  }

  readonly #run: Run = async <R extends QueryResultRow>(
    op: string,
    text: string,
    values: readonly unknown[],
    retry: boolean,
  ) => {
    if (this.#closed) throw this.#closedError(op)
    return this.#query<R>(op, text, values, retry)
  }

  /** {@link #run} without the closed check: grant waits leave their queues while `close()` waits for them. */
  readonly #query: Run = async <R extends QueryResultRow>(
    op: string,
    text: string,
    values: readonly unknown[],
    retry: boolean,
  ) => {
    if (!this.#isReady) {
      await this.#ensureReady(op)
      // close() may have begun while the schema was being prepared: a query queued now would never be served.
      if (this.#closed) throw this.#closedError(op)
    }
    const config = {
      text,
      values: [...values],
      ...(this.#prepared ? { name: this.#statementName(text) } : {}),
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const query = this.#pool.query<R>(config)
        // close() lets queries already sent finish before it ends the pool.
        this.#inFlight.add(query)
        try {
          return await query
        } finally {
          this.#inFlight.delete(query)
        }
      } catch (error) {
        const pause = RETRY_PAUSES_MS[attempt]
        if (!retry || this.#closed || pause === undefined || !isConnectionError(error)) {
          throw this.#fail(op, error)
        }
        // Other idle connections of the pool may have died with this one; their
        // errors arrive within milliseconds and the pool then drops them.
        if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause))
      }
    }
  }

  #statementName(text: string): string {
    let name = this.#statementNames.get(text)
    if (name === undefined) {
      name = `lockwork_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`
      this.#statementNames.set(text, name)
    }
    return name
  }

  /** A `BackendError` for a failed `op` that names the endpoint, with the driver's error as cause. */
  #fail(op: string, error: unknown): LockworkError {
    if (error instanceof LockworkError) return error
    const detail = error instanceof Error ? error.message : String(error)
    return new BackendError(NAME, `${op} failed at ${this.#endpoint}: ${detail}`, { cause: error })
  }

  #closedError(op: string): BackendError {
    return backendClosedError(NAME, op)
  }

  #ensureReady(op: string): Promise<void> {
    if (this.#ready === undefined) {
      const ready = this.#prepare().then(
        () => {
          if (this.#ready === ready) this.#isReady = true
        },
        (error: unknown) => {
          if (this.#ready === ready) this.#ready = undefined
          throw error
        },
      )
      this.#ready = ready
    }
    return this.#ready.catch((error: unknown) => {
      throw this.#fail(op, error)
    })
  }

  async #prepare(): Promise<void> {
    if (this.#createSchema) {
      const { lease, cache, fence, guard, semaphore, queue, handoverSignature } = this.#names
      const { rows } = await this.#pool.query<{ ok: boolean }>(this.#sql.objectsExist, [
        lease,
        cache,
        fence,
        guard,
        semaphore,
        queue,
        handoverSignature,
      ])
      if (rows[0]?.ok !== true) {
        await this.#transaction(async (client) => {
          await client.query(this.#sql.schemaLock)
          for (const statement of this.#sql.ddl) await client.query(statement)
        })
      }
    }
    this.#scheduleSweep()
  }

  async #repairGuard(): Promise<void> {
    try {
      await this.#transaction(async (client) => {
        for (const statement of this.#sql.guardRepair) await client.query(statement)
      })
    } catch (error) {
      throw this.#fail('acquire', error)
    }
  }

  async #transaction<T>(body: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect()
    let broken: Error | undefined
    try {
      await client.query('BEGIN')
      const result = await body(client)
      await client.query('COMMIT')
      return result
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))
      })
      throw error
    } finally {
      client.release(broken)
    }
  }

  #scheduleSweep(): void {
    if (this.#sweepIntervalMs <= 0 || this.#closed || this.#sweepTimer !== undefined) return
    const delay = this.#sweepIntervalMs * (0.5 + Math.random())
    this.#sweepTimer = setTimeout(() => {
      this.#sweeping = this.sweep()
        .catch(ignore)
        .finally(() => {
          this.#sweepTimer = undefined
          this.#sweeping = undefined
          this.#scheduleSweep()
        })
    }, delay)
    this.#sweepTimer.unref()
  }
}

function holderFrom(row: {
  owner: string | null
  fence: string | null
  remaining_ms: number | null
}): LockInfo {
  return {
    owner: row.owner ?? '',
    fence: toFence(row.fence),
    remainingMs: Math.max(0, row.remaining_ms ?? 0),
  }
}

/**
 * Creates a PostgreSQL backend.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import { createLockwork } from '@lockwork/core'
 * import { createPostgresBackend } from '@lockwork/postgres'
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, keepAlive: true })
 * const lw = createLockwork({ backend: createPostgresBackend({ pool }), prefix: 'myapp:' })
 * ```
 *
 * @throws InvalidArgumentError for a bad schema or table name, a missing or
 *   doubled connection option, an unknown durability or a bad sweep interval.
 */
export function createPostgresBackend(options: PostgresBackendOptions): PostgresBackend {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'expected an object with `pool` or `connectionString`')
  }
  if ((options.pool === undefined) === (options.connectionString === undefined)) {
    throw new InvalidArgumentError('options', 'pass exactly one of `pool` and `connectionString`')
  }
  const pool: unknown = options.pool
  if (
    pool !== undefined &&
    !(typeof pool === 'object' && pool !== null && 'query' in pool && 'connect' in pool)
  ) {
    throw new InvalidArgumentError('options.pool', 'expected a pg Pool')
  }
  if (options.connectionString !== undefined && typeof options.connectionString !== 'string') {
    throw new InvalidArgumentError('options.connectionString', 'expected a string')
  }
  if (options.poolConfig !== undefined) {
    if (options.pool !== undefined) {
      throw new InvalidArgumentError(
        'options.poolConfig',
        'applies only with `connectionString`, not with `pool`',
      )
    }
    if (typeof options.poolConfig !== 'object' || options.poolConfig === null) {
      throw new InvalidArgumentError('options.poolConfig', 'expected an object of pg Pool options')
    }
  }
  const durability = options.durability ?? 'durable'
  if (durability !== 'durable' && durability !== 'fast') {
    throw new InvalidArgumentError('options.durability', "expected 'durable' or 'fast'")
  }
  const sweep = options.sweepIntervalMs
  if (sweep !== undefined && !(typeof sweep === 'number' && Number.isFinite(sweep) && sweep >= 0)) {
    throw new InvalidArgumentError('options.sweepIntervalMs', 'expected a number of ms, 0 or more')
  }
  return new PostgresBackend(options)
}
