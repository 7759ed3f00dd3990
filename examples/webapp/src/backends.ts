import type { LockBackend } from '@lockwork/core'
import { createEtcdBackend } from '@lockwork/etcd'
import { createPostgresBackend } from '@lockwork/postgres'
import { createRedisBackend } from '@lockwork/redis'
import { createSqliteBackend } from '@lockwork/sqlite'
import pg from 'pg'
import type { DemoSettings } from './settings.js'

/** A backend instance and how to let go of it. */
export interface DemoBackend {
  readonly backend: LockBackend
  /** Closes the backend and anything opened for it. */
  close(): Promise<void>
}

/** Connections per worker to PostgreSQL: a few are plenty, and the server's limit is shared. */
const POSTGRES_POOL_SIZE = 4

/** Creates this process's own backend instance (its own connections or file handle) over the shared store. */
export function createBackend(settings: DemoSettings): DemoBackend {
  switch (settings.backend) {
    case 'sqlite': {
      if (settings.sqlitePath === undefined) throw new Error('the sqlite backend needs a path')
      const backend = createSqliteBackend({ path: settings.sqlitePath })
      return { backend, close: () => backend.close() }
    }
    case 'redis': {
      const backend = createRedisBackend({ url: settings.redisUrl })
      return { backend, close: () => backend.close() }
    }
    case 'etcd': {
      const backend = createEtcdBackend({ endpoints: settings.etcdEndpoints })
      return { backend, close: () => backend.close() }
    }
    case 'postgres': {
      const pool = new pg.Pool({
        connectionString: settings.databaseUrl,
        max: POSTGRES_POOL_SIZE,
        keepAlive: true,
        application_name: 'lockwork-demo',
      })
      const backend = createPostgresBackend({ pool })
      return {
        backend,
        close: async () => {
          await backend.close()
          await pool.end()
        },
      }
    }
  }
}

/** Where the locks live, for the progress output (passwords hidden). */
export function describeStore(settings: DemoSettings): string {
  switch (settings.backend) {
    case 'sqlite':
      return `SQLite file ${settings.sqlitePath}`
    case 'redis':
      return `Redis at ${hidePassword(settings.redisUrl)}`
    case 'postgres':
      return `PostgreSQL at ${hidePassword(settings.databaseUrl)}`
    case 'etcd':
      return `etcd at ${settings.etcdEndpoints.join(',')}`
  }
}

function hidePassword(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return url
  }
}
