import { createHash } from 'node:crypto'
import {
  type AcquireResult,
  BackendError,
  type CacheEntry,
  type LockBackend,
  type LockInfo,
  type PermitAcquireResult,
  type PermitHolders,
  type StoredCacheEntry,
  toBackendError,
} from '@lockwork/core'
import {
  createPool,
  type Pool,
  type PoolConnection,
  type ResultSetHeader,
  type RowDataPacket,
} from 'mysql2/promise'
import { type Statements, statements } from './schema.js'
import { acquirePermitsIn, type HolderRow, toHolders } from './semaphore-statements.js'

/** Options of {@link createMysqlBackend}: a connection URI, or a pool you own. */
export interface MysqlBackendOptions {
  /** A connection URI, e.g. `mysql://root@127.0.0.1:3306/test`. The backend opens and closes its own pool. */
  readonly uri?: string
  /** Your own `mysql2/promise` pool instead of `uri`. `close()` leaves it open. */
  readonly pool?: Pool
  /** Prefix of the tables (`<table>_locks`, `<table>_cache`, `<table>_sem`, `<table>_sem_holders`), created on first use. Default `'lockwork'`. */
  readonly table?: string
  /** Connections in the pool opened from `uri`. Default 5. */
  readonly connectionLimit?: number
  /** How often expired cache entries are deleted, in ms; 0 turns the sweep off. Default 60 000. */
  readonly sweepInterval?: number
}

/** ER_LOCK_DEADLOCK: InnoDB rolled the transaction back, so it is safe to run it again. */
const DEADLOCK = 1213
const ATTEMPTS = 5

/** What the statements take as parameters. */
type SqlValue = string | number | Buffer | null

interface LockRow extends RowDataPacket {
  owner: string | null
  fence: number | string
  remaining_ms: number | string
}

interface CacheRow extends RowDataPacket {
  value: string
  compute_ms: number
  remaining_ms: number | string
}

/**
 * A lockwork backend on MySQL 8 / MariaDB 10.6+ through mysql2: a lease
 * table, a cache table and two semaphore tables, created on first use. Every
 * operation is one atomic statement, except `acquire`: one `INSERT … ON
 * DUPLICATE KEY UPDATE` and a read of the row under its lock, in one short
 * transaction, and `acquirePermits`: one short transaction under the
 * semaphore row's lock. Time is the server's clock; extend and release check
 * the owner; fences are kept per key after release. No `waitForRelease` nor
 * `waitForPermits`: the core waits with jittered backoff.
 */
export class MysqlBackend implements LockBackend {
  readonly name = 'mysql'
  readonly #pool: Pool
  readonly #ownsPool: boolean
  readonly #sql: Statements
  #ready: Promise<void> | undefined
  #sweep: NodeJS.Timeout | undefined
  #closing: Promise<void> | undefined

