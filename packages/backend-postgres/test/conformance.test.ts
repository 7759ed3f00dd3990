import { runConformance } from '@lockwork/conformance'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPostgresBackend, GRANT_LIVENESS_MS } from '../src/index.js'
import { databaseUrl, dropObjects, postgresAvailable, randomTable } from './postgres-available.js'

if (await postgresAvailable()) {
  for (const durability of ['durable', 'fast'] as const) {
    const table = randomTable(`conformance_${durability}`)
    runConformance({
      name: durability === 'durable' ? 'postgres' : 'postgres (fast)',
      // A new Pool per instance, as separate processes would have (small ones:
      // the suite keeps dozens of instances open on a shared server).
      createBackend: () =>
        createPostgresBackend({ connectionString: databaseUrl, table, durability, poolConfig: { max: 4 } }),
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
