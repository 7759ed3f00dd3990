import {
  BackendError,
  type ListedCacheEntry,
  type ListedLock,
  type ListOptions,
  type ListPage,
  listByKey,
  prefixUpperBound,
} from '@lockwork/core'
import type { QueryResult, QueryResultRow } from './driver-types.js'
import type { ResolvedNames } from './schema.js'

/**
 * The SQL of `list`. A prefix becomes a key range in code point order
 * (`COLLATE "C"`, whatever the database's collation): `key >= $1 AND key <
 * $2`, with `$2` from `prefixUpperBound`, so `%` and `_` in a prefix are plain
 * characters (no `LIKE`). The cursor's last key is `$3`, compared in the same
 * order. Every value is a `$n` parameter; only the validated, quoted table
 * names are part of the text. A page reads the lease table in full (the
 * primary key's index uses the database's collation, not `"C"`): fine for an
 * operator's listing, not for a request path.
 */
export interface PostgresListStatements {
  /** `$1` prefix, `$2` upper bound or NULL, `$3` last key or '', `$4` limit → `{key, owner, fence, remaining_ms}`. */
  readonly locks: string
  /** Same parameters → `{key, size, remaining_ms}`, size in bytes. */
  readonly cache: string
}

/** Builds the `list` statements for the backend's objects. */
export function postgresListStatements(names: ResolvedNames): PostgresListStatements {
  const remaining = `ceil(extract(epoch FROM expires_at - clock_timestamp()) * 1000)::float8`
  const where = `(key COLLATE "C") >= $1::text AND ($2::text IS NULL OR (key COLLATE "C") < $2::text)
  AND (key COLLATE "C") > $3::text AND expires_at > clock_timestamp()
ORDER BY key COLLATE "C" LIMIT $4::int`
  return {
    locks: `SELECT key, owner, fence::text AS fence, ${remaining} AS remaining_ms FROM ${names.lease}
WHERE ${where}`,
    cache: `SELECT key, octet_length(value) AS size, ${remaining} AS remaining_ms FROM ${names.cache}
WHERE ${where}`,
  }
}

/** Runs one read through the backend (readiness, resends after a connection error, error wrapping). */
export type PostgresRead = <R extends QueryResultRow>(
  op: string,
  text: string,
  values: readonly unknown[],
  retry: boolean,
) => Promise<QueryResult<R>>

type LockRow = { key: string; owner: string; fence: string; remaining_ms: number }
type CacheRow = { key: string; size: number; remaining_ms: number }

/** One page of `list` on PostgreSQL: keyset paging in code point order, locks first, then cache entries. */
export function listPostgres(
  read: PostgresRead,
  sql: PostgresListStatements,
  options: ListOptions,
): Promise<ListPage> {
  const values = (prefix: string, after: string | undefined, limit: number) => [
    prefix,
    prefixUpperBound(prefix) ?? null,
    after ?? '',
    limit,
  ]
  return listByKey(options, {
    locks: async (prefix, after, limit): Promise<ListedLock[]> => {
      const { rows } = await read<LockRow>('list', sql.locks, values(prefix, after, limit), true)
      return rows.map((row) => {
        const fence = Number(row.fence)
        if (!Number.isSafeInteger(fence))
          throw new BackendError('postgres', `fence ${row.fence} is not a safe integer`)
        return { key: row.key, owner: row.owner, fence, remainingMs: Math.max(1, row.remaining_ms) }
      })
    },
    cacheEntries: async (prefix, after, limit): Promise<ListedCacheEntry[]> => {
      const { rows } = await read<CacheRow>('list', sql.cache, values(prefix, after, limit), true)
      return rows.map((row) => ({ key: row.key, size: row.size, remainingMs: Math.max(1, row.remaining_ms) }))
    },
  })
}
