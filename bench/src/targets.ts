import { join } from 'node:path'
import { createLockwork, type LockBackend, type Lockwork } from '@lockwork/core'
import { createEtcdBackend } from '@lockwork/etcd'
import { createMemoryBackend } from '@lockwork/memory'
import { createRedisBackend } from '@lockwork/redis'
import { createSqliteBackend } from '@lockwork/sqlite'
import type { BackendName } from './cli.js'
import { redisUrl } from './services.js'
import { openPostgresBackend } from './suites/postgres.js'

/** What every process of one run shares: where the backends keep their state. */
export interface RunConfig {
  /** Unique per run: key prefixes, the PostgreSQL table and Redis key names contain it. */
  readonly runId: string
  /** The folder of the run's SQLite files. */
  readonly sqliteDir: string
  /** The etcd members' client URLs, when etcd is benchmarked. */
  readonly etcdEndpoints?: readonly string[]
}

/** A lockwork client over one backend, as a user would set it up. */
export interface Target {
  readonly lw: Lockwork
  readonly backend: LockBackend
  close(): Promise<void>
}

/**
 * Opens the backend every process of the run shares (the same SQLite file,
 * the same Redis key prefix, the same PostgreSQL table) under a client.
 */
export function openTarget(name: BackendName, config: RunConfig): Target {
  const backend = openBackend(name, config)
  return {
    lw: createLockwork({ backend, prefix: `bench-${config.runId}:` }),
    backend,
    close: () => backend.close(),
  }
}

function openBackend(name: BackendName, config: RunConfig): LockBackend {
  switch (name) {
    case 'memory':
      return createMemoryBackend()
    case 'sqlite':
      return createSqliteBackend({ path: join(config.sqliteDir, 'shared.sqlite') })
    case 'redis':
      return createRedisBackend({ url: redisUrl, keyPrefix: `lockwork-bench-${config.runId}:` })
    case 'postgres':
      return openPostgresBackend(config.runId, 'durable')
    case 'etcd':
      if (config.etcdEndpoints === undefined) throw new Error('etcd has no endpoints in this run')
      return createEtcdBackend({
        endpoints: config.etcdEndpoints,
        keyPrefix: `lockwork-bench-${config.runId}/`,
      })
  }
}
