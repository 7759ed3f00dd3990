import { runConformance } from '@lockwork/conformance'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPostgresBackend, GRANT_LIVENESS_MS } from '../src/index.js'
import { databaseUrl, dropObjects, postgresAvailable, randomTable } from './postgres-available.js'

if (await postgresAvailable()) {
  for (const durability of ['durable', 'fast'] as const) {
    const table = randomTable(`conformance_${durability}`)
    runConformance({
      name: durability === 'durable' ? 'postgres' : 'postgres (fast)',
      // A new Pool per instance, as separate processes would have: small ones whose
      // idle clients close after 1 s, since the suite keeps dozens of instances open
      // on a shared server (with pg's 10 s default, one run held up to 83 of the
      // server's 100 connections and a concurrent PostgreSQL test file ran out; now 45).
      createBackend: () =>
        createPostgresBackend({
          connectionString: databaseUrl,
          table,
          durability,
          poolConfig: { max: 4, idleTimeoutMillis: 1_000 },
        }),
      capabilities: { grantLivenessMs: GRANT_LIVENESS_MS },
      teardown: () => dropObjects(table),
      describe,
      it,
      expect,
      beforeAll,
      afterAll,
    })
  }
} else {
  describe.skip('postgres conformance (no PostgreSQL)', () => it('needs PostgreSQL', () => {}))
}
