import {
  type ListedCacheEntry,
  type ListedLock,
  type ListOptions,
  type ListPage,
  listByKey,
  prefixUpperBound,
} from '@lockwork/core'
import type { Database } from './driver-types.js'

/**
 * The SQL of `list` for one table set, and how to run it.
 *
 * A prefix becomes a key range, `key >= prefix AND key < upper` (see
 * `prefixUpperBound`): the primary key serves it, and `%` or `_` in a prefix
 * are plain characters, as no `LIKE` is involved. Keys compare with SQLite's
 * `BINARY` collation (code point order), the order the cursor's last key is
 * compared in. Prefix, bounds and times are bound parameters.
 */
export interface SqliteListStatements {
  /** Lock rows by key, unexpired and held, with an upper bound (`@upper`) or without. */
  readonly locks: { readonly bounded: string; readonly open: string }
  /** Cache rows by key, unexpired, with the value's size in UTF-8 bytes. */
  readonly cache: { readonly bounded: string; readonly open: string }
}

/** Quotes a table name already checked against the backend's table-name pattern. */
function quote(identifier: string): string {
  return `"${identifier}"`
}

/** Builds the `list` statements for the table set named `table` (already validated). */
export function sqliteListStatements(table: string): SqliteListStatements {
  const range = (upper: boolean) =>
    `key >= @prefix AND key > @after${upper ? ' AND key < @upper' : ''} AND expires_at > @now`
  const locks = (upper: boolean) => `
    SELECT key, owner, fence, expires_at FROM ${quote(table)}
    WHERE ${range(upper)} AND owner IS NOT NULL
    ORDER BY key LIMIT @limit`
  const cache = (upper: boolean) => `
    SELECT key, length(CAST(value AS BLOB)) AS size, expires_at FROM ${quote(`${table}_cache`)}
    WHERE ${range(upper)}
    ORDER BY key LIMIT @limit`
  return {
    locks: { bounded: locks(true), open: locks(false) },
    cache: { bounded: cache(true), open: cache(false) },
  }
}

/** Row shapes of the two queries. */
interface LockRow {
  readonly key: string
  readonly owner: string
  readonly fence: number
  readonly expires_at: number
}
interface CacheRow {
  readonly key: string
  readonly size: number
  readonly expires_at: number
}

/** Runs one read against the backend's connection, with its busy retries and error wrapping. */
export type SqliteRead = <T>(operation: string, body: (db: Database.Database) => T) => Promise<T>

/** Prepared `list` statements per connection (a connection prepares each text once). */
const prepared = new WeakMap<Database.Database, Map<string, Database.Statement>>()

function statement(db: Database.Database, sql: string): Database.Statement {
  let byText = prepared.get(db)
  if (byText === undefined) {
    byText = new Map()
    prepared.set(db, byText)
  }
  let prepare = byText.get(sql)
  if (prepare === undefined) {
    prepare = db.prepare(sql).safeIntegers(false)
    byText.set(sql, prepare)
  }
  return prepare
}

/**
 * One page of `list` on SQLite: keyset paging over the primary key, locks
 * first, then cache entries; at most two indexed range reads per page.
 */
export function listSqlite(
  read: SqliteRead,
  sql: SqliteListStatements,
  options: ListOptions,
): Promise<ListPage> {
  const rowsOf = <R>(
    texts: { readonly bounded: string; readonly open: string },
    prefix: string,
    after: string | undefined,
    limit: number,
  ): Promise<{ rows: R[]; now: number }> => {
    const upper = prefixUpperBound(prefix)
    return read('list', (db) => {
      const now = Date.now()
      const params = { prefix, after: after ?? '', now, limit, ...(upper === undefined ? {} : { upper }) }
      const rows = statement(db, upper === undefined ? texts.open : texts.bounded).all(params) as R[]
      return { rows, now }
    })
  }
  return listByKey(options, {
    locks: async (prefix, after, limit): Promise<ListedLock[]> => {
      const { rows, now } = await rowsOf<LockRow>(sql.locks, prefix, after, limit)
      return rows.map((row) => ({
        key: row.key,
        owner: row.owner,
        fence: row.fence,
        remainingMs: row.expires_at - now,
      }))
    },
    cacheEntries: async (prefix, after, limit): Promise<ListedCacheEntry[]> => {
      const { rows, now } = await rowsOf<CacheRow>(sql.cache, prefix, after, limit)
      return rows.map((row) => ({ key: row.key, size: row.size, remainingMs: row.expires_at - now }))
    },
  })
}