  constructor(options: MysqlBackendOptions) {
    if (!options.pool && !options.uri) throw new TypeError('createMysqlBackend needs a uri or a pool')
    this.#sql = statements(options.table ?? 'lockwork')
    this.#ownsPool = !options.pool
    this.#pool =
      options.pool ??
      createPool({
        uri: options.uri,
        connectionLimit: options.connectionLimit ?? 5,
        maxIdle: 2,
        idleTimeout: 30_000,
        charset: 'utf8mb4',
        enableKeepAlive: true,
      })
    const sweepInterval = options.sweepInterval ?? 60_000
    if (sweepInterval > 0) {
      this.#sweep = setInterval(() => {
        this.#execute('sweep', this.#sql.sweepCache, []).catch(() => {})
      }, sweepInterval)
      this.#sweep.unref()
    }
  }

  async acquire(key: string, owner: string, ttlMs: number): Promise<AcquireResult> {
    const hash = keyHash(key)
    return this.#transaction('acquire', async (connection) => {
      await connection.execute(this.#sql.acquire, [hash, key, owner, ttlMs, owner, owner, owner, ttlMs])
      const [rows] = await connection.execute<LockRow[]>(this.#sql.afterAcquire, [hash])
      const row = rows[0]
      if (!row || row.owner === null) throw new Error('the lease row is missing after acquire')
      if (row.owner === owner) return { acquired: true, fence: Number(row.fence), ttlMs }
      return { acquired: false, holder: lockInfo(row) }
    })
  }

  async extend(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const [result] = await this.#execute<ResultSetHeader>('extend', this.#sql.extend, [
      ttlMs,
      keyHash(key),
      owner,
    ])
    return result.affectedRows > 0
  }

  async release(key: string, owner: string): Promise<boolean> {
    const [result] = await this.#execute<ResultSetHeader>('release', this.#sql.release, [keyHash(key), owner])
    return result.affectedRows > 0
  }

  async peek(key: string): Promise<LockInfo | null> {
    const [rows] = await this.#execute<LockRow[]>('peek', this.#sql.peek, [keyHash(key)])
    const row = rows[0]
    return row && row.owner !== null ? lockInfo(row) : null
  }

  async getCached(key: string): Promise<StoredCacheEntry | undefined> {
    const [rows] = await this.#execute<CacheRow[]>('getCached', this.#sql.getCached, [keyHash(key)])
    const row = rows[0]
    if (!row) return undefined
    return { value: row.value, computeMs: Number(row.compute_ms), remainingMs: Number(row.remaining_ms) }
  }

  async setCached(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    await this.#execute('setCached', this.#sql.setCached, [
      keyHash(key),
      key,
      entry.value,
      entry.computeMs,
      ttlMs,
    ])
  }

  async deleteCached(key: string): Promise<boolean> {
    const [result] = await this.#execute<ResultSetHeader>('deleteCached', this.#sql.deleteCached, [
      keyHash(key),
    ])
    return result.affectedRows > 0
  }

  /** One transaction: lock the semaphore's row, count the permits in use, add the holder (see `semaphore-statements.ts`). */
  async acquirePermits(
    key: string,
    owner: string,
    permits: number,
    limit: number,
    ttlMs: number,
  ): Promise<PermitAcquireResult> {
    const hash = keyHash(key)
    return this.#transaction('acquirePermits', (connection) =>
      acquirePermitsIn(connection, this.#sql.semaphore, hash, key, owner, permits, limit, ttlMs),
    )
  }

  async extendPermits(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const [result] = await this.#execute<ResultSetHeader>(
      'extendPermits',
      this.#sql.semaphore.extendPermits,
      [ttlMs, keyHash(key), owner],
    )
    return result.affectedRows > 0
  }

  async releasePermits(key: string, owner: string): Promise<boolean> {
    const [result] = await this.#execute<ResultSetHeader>(
      'releasePermits',
      this.#sql.semaphore.releasePermits,
      [keyHash(key), owner],
    )
    return result.affectedRows > 0
  }

  async peekPermits(key: string): Promise<PermitHolders> {
    const [rows] = await this.#execute<HolderRow[]>('peekPermits', this.#sql.semaphore.peekPermits, [
      keyHash(key),
    ])
    return toHolders(rows)
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#sweep)
      if (this.#ownsPool) await this.#pool.end()
    })()
    return this.#closing
  }

  /** Creates the tables once per instance; a failure is retried by the next call. */
  #ensureTables(): Promise<void> {
    this.#ready ??= (async () => {
      await this.#pool.query(this.#sql.createLocks)
      await this.#pool.query(this.#sql.createCache)
      await this.#pool.query(this.#sql.semaphore.createSemaphores)
      await this.#pool.query(this.#sql.semaphore.createHolders)
    })().catch((error: unknown) => {
      this.#ready = undefined
      throw error
    })
    return this.#ready
  }

  #open(operation: string): void {
    if (this.#closing) throw new BackendError(this.name, `${operation} after close()`)
  }

  /** One statement on any pooled connection. */
  async #execute<T extends RowDataPacket[] | ResultSetHeader>(
    operation: string,
    sql: string,
    values: SqlValue[],
  ): Promise<[T, unknown]> {
    this.#open(operation)
    try {
      await this.#ensureTables()
      return await this.#pool.execute<T>(sql, values)
    } catch (error) {
      throw toBackendError(this.name, operation, error)
    }
  }

  /** A short transaction on one connection, run again after a deadlock (InnoDB rolled it back). */
  async #transaction<T>(operation: string, body: (connection: PoolConnection) => Promise<T>): Promise<T> {
    this.#open(operation)
    try {
      await this.#ensureTables()
      for (let attempt = 1; ; attempt++) {
        const connection = await this.#pool.getConnection()
        try {
          await connection.beginTransaction()
          const result = await body(connection)
          await connection.commit()
          return result
        } catch (error) {
          await connection.rollback().catch(() => {})
          if (attempt >= ATTEMPTS || errno(error) !== DEADLOCK) throw error
        } finally {
          connection.release()
        }
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt))
      }
    } catch (error) {
      throw toBackendError(this.name, operation, error)
    }
  }
}

/**
 * Creates a {@link MysqlBackend}.
 *
 * ```ts
 * const lw = createLockwork({ backend: createMysqlBackend({ uri: process.env.MYSQL_URL }) })
 * ```
 */
export function createMysqlBackend(options: MysqlBackendOptions): MysqlBackend {
  return new MysqlBackend(options)
}

/** The fixed-length primary key of a key: SHA-256 of its UTF-8 bytes (the core forbids unpaired surrogates, so this is one-to-one in practice). */
function keyHash(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest()
}

function lockInfo(row: LockRow): LockInfo {
  return {
    owner: row.owner ?? '',
    fence: Number(row.fence),
    remainingMs: Math.max(0, Number(row.remaining_ms)),
  }
}

function errno(error: unknown): number {
  const value = (error as { errno?: unknown } | null)?.errno
  return typeof value === 'number' ? value : 0
}
