import { runConformance } from '@lockwork/conformance'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisBackend, GRANT_LIVENESS_MS } from '../src/index.js'
import { deleteTestKeys, randomPrefix, redisAvailable, redisUrl } from './redis-available.js'

const keyPrefix = randomPrefix('conformance')

if (await redisAvailable()) {
  runConformance({
    capabilities: { grantLivenessMs: GRANT_LIVENESS_MS },
    name: 'redis',
    // A new ioredis connection per instance, as separate processes would have.
    createBackend: () => createRedisBackend({ url: redisUrl, keyPrefix }),
    describe,
    it,
    expect,
    beforeAll,
    afterAll,
    teardown: () => deleteTestKeys(),
  })
} else {
  describe.skip('redis conformance (no Redis)', () => it('needs Redis', () => {}))
}
