import { resolve as resolvePath } from 'node:path'
import type {
  AcquireResult,
  CacheEntry,
  Duration,
  ListOptions,
  ListPage,
  LockBackend,
  LockInfo,
  PermitAcquireResult,
  PermitHolders,
  StoredCacheEntry,
} from '@lockwork/core'
import { BackendError, backendClosedError, InvalidArgumentError, LockworkError, toMs } from '@lockwork/core'
import { Database } from './driver-types.js'
import { listSqlite, type SqliteListStatements, sqliteListStatements } from './list-statements.js'
import { returningRow } from './returning-row.js'
import { type SqliteSchema, sqliteSchema, TABLE_NAME_PATTERN } from './schema.js'
import { prepareSemaphoreStatements, type SemaphoreStatements } from './semaphore-statements.js'
import { jitter, notify, pollUntilFree } from './sqlite-wake.js'
import { SqliteWakeFile, WAKE_FILE_SUFFIX } from './sqlite-wake-file.js'

/** The database file used when neither `path` nor `database` is given, relative to the working directory. */
export const DEFAULT_SQLITE_PATH = '.lockwork.sqlite'

/** The table name stem used when `table` is not given. */
export const DEFAULT_SQLITE_TABLE = 'lockwork'

/** Options of {@link createSqliteBackend}. */
export interface SqliteBackendOptions {
  /**
   * The database file, shared by every process that locks together. It must
   * be on a local disk (WAL does not work over NFS or other network file
   * systems); its directory must exist. Default {@link DEFAULT_SQLITE_PATH}.
   * Mutually exclusive with `database`.
   */
  readonly path?: string
  /**
   * A better-sqlite3 `Database` you opened yourself. The backend switches it
   * to WAL, sets its `busy_timeout` to `busyTimeout` and creates its tables
   * in it; `close()` does not close it (you do). Mutually exclusive with `path`.
   */
  readonly database?: Database.Database
  /**
   * The table name stem: leases live in `<table>`, cache entries in
   * `<table>_cache`, the fence floor in `<table>_meta`. An identifier of
   * letters, digits and `_`, at most 48 long. Default {@link DEFAULT_SQLITE_TABLE}.
   */
  readonly table?: string
  /**
   * `PRAGMA synchronous`: `'NORMAL'` (default) survives a crash of any
   * process but may lose the last transactions on power loss or an OS crash;
   * `'FULL'` also survives those, at the cost of an fsync per operation.
   * Applied to a caller-supplied `database` only when given.
   */
  readonly synchronous?: 'NORMAL' | 'FULL'
  /**
   * How long one SQLite call may wait, synchronously, for another
   * connection's write lock before it gives up with `SQLITE_BUSY` (and the
   * backend retries asynchronously). Keep it small: this time blocks the
   * event loop. Default 5 ms.
   */
  readonly busyTimeout?: Duration
  /** For how long an operation retries `SQLITE_BUSY` before failing with a `BackendError`. Default `'10s'`. */
  readonly busyRetryFor?: Duration
  /** Free or expired lock rows older than this are deleted by the sweep. Default `'1h'`. */
  readonly retainFreeFor?: Duration
  /** How often (at most) each instance sweeps expired rows, piggybacked on a write. Default `'1m'`. */
  readonly sweepInterval?: Duration
  /**
   * The longest pause between two polls of `waitForRelease` (it starts near
   * 1 ms) where the wake file cannot be watched. Where it can, polls are only
   * a safety net and their pause grows to the larger of this and 1 s. Default 50 ms.
   */
  readonly pollMax?: Duration
}

/** The longest pause between two safety polls of a `waitForRelease` that watches the wake file, in ms. */
const WATCHED_POLL_MAX_MS = 1_000

/** The longest pause between two `SQLITE_BUSY` retries, in ms. */
const BUSY_RETRY_MAX_DELAY_MS = 20

/** Row shape of the `holder` and `peek` statements. */
interface HolderRow {
  readonly owner: string | null
  readonly fence: number
  readonly expires_at: number
}

/** Row shape of the `getCached` statement. */
interface CacheRow {
  readonly value: string
  readonly compute_ms: number
  readonly expires_at: number
}

/** One open connection with its prepared statements. */
interface Connection {
  readonly db: Database.Database
  /** The process that opened it: a connection is never used in another (forked) process. */
  readonly pid: number
  /** Prepared statements; `undefined` until the schema has been created. */
  statements: Statements | undefined
}

