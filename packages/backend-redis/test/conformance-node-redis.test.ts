import { runConformance } from '@lockwork/conformance'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisBackend } from '../src/index.js'
import { ClientPool } from './clients.js'
import { deleteTestKeys, randomPrefix, redisAvailable } from './redis-available.js'

const keyPrefix = randomPrefix('conformance-node-redis')
const clients = new ClientPool()

if (await redisAvailable()) {
  runConformance({
    name: 'redis (node-redis)',
    // A new node-redis client per instance, as separate processes would have.
    createBackend: async () =>
      createRedisBackend({ client: (await clients.open('node-redis')).client, keyPrefix }),
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
} else {
  describe.skip('redis conformance with node-redis (no Redis)', () => it('needs Redis', () => {}))
}
