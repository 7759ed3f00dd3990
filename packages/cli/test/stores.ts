import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LockBackend } from '@lockwork/core'
import { createPostgresBackend } from '@lockwork/postgres'
import { createRedisBackend } from '@lockwork/redis'
import { createSqliteBackend } from '@lockwork/sqlite'
import { Redis } from 'ioredis'
import pg from 'pg'

/** The Redis server of the tests: `REDIS_URL`, default `redis://127.0.0.1:6379`. */
export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** The PostgreSQL database of the tests: `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`. */
export const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** One store the command line is tested against: its URL, the flags that isolate this run, and a backend on it. */
export interface TestStore {
  readonly name: string
  readonly url: string
  /** Flags that point the command line at this run's table or key prefix. */
  readonly flags: readonly string[]
  /** Where the store is, as JSON-safe data a child process can rebuild a backend from ({@link backendAt}). */
  readonly spec: StoreSpec
  /** A backend on the same store and namespace, for the test process that holds locks. */
  backend(): LockBackend
  /** Removes what the run left in the store. */
  cleanup(): Promise<void>
}

/** A store and namespace as plain data. */
export type StoreSpec =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'redis'; readonly keyPrefix: string }
  | { readonly kind: 'postgres'; readonly table: string }

/** A backend on the store and namespace of `spec`. */
export function backendAt(spec: StoreSpec): LockBackend {
  switch (spec.kind) {
    case 'sqlite':
      return createSqliteBackend({ path: spec.path })
    case 'redis':
      return createRedisBackend({ url: redisUrl, keyPrefix: spec.keyPrefix })
    case 'postgres':
      return createPostgresBackend({
        connectionString: databaseUrl,
        table: spec.table,
        poolConfig: { max: 2 },
      })
  }
}

/** A SQLite file in a temporary directory. */
export function sqliteStore(): TestStore {
  const dir = mkdtempSync(join(tmpdir(), 'lockwork-cli-'))
  const path = join(dir, 'locks.sqlite')
  return {
    name: 'sqlite',
    url: `sqlite:${path}`,
    flags: [],
    spec: { kind: 'sqlite', path },
    backend: () => backendAt({ kind: 'sqlite', path }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  }
}

/** A random key prefix on the shared Redis server. */
export function redisStore(): TestStore {
  const keyPrefix = `lockwork-cli-test-${randomBytes(5).toString('hex')}:`
  return {
    name: 'redis',
    url: redisUrl,
    flags: ['--redis-key-prefix', keyPrefix],
    spec: { kind: 'redis', keyPrefix },
    backend: () => backendAt({ kind: 'redis', keyPrefix }),
    cleanup: async () => {
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
      try {
        let cursor = '0'
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000)
          cursor = next
          if (keys.length > 0) await redis.unlink(...keys)
        } while (cursor !== '0')
      } finally {
        redis.disconnect()
      }
    },
  }
}

/** A random lease table in the shared PostgreSQL database. */
export function postgresStore(): TestStore {
  const table = `lw_cli_${randomBytes(5).toString('hex')}`
  return {
    name: 'postgres',
    url: databaseUrl,
    flags: ['--table', table],
    spec: { kind: 'postgres', table },
    backend: () => backendAt({ kind: 'postgres', table }),
    cleanup: async () => {
      const client = new pg.Client({ connectionString: databaseUrl })
      await client.connect()
      try {
        const q = (suffix: string) => `"public"."${table}${suffix}"`
        await client.query(
          `DROP TABLE IF EXISTS ${q('')}, ${q('_cache')}, ${q('_guard')}, ${q('_sem')}, ${q('_queue')}; DROP SEQUENCE IF EXISTS ${q('_fence')}; DROP FUNCTION IF EXISTS ${q('_grant')}(text)`,
        )
      } finally {
        await client.end()
      }
    },
  }
}

/**
 * Whether a server answers: `probe` resolves. Under `CI=true` a missing
 * server fails the file; otherwise one loud line says how to run the tests.
 */
export async function serverAvailable(what: string, probe: () => Promise<unknown>): Promise<boolean> {
  try {
    await probe()
    return true
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    if (process.env.CI === 'true') throw new Error(`${what} is required under CI=true: ${reason}`)
    console.warn(
      `⚠️  SKIPPING the @lockwork/cli tests on ${what}: ${reason}. Start it (or set its URL) to run them.`,
    )
    return false
  }
}

/** Resolves when Redis answers a PING. */
export async function pingRedis(): Promise<void> {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  redis.on('error', () => {})
  try {
    await redis.connect()
    await redis.ping()
  } finally {
    redis.disconnect()
  }
}

/** Resolves when PostgreSQL accepts a connection. */
export async function pingPostgres(): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 2_000 })
  await client.connect()
  await client.end()
}