/** The prepared statements of one connection. */
interface Statements {
  readonly acquire: (key: string, owner: string, ttlMs: number) => AcquireResult
  readonly extend: Database.Statement
  readonly releaseUnwaited: Database.Statement
  readonly release: Database.Statement
  readonly flagWaiter: Database.Statement
  readonly peek: Database.Statement
  readonly sweep: (now: number, cutoff: number) => void
  readonly getCached: Database.Statement
  readonly setCached: Database.Statement
  readonly deleteCached: Database.Statement
  readonly semaphore: SemaphoreStatements
}

/** Channel names of in-memory databases, which have no path: one per `Database` object. */
const memoryChannels = new WeakMap<Database.Database, string>()
let memoryChannelCount = 0

function memoryChannel(db: Database.Database): string {
  let channel = memoryChannels.get(db)
  if (channel === undefined) {
    channel = `memory:${++memoryChannelCount}`
    memoryChannels.set(db, channel)
  }
  return channel
}

/**
 * Whether `path` names an in-memory database: `:memory:`, or a `file:` URI
 * for `:memory:` or with `mode=memory`.
 */
function isInMemoryPath(path: string): boolean {
  if (path === ':memory:') return true
  if (!/^file:/i.test(path)) return false
  const [file = '', query = ''] = path.slice('file:'.length).split('?', 2)
  return file.replace(/^\/\/[^/]*/, '') === ':memory:' || /(^|&)mode=memory(&|$)/i.test(query)
}

/** Whether a driver error is SQLite's "database is locked" (`SQLITE_BUSY` and its extended codes). */
function isBusy(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('code' in error)) return false
  const { code } = error
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY')
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * A {@link LockBackend} on one SQLite file (better-sqlite3, WAL): every
 * process on one machine that opens the same file shares the same locks,
 * fences and cache, with no server.
 *
 * Every operation is one atomic statement or one `BEGIN IMMEDIATE`
 * transaction. SQLite waits at most `busyTimeout` (a few ms) for another
 * connection's write lock; past that the operation is retried after a
 * jittered asynchronous delay, so a busy file never stalls the event loop.
 * Time is the machine's `Date.now()`.
 */
export class SqliteBackend implements LockBackend {
  /** Always `'sqlite'`. */
  readonly name = 'sqlite'

  readonly #path: string | undefined
  readonly #supplied: Database.Database | undefined
  readonly #schema: SqliteSchema
  readonly #listStatements: SqliteListStatements
  readonly #channel: string
  /** The in-process wake-up channel of the semaphores (their keys are a namespace of their own). */
  readonly #semaphoreChannel: string
  readonly #synchronous: 'NORMAL' | 'FULL' | undefined
  readonly #busyTimeoutMs: number
  readonly #busyRetryForMs: number
  readonly #retainFreeForMs: number
  readonly #sweepIntervalMs: number
  readonly #pollMaxMs: number
  readonly #pendingWaits = new Set<() => void>()
  /** Watches the wake file for the waits of this instance (`undefined` where it cannot be watched). */
  readonly #watchWakeFile = (onChange: () => void): (() => void) | undefined => this.#wake?.watch(onChange)
  /** Cross-process wake-up; `undefined` for an in-memory database (no other process can open it). */
  readonly #wake: SqliteWakeFile | undefined
  #connection: Connection | undefined
  #lastSweep = Number.NEGATIVE_INFINITY
  #closed = false

