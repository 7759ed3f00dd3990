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
  /** Redis or etcd: the backend's `keyPrefix`. Default `lockwork:` (Redis), `lockwork/` (etcd). */
  readonly keyPrefix?: string
}

/** What a store URL names. */
export type StoreLocation =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'redis'; readonly url: string }
  | { readonly kind: 'postgres'; readonly url: string }
  /** `endpoints`: the members' client URLs, e.g. `http://10.0.0.1:2379`. */
  | { readonly kind: 'etcd'; readonly endpoints: readonly string[] }

/**
 * Reads a store URL: `sqlite:<path>` (relative or absolute) or
 * `sqlite:///<absolute path>`, `redis://…` or `rediss://…`, and
 * `postgres://…` or `postgresql://…`, and `etcd://host:port[,host:port…]`
 * (plain-text gRPC; `etcd+https://` is refused: no TLS options from the
 * command line yet).
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
  if (scheme === 'etcd') return { kind: 'etcd', endpoints: etcdEndpoints(url) }
  if (scheme === 'etcd+https' || scheme === 'etcds')
    throw usage(
      `${url}: TLS to etcd is not supported from the command line yet; use etcd://host:port ` +
        '(or createEtcdBackend({ etcdOptions }) from code)',
    )
  throw usage(
    `unknown store URL ${JSON.stringify(url)}: expected sqlite:<path>, redis://host:port, ` +
      'postgres://user@host/db or etcd://host:port[,host:port…]',
  )
}

/** `etcd://a:2379,b:2379` → `['http://a:2379', 'http://b:2379']`; each member needs a host and a port. */
function etcdEndpoints(url: string): string[] {
  const rest = url.slice('etcd://'.length)
  if (!/^etcd:\/\//i.test(url) || rest === '') throw usage(`${url}: write etcd://host:port[,host:port…]`)
  return rest.split(',').map((member) => {
    // host:port or [IPv6]:port, nothing else (no path, user or query: the etcd URL names members only).
    const match = /^(\[[0-9a-f:.]+\]|[^\s/:@?#[\]]+):(\d{1,5})\/?$/i.exec(member)
    const port = Number(match?.[2])
    if (match === null || port < 1 || port > 65_535)
      throw usage(`${url}: ${JSON.stringify(member)} is not host:port (write etcd://host:port[,host:port…])`)
    return `http://${match[1]}:${port}`
  })
}

function usage(message: string): CliError {
  return new CliError(message, EXIT_CODES.usage)
}

/** The package that serves each kind of store, and its driver. */
const PACKAGES = {
  sqlite: { name: '@lockwork/sqlite', driver: 'better-sqlite3' },
  redis: { name: '@lockwork/redis', driver: 'ioredis' },
  postgres: { name: '@lockwork/postgres', driver: 'pg' },
  etcd: { name: '@lockwork/etcd', driver: 'etcd3' },
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
      `${kind === 'etcd' ? 'an' : 'a'} ${kind} store needs ${what}, which is not installed: npm install ${name} ${driver}`,
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
    case 'etcd': {
      const { createEtcdBackend } = await load('etcd', () => import('@lockwork/etcd'))
      return createEtcdBackend({
        endpoints: location.endpoints,
        // Each call fails after this long (naming the endpoints) when no member answers.
        operationTimeoutMs: 5_000,
        ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
      })
    }
  }
}
