import { Redis } from 'ioredis'
import pg from 'pg'

/** The Redis server to benchmark: `REDIS_URL`, default `redis://127.0.0.1:6379`. */
export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/** The PostgreSQL server to benchmark: `DATABASE_URL`, default the local `postgres` database. */
export const postgresUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** Whether a missing server must fail the run (`CI=true`). */
export const inCi = process.env.CI === 'true'

/** A reachable server and its version, or why it is not reachable. */
export type Probe =
  | { readonly ok: true; readonly version: string }
  | { readonly ok: false; readonly reason: string }

/** Connects to Redis once and reads its version. */
export async function probeRedis(): Promise<Probe> {
  const client = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    const info = await client.info('server')
    const version = /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? 'unknown'
    return { ok: true, version }
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) }
  } finally {
    client.disconnect()
  }
}

/** Connects to PostgreSQL once and reads its version. */
export async function probePostgres(): Promise<Probe> {
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 2_000 })
  client.on('error', () => {})
  try {
    await client.connect()
    const result = await client.query<{ server_version: string }>('SHOW server_version')
    return { ok: true, version: result.rows[0]?.server_version ?? 'unknown' }
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) }
  } finally {
    await client.end().catch(() => {})
  }
}
