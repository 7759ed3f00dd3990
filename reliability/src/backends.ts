/**
 * Every backend by name, opened the same way in the test process and in
 * worker processes, and the rule for servers that are not there.
 *
 * Server availability: when Redis or PostgreSQL does not answer, the suites
 * of that backend FAIL under `CI=true`; otherwise they are skipped after one
 * loud `console.warn` line saying how to enable them.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LockBackend } from '@lockwork/core'
import { createEtcdBackend } from '@lockwork/etcd'
import { createMemoryBackend, type MemoryStore } from '@lockwork/memory'
import { createPostgresBackend } from '@lockwork/postgres'
import { createRedisBackend } from '@lockwork/redis'
import { createSqliteBackend } from '@lockwork/sqlite'
import { Redis } from 'ioredis'
import { Client } from 'pg'

/** The backends under test. */
export type BackendName = 'memory' | 'sqlite' | 'redis' | 'postgres'

/** Where a {@link BackendTarget} lives: a backend of {@link BACKEND_NAMES}, or etcd (a cluster a test started). */
export type TargetName = BackendName | 'etcd'

/** Every backend name, in the order suites run. */
export const BACKEND_NAMES: readonly BackendName[] = ['memory', 'sqlite', 'redis', 'postgres']

/** The backends shared between processes (every one but memory). */
export const SHARED_BACKENDS: readonly BackendName[] = ['sqlite', 'redis', 'postgres']

/** The Redis server: `REDIS_URL`, default `redis://127.0.0.1:6379`. */
export const REDIS_URL: string = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/** The PostgreSQL database: `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`. */
export const DATABASE_URL: string = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Whether an unreachable server fails the run instead of skipping (`CI=true`). */
export const IN_CI: boolean = process.env.CI === 'true'

/** The lease table the PostgreSQL suites use (separate from other projects' tables). */
export const POSTGRES_TABLE = 'lockwork_reliability'

/**
 * Where one backend's state lives. Plain data, so a worker process given the
 * same target (as JSON) opens the same shared store.
 */
export interface BackendTarget {
  readonly name: TargetName
  /** sqlite: the database file. */
  readonly path?: string
  /** redis: the server URL; postgres: the connection string. Default from the environment. */
  readonly url?: string
  /** redis: the `keyPrefix`; postgres: the lease table. */
  readonly namespace?: string
  /** postgres: the backend's commit mode. Default `'durable'`. */
  readonly durability?: 'durable' | 'fast'
  /** etcd: the members' client URLs (a private cluster the test started; see `etcd-faults.test.ts`). */
  readonly endpoints?: readonly string[]
}

/**
 * A new, isolated target for `name`: a fresh SQLite file in a temporary
 * directory, a random Redis key prefix, or the reliability table in
 * PostgreSQL (isolated by random lock keys).
 */
export function freshTarget(name: BackendName): BackendTarget {
  switch (name) {
    case 'memory':
      return { name }
    case 'sqlite':
      return { name, path: join(mkdtempSync(join(tmpdir(), 'lockwork-reliability-')), 'locks.sqlite') }
    case 'redis':
      return { name, url: REDIS_URL, namespace: `lockwork-reliability-${randomBytes(6).toString('hex')}:` }
    case 'postgres':
      return { name, url: DATABASE_URL, namespace: POSTGRES_TABLE }
  }
}

/**
 * Opens a backend on `target`. Each call is a separate instance with its own
 * connection, as a separate process would have; memory backends share state
 * only through `memoryStore`.
 */
export function openBackend(target: BackendTarget, memoryStore?: MemoryStore): LockBackend {
  switch (target.name) {
    case 'memory':
      return createMemoryBackend(memoryStore === undefined ? {} : { store: memoryStore })
    case 'sqlite':
      return createSqliteBackend(target.path === undefined ? {} : { path: target.path })
    case 'redis':
      return createRedisBackend({
        url: target.url ?? REDIS_URL,
        ...(target.namespace === undefined ? {} : { keyPrefix: target.namespace }),
      })
    case 'postgres':
      return createPostgresBackend({
        connectionString: target.url ?? DATABASE_URL,
        table: target.namespace ?? POSTGRES_TABLE,
        ...(target.durability === undefined ? {} : { durability: target.durability }),
      })
    case 'etcd':
      return createEtcdBackend({
        endpoints: target.endpoints ?? [],
        ...(target.namespace === undefined ? {} : { keyPrefix: target.namespace }),
      })
  }
}

/** A random lockwork prefix, so runs never see each other's keys on a shared server. */
export function randomPrefix(label: string): string {
  return `rel-${label}-${randomBytes(5).toString('hex')}:`
}

const probes = new Map<BackendName, Promise<string | undefined>>()

/** Resolves `undefined` when `name`'s server answers, otherwise the reason it does not. */
function probe(name: BackendName): Promise<string | undefined> {
  let pending = probes.get(name)
  if (pending === undefined) {
    pending =
      name === 'redis' ? probeRedis() : name === 'postgres' ? probePostgres() : Promise.resolve(undefined)
    probes.set(name, pending)
  }
  return pending
}

async function probeRedis(): Promise<string | undefined> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.ping()
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  } finally {
    client.disconnect()
  }
}

async function probePostgres(): Promise<string | undefined> {
  const client = new Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 2_000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  } finally {
    await client.end().catch(() => {})
  }
}

const HOW_TO_ENABLE: Record<BackendName, string> = {
  memory: '',
  sqlite: '',
  redis: `start redis-server or set REDIS_URL (now ${REDIS_URL})`,
  postgres: `start PostgreSQL or set DATABASE_URL (now ${DATABASE_URL})`,
}

/**
 * Whether `name`'s server answers. When it does not: under `CI=true` this
 * rejects (so the test file fails); otherwise it prints one loud warning line
 * naming `suite` and how to enable it, and resolves `false` (the caller skips).
 */
export async function backendAvailable(name: BackendName, suite: string): Promise<boolean> {
  const reason = await probe(name)
  if (reason === undefined) return true
  const why = reason.replace(/\.+$/, '')
  if (IN_CI) throw new Error(`${suite}: ${name} is required under CI=true but unreachable: ${why}`)
  console.warn(`⚠️  SKIPPING ${suite} on ${name}: ${why}. To run it, ${HOW_TO_ENABLE[name]}.`)
  return false
}

/** The available backends among `names`, each checked with {@link backendAvailable}. */
export async function availableBackends(
  names: readonly BackendName[],
  suite: string,
): Promise<Record<BackendName, boolean>> {
  const result: Record<BackendName, boolean> = { memory: false, sqlite: false, redis: false, postgres: false }
  for (const name of names) result[name] = await backendAvailable(name, suite)
  return result
}