  /** Validates `options`; the file is opened on first use. Prefer {@link createSqliteBackend}. */
  constructor(options: SqliteBackendOptions = {}) {
    if (options.path !== undefined && options.database !== undefined) {
      throw new InvalidArgumentError('options', 'give either path or database, not both')
    }
    if (options.path !== undefined && (typeof options.path !== 'string' || options.path === '')) {
      throw new InvalidArgumentError('options.path', 'expected a non-empty file path')
    }
    if (options.path !== undefined && isInMemoryPath(options.path)) {
      throw new InvalidArgumentError(
        'options.path',
        `${JSON.stringify(options.path)} is an in-memory database: each backend would get its own, ` +
          'so two backends would both "hold" the same key. Give a file path (or use @lockwork/memory in one process)',
      )
    }
    const table = options.table ?? DEFAULT_SQLITE_TABLE
    if (typeof table !== 'string' || !TABLE_NAME_PATTERN.test(table)) {
      throw new InvalidArgumentError(
        'options.table',
        'expected an identifier of letters, digits and _ (at most 48, not starting with a digit or sqlite_)',
      )
    }
    const synchronous = options.synchronous
    if (synchronous !== undefined && synchronous !== 'NORMAL' && synchronous !== 'FULL') {
      throw new InvalidArgumentError('options.synchronous', `expected 'NORMAL' or 'FULL'`)
    }
    this.#schema = sqliteSchema(table)
    this.#listStatements = sqliteListStatements(table)
    this.#synchronous = options.database === undefined ? (synchronous ?? 'NORMAL') : synchronous
    this.#busyTimeoutMs = toMs(options.busyTimeout ?? 5, 'options.busyTimeout', true)
    this.#busyRetryForMs = toMs(options.busyRetryFor ?? '10s', 'options.busyRetryFor')
    this.#retainFreeForMs = toMs(options.retainFreeFor ?? '1h', 'options.retainFreeFor', true)
    this.#sweepIntervalMs = toMs(options.sweepInterval ?? '1m', 'options.sweepInterval', true)
    this.#pollMaxMs = toMs(options.pollMax ?? 50, 'options.pollMax')

    if (options.database === undefined) {
      this.#path = options.path ?? DEFAULT_SQLITE_PATH
      this.#channel = `${resolvePath(this.#path)}\u0000${table}`
      this.#wake = new SqliteWakeFile(resolvePath(this.#path) + WAKE_FILE_SUFFIX)
    } else {
      this.#supplied = options.database
      const db = options.database
      const inMemory = db.memory || db.name === ''
      const file = inMemory ? memoryChannel(db) : resolvePath(db.name)
      this.#channel = `${file}\u0000${table}`
      this.#wake = inMemory ? undefined : new SqliteWakeFile(file + WAKE_FILE_SUFFIX)
    }
    this.#semaphoreChannel = `${this.#channel}\u0000semaphore`
  }

  /** {@inheritDoc @lockwork/core#LockBackend.acquire} */
  acquire(key: string, owner: string, ttlMs: number): Promise<AcquireResult> {
    return this.#run('acquire', true, (s) => s.acquire(key, owner, ttlMs))
  }

