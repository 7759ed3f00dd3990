import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { LockBackend } from '@lockwork/core'
import { CliError } from './cli-error.js'
import { EXIT_CODES } from './exit-codes.js'

/** Options that pick the backend's own namespace, matching what the application passed its backend. */
export interface StoreOptions {
  /** SQLite: the table name stem; PostgreSQL: the lease table. Default: the backend's default. */
  readonly table?: string
  /** PostgreSQL: the schema. Default `public`. */
  readonly schema?: string
  /** Redis: the backend's `keyPrefix`. Default `lockwork:`. */
  readonly keyPrefix?: string
}

/** What a store URL names. */
export type StoreLocation =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'redis'; readonly url: string }
  | { readonly kind: 'postgres'; readonly url: string }

/**
 * Reads a store URL: `sqlite:<path>` (relative or absolute) or
 * `sqlite:///<absolute path>`, `redis://…` or `rediss://…`, and
 * `postgres://…` or `postgresql://…`.
 *
 * @throws CliError (usage) for anything else.
 */
export function parseStoreUrl(url: string): StoreLocation {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase()
  if (scheme === 'sqlite') {
    const rest = url.slice('sqlite:'.length)
    // sqlite:///abs/path → /abs/path; sqlite://x (a host) is not a file.
    if (rest.startsWith('//') && !rest.startsWith('///'))
      throw usage(`${url}: write sqlite:<path> or sqlite:///<absolute path>`)
    const path = rest.startsWith('///') ? rest.slice(2) : rest
    if (path === '') throw usage(`${url}: the SQLite URL names no file`)
    return { kind: 'sqlite', path }
  }
  if (scheme === 'redis' || scheme === 'rediss') return { kind: 'redis', url }
  if (scheme === 'postgres' || scheme === 'postgresql') return { kind: 'postgres', url }
  throw usage(
    `unknown store URL ${JSON.stringify(url)}: expected sqlite:<path>, redis://host:port or postgres://user@host/db`,
  )
}

function usage(message: string): CliError {
  return new CliError(message, EXIT_CODES.usage)
}

/** The package that serves each kind of store, and its driver. */
const PACKAGES = {
  sqlite: { name: '@lockwork/sqlite', driver: 'better-sqlite3' },
  redis: { name: '@lockwork/redis', driver: 'ioredis' },
  postgres: { name: '@lockwork/postgres', driver: 'pg' },
} as const

/** Loads a backend package, or explains which package to install. */
async function load<T>(kind: StoreLocation['kind'], importer: () => Promise<T>): Promise<T> {
  try {
    return await importer()
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error
    const { name, driver } = PACKAGES[kind]
    const missing = /['"]((?:@[^/'"]+\/)?[^/'"]+)/.exec(String((error as Error).message))?.[1]
    const what = missing === driver ? `its driver ${driver}` : name
    throw new CliError(
      `a ${kind} store needs ${what}, which is not installed: npm install ${name} ${driver}`,
      EXIT_CODES.usage,
      { cause: error },
    )
  }
}

/**
 * Opens the backend a store URL names, loading its package on demand (they
 * are optional peer dependencies). With `create` false (every command but
 * `exec`), a missing SQLite file or PostgreSQL table is an error, not created.
 */
export async function openStore(
  url: string,
  options: StoreOptions = {},
  create = false,
): Promise<LockBackend> {
  const location = parseStoreUrl(url)
  switch (location.kind) {
    case 'sqlite': {
      // A mistyped path would otherwise create an empty database and show nothing held.
      if (!create && !existsSync(location.path))
        throw new CliError(`no SQLite database at ${resolve(location.path)}`, EXIT_CODES.store)
      const { createSqliteBackend } = await load('sqlite', () => import('@lockwork/sqlite'))
      return createSqliteBackend({
        path: location.path,
        ...(options.table === undefined ? {} : { table: options.table }),
      })
    }
    case 'redis': {
      const { createRedisBackend } = await load('redis', () => import('@lockwork/redis'))
      return createRedisBackend({
        url: location.url,
        ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
      })
    }
    case 'postgres': {
      const { createPostgresBackend } = await load('postgres', () => import('@lockwork/postgres'))
      return createPostgresBackend({
        connectionString: location.url,
        poolConfig: { max: 2, connectionTimeoutMillis: 5_000 },
        // Looking must not create tables in a database that has none (a wrong URL or table).
        createSchema: create,
        ...(options.table === undefined ? {} : { table: options.table }),
        ...(options.schema === undefined ? {} : { schema: options.schema }),
      })
    }
  }
}
