import { runConformance } from '@lockwork/conformance'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisBackend, GRANT_LIVENESS_MS } from '../src/index.js'
import { type ClientKind, ClientPool } from './clients.js'
import { deleteTestKeys, randomPrefix, redisAvailable } from './redis-available.js'

/**
 * Runs the whole conformance suite on the shared Redis through `kind`'s
 * client library, a new client per instance, as separate processes would
 * have. One test file per library, so the runs go in parallel.
 */
export async function runConformanceThrough(kind: ClientKind): Promise<void> {
  if (!(await redisAvailable())) {
    describe.skip(`redis conformance with ${kind} (no Redis)`, () => it('needs Redis', () => {}))
    return
  }
  const keyPrefix = randomPrefix(`conformance-${kind}`)
  const clients = new ClientPool()
  runConformance({
    capabilities: { grantLivenessMs: GRANT_LIVENESS_MS },
    name: `redis (${kind})`,
    createBackend: async () => createRedisBackend({ client: (await clients.open(kind)).client, keyPrefix }),
    describe,
    it,
    expect,
    beforeAll,
    afterAll,
    teardown: async () => {
      await clients.closeAll()
      await deleteTestKeys()
    },
  })
}