  /** {@inheritDoc @lockwork/core#LockBackend.extend} */
  extend(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.#run('extend', true, (s) => {
      const now = Date.now()
      return s.extend.run(now + ttlMs, key, owner, now).changes === 1
    })
  }

  /** {@inheritDoc @lockwork/core#LockBackend.release} */
  release(key: string, owner: string): Promise<boolean> {
    return this.#run('release', true, (s) => {
      const now = Date.now()
      // The common case in one statement without RETURNING; a lease a waiter
      // flagged (or one not held) takes the second, which reads the flag.
      const waited =
        s.releaseUnwaited.run(now, key, owner, now).changes === 1
          ? 0
          : (returningRow(s.release.all(now, key, owner, now)) as number | undefined)
      if (waited === undefined) return false
      // After the write: waiters woken here find the key free. The wake file
      // is written only when a waiter flagged this lease (see waitForRelease):
      // the write and the wake-ups it causes cost every release otherwise.
      try {
        notify(this.#channel, key)
      } finally {
        if (waited !== 0) this.#wake?.touch()
      }
      return true
    })
  }

  /** {@inheritDoc @lockwork/core#LockBackend.peek} */
  peek(key: string): Promise<LockInfo | null> {
    return this.#run('peek', false, (s) => {
      const now = Date.now()
      const row = s.peek.get(key, now) as HolderRow | undefined
      if (row === undefined || row.owner === null) return null
      return { owner: row.owner, fence: row.fence, remainingMs: row.expires_at - now }
    })
  }

  /** {@inheritDoc @lockwork/core#LockBackend.getCached} */
  getCached(key: string): Promise<StoredCacheEntry | undefined> {
    return this.#run('getCached', false, (s) => {
      const now = Date.now()
      const row = s.getCached.get({ key, now }) as CacheRow | undefined
      if (row === undefined) return undefined
      return { value: row.value, computeMs: row.compute_ms, remainingMs: row.expires_at - now }
    })
  }

  /** {@inheritDoc @lockwork/core#LockBackend.setCached} */
  setCached(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    return this.#run('setCached', true, (s) => {
      const expiresAt = Date.now() + ttlMs
      s.setCached.run({ key, value: entry.value, computeMs: entry.computeMs, expiresAt })
    })
  }

  /** {@inheritDoc @lockwork/core#LockBackend.deleteCached} */
  deleteCached(key: string): Promise<boolean> {
    return this.#run('deleteCached', true, (s) => {
      const row = returningRow(s.deleteCached.all({ key })) as { expires_at: number } | undefined
      return row !== undefined && row.expires_at > Date.now()
    })
  }

  /** {@inheritDoc @lockwork/core#LockBackend.list} Keyset paging over the primary key, in code point order. */
  list(options: ListOptions): Promise<ListPage> {
    return listSqlite(
      (operation, body) => this.#run(operation, false, () => body((this.#connection as Connection).db)),
      this.#listStatements,
      options,
    )
  }

  /**
   * Resolves when `key` is free (released, expired, or taken over by a new
   * holder), when `timeoutMs` ends, or when `signal` aborts; it never rejects
   * for those, nor for a failed poll (the caller's next attempt reports it).
   * A release through any instance on the same file in this process wakes it
   * at once; in another process, the release of a lease this wait flagged
   * (its first look marks the lease it sees, after the watch has started)
   * touches the wake file, which this process watches, and wakes it within
   * about a millisecond. Polls remain as
   * a safety net (and the only way where the wake file cannot be watched):
   * their pause starts near 1 ms, doubles up to 1 s (`pollMax` without a
   * watch), and never outlasts the holder's remaining lease. Rejects with a `BackendError` only when called
   * after {@link close}; waits pending at `close()` resolve.
   */
  waitForRelease(key: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError('waitForRelease'))
    let seenFence: number | undefined
    const wake = this.#wake
    return pollUntilFree({
      channel: this.#channel,
      key,
      timeoutMs,
      signal,
      pollMaxMs: this.#pollMaxMs,
      watch: this.#watchWakeFile,
      watchedPollMaxMs: WATCHED_POLL_MAX_MS,
      pending: this.#pendingWaits,
      look: async () => {
        const holder = await this.peek(key)
        if (holder === null || (seenFence !== undefined && holder.fence !== seenFence)) return undefined
        if (seenFence === undefined && wake !== undefined) {
          // Flag the lease (if it still holds the key) so that its release
          // writes the wake file; the watch started before this look, so that
          // write reaches this wait. A lease that changed hands since the
          // look ends the wait: the caller's next attempt decides.
          const flagged = await this.#run('waitForRelease', true, (s) => {
            return s.flagWaiter.run(key, holder.fence, Date.now()).changes === 1
          })
          if (!flagged) return undefined
        }
        seenFence = holder.fence
        return holder.remainingMs
      },
    })
  }

  /** {@inheritDoc @lockwork/core#LockBackend.acquirePermits} */
  acquirePermits(
    key: string,
    owner: string,
    permits: number,
    limit: number,
    ttlMs: number,
  ): Promise<PermitAcquireResult> {
    return this.#run('acquirePermits', true, (s) => s.semaphore.acquire(key, owner, permits, limit, ttlMs))
  }

  /** {@inheritDoc @lockwork/core#LockBackend.extendPermits} */
  extendPermits(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.#run('extendPermits', true, (s) => s.semaphore.extend(key, owner, ttlMs))
  }

  /** {@inheritDoc @lockwork/core#LockBackend.releasePermits} */
  async releasePermits(key: string, owner: string): Promise<boolean> {
    const released = await this.#run('releasePermits', true, (s) => s.semaphore.release(key, owner))
    if (released) {
      notify(this.#semaphoreChannel, key)
      this.#wake?.touch()
    }
    return released
  }

  /** {@inheritDoc @lockwork/core#LockBackend.peekPermits} */
  peekPermits(key: string): Promise<PermitHolders> {
    return this.#run('peekPermits', false, (s) => s.semaphore.peek(key))
  }

  /**
   * Resolves when `permits` of `limit` of semaphore `key` are free, when
   * `timeoutMs` ends, or when `signal` aborts; like {@link waitForRelease}, a
   * release in this process wakes it at once and one elsewhere is seen by
   * polling, never later than the earliest holder's expiry.
   */
  waitForPermits(
    key: string,
    permits: number,
    limit: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError('waitForPermits'))
    return pollUntilFree({
      channel: this.#semaphoreChannel,
      key,
      timeoutMs,
      signal,
      pollMaxMs: this.#pollMaxMs,
      watch: this.#watchWakeFile,
      watchedPollMaxMs: WATCHED_POLL_MAX_MS,
      pending: this.#pendingWaits,
      look: async () => {
        const { inUse, holders } = await this.peekPermits(key)
        if (inUse + permits <= limit) return undefined
        return Math.min(...holders.map((holder) => holder.remainingMs))
      },
    })
  }

  /**
   * Closes the connection this backend opened (a caller-supplied `database`
   * is left open) and wakes its pending waits. Idempotent; every call after
   * it rejects with a `BackendError`.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const finish of [...this.#pendingWaits]) finish()
    this.#wake?.close()
    const connection = this.#connection
    this.#connection = undefined
    if (connection !== undefined && this.#supplied === undefined && connection.pid === process.pid) {
      try {
        connection.db.close()
      } catch (error) {
        throw this.#fail('close', error)
      }
    }
  }

  /** The database file (resolved), or a description of a supplied database, for messages. */
  #where(): string {
    if (this.#supplied === undefined) return resolvePath(this.#path ?? DEFAULT_SQLITE_PATH)
    const name = this.#supplied.name
    return this.#supplied.memory || name === '' ? 'the supplied in-memory database' : resolvePath(name)
  }

  /** A `BackendError` for a failed `operation` that names the database file, with the driver's error as cause. */
  #fail(operation: string, error: unknown): LockworkError {
    if (error instanceof LockworkError) return error
    const detail = error instanceof Error ? error.message : String(error)
    return new BackendError(this.name, `${operation} failed on ${this.#where()}: ${detail}`, { cause: error })
  }

  #closedError(operation: string): BackendError {
    return backendClosedError(this.name, operation)
  }

  /**
   * Runs one synchronous operation against the connection, retrying
   * `SQLITE_BUSY` after jittered asynchronous pauses for up to `busyRetryFor`.
   * Every other driver error becomes a `BackendError` at once.
   */
  #run<T>(operation: string, write: boolean, body: (statements: Statements) => T): Promise<T> {
    // The common case, synchronously: one attempt that is not busy.
    if (!this.#closed) {
      const started = performance.now()
      try {
        const result = body(this.#statements())
        if (write) this.#maybeSweep()
        return Promise.resolve(result)
      } catch (error) {
        if (!isBusy(error)) return Promise.reject(this.#fail(operation, error))
        return this.#retry(operation, write, body, started, error)
      }
    }
    return Promise.reject(this.#closedError(operation))
  }

  /** {@link #run} after a busy attempt (`busy`, its error): retries after jittered pauses until `busyRetryFor` ends. */
  async #retry<T>(
    operation: string,
    write: boolean,
    body: (statements: Statements) => T,
    started: number,
    busy: unknown,
  ): Promise<T> {
    let pause = 1
    let error = busy
    for (;;) {
      const waited = performance.now() - started
      if (waited >= this.#busyRetryForMs) {
        throw new BackendError(
          this.name,
          `${operation} failed on ${this.#where()}: the database stayed locked for ${Math.round(waited)} ms`,
          { cause: error },
        )
      }
      await sleep(jitter(pause))
      pause = Math.min(pause * 2, BUSY_RETRY_MAX_DELAY_MS)
      if (this.#closed) throw this.#closedError(operation)
      let result: T
      try {
        result = body(this.#statements())
      } catch (caught) {
        if (!isBusy(caught)) throw this.#fail(operation, caught)
        error = caught
        continue
      }
      if (write) this.#maybeSweep()
      return result
    }
  }

  /** The prepared statements of a usable connection, opening it (and creating the schema) on first use. */
  #statements(): Statements {
    let connection = this.#connection
    if (connection !== undefined && connection.pid !== process.pid) {
      // Inherited across fork: SQLite connections must not cross processes.
      if (this.#supplied !== undefined) {
        throw new BackendError(
          this.name,
          `the supplied database was opened in process ${connection.pid}, not this one (${process.pid}); ` +
            'open a new Database after fork, or pass a path',
        )
      }
      // Drop it without closing (closing could disturb the parent's file locks) and reopen.
      connection = undefined
      this.#connection = undefined
    }
    if (connection === undefined) {
      connection = this.#open()
      this.#connection = connection
    }
    if (connection.statements === undefined) connection.statements = this.#prepare(connection.db)
    return connection.statements
  }

  #open(): Connection {
    let db: Database.Database
    if (this.#supplied === undefined) {
      db = new Database(this.#path, { timeout: this.#busyTimeoutMs })
    } else {
      db = this.#supplied
      if (!db.open) throw new BackendError(this.name, 'the supplied database is closed')
      db.pragma(`busy_timeout = ${this.#busyTimeoutMs}`)
    }
    return { db, pid: process.pid, statements: undefined }
  }

  /** Sets the pragmas, creates the schema if missing and prepares the statements (may throw SQLITE_BUSY: retried). */
  #prepare(db: Database.Database): Statements {
    db.pragma('journal_mode = WAL')
    if (this.#synchronous !== undefined) db.pragma(`synchronous = ${this.#synchronous}`)
    const schema = this.#schema
    db.transaction(() => {
      db.exec(schema.create)
      // A file made before the waiter flag existed: add it (earlier versions'
      // statements name their columns, so they keep working beside it).
      if (db.prepare(schema.hasWaitedColumn).get() === undefined) db.exec(schema.addWaitedColumn)
    }).immediate()

    // Fences and times are plain numbers even if the caller's database defaults to BigInt.
    const prepare = (sql: string): Database.Statement => {
      return db.prepare(sql).safeIntegers(false)
    }
    // The hot statements return one value: plucked, no row object is built for it.
    const acquireStatement = prepare(schema.acquire).pluck()
    const holderStatement = prepare(schema.holder)
    const raiseFenceFloor = prepare(schema.raiseFenceFloor)
    const sweepLocks = prepare(schema.sweepLocks)
    const sweepCache = prepare(schema.sweepCache)

    const tryTake = (key: string, owner: string, ttlMs: number): number | undefined => {
      const now = Date.now()
      return returningRow(acquireStatement.all(key, owner, now + ttlMs, now, now)) as number | undefined
    }
    // When the key is held, the failed upsert and the read of the holder run in
    // one write transaction, so the holder read is the one that kept us out.
    const acquireContended = db.transaction((key: string, owner: string, ttlMs: number): AcquireResult => {
      const fence = tryTake(key, owner, ttlMs)
      if (fence !== undefined) return { acquired: true, fence, ttlMs }
      const now = Date.now()
      const row = holderStatement.get(key) as HolderRow | undefined
      if (row === undefined || row.owner === null) {
        throw new Error(`acquire found no holder for a key it could not take`)
      }
      // The lease was live at the upsert's clock reading; this one can be a millisecond later.
      return {
        acquired: false,
        holder: { owner: row.owner, fence: row.fence, remainingMs: Math.max(1, row.expires_at - now) },
      }
    })
    const semaphore = prepareSemaphoreStatements(db, schema.semaphore)
    const sweep = db.transaction((now: number, cutoff: number) => {
      raiseFenceFloor.run({ cutoff })
      sweepLocks.run({ cutoff })
      sweepCache.run({ now })
      semaphore.sweep(now, cutoff)
    })

    return {
      // The upsert alone is one atomic write statement (it takes the write lock
      // before it reads), so the common case needs no explicit transaction.
      // Inside a caller's transaction it stays a savepoint, as before.
      acquire: (key, owner, ttlMs) => {
        const fence = db.inTransaction ? undefined : tryTake(key, owner, ttlMs)
        return fence === undefined
          ? acquireContended.immediate(key, owner, ttlMs)
          : { acquired: true, fence, ttlMs }
      },
      extend: prepare(schema.extend),
      releaseUnwaited: prepare(schema.releaseUnwaited),
      release: prepare(schema.release).pluck(),
      flagWaiter: prepare(schema.flagWaiter),
      peek: prepare(schema.peek),
      sweep: (now, cutoff) => sweep.immediate(now, cutoff),
      getCached: prepare(schema.getCached),
      setCached: prepare(schema.setCached),
      deleteCached: prepare(schema.deleteCached),
      semaphore,
    }
  }

  /**
   * Deletes lock rows free or expired for longer than `retainFreeFor` and
   * expired cache entries, at most once per `sweepInterval`. Best effort: a
   * busy file (or any failure) skips the sweep until the next write.
   */
  #maybeSweep(): void {
    const now = Date.now()
    if (now - this.#lastSweep < this.#sweepIntervalMs) return
    const statements = this.#connection?.statements
    if (statements === undefined) return
    try {
      statements.sweep(now, now - this.#retainFreeForMs)
      this.#lastSweep = now
    } catch {
      // Housekeeping only: the operation it follows has succeeded and must be
      // reported as such. A busy file or any other failure retries on a later write.
    }
  }
}

/**
 * Creates a {@link SqliteBackend}: locks, fences and a cache shared by every
 * process on this machine that opens the same file.
 *
 * @example
 * ```ts
 * const lw = createLockwork({ backend: createSqliteBackend({ path: '.lockwork.sqlite' }), prefix: 'myapp:' })
 * ```
 */
export function createSqliteBackend(options: SqliteBackendOptions = {}): SqliteBackend {
  return new SqliteBackend(options)
}
