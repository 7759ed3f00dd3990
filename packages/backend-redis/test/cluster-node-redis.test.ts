import { runConformance } from '@lockwork/conformance'
import { createCluster } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisBackend, GRANT_LIVENESS_MS } from '../src/index.js'
import { randomPrefix } from './redis-available.js'
import { RedisCluster, redisServerAvailable } from './redis-process.js'

// The conformance suite over node-redis cluster clients (`createCluster`), on a private 3-master
// Redis Cluster of its own (so it runs beside the ioredis cluster tests, not after them).
const enabled = redisServerAvailable('the @lockwork/redis node-redis cluster tests')
const keyPrefix = randomPrefix('cluster-node-redis')
let cluster: RedisCluster | undefined
const clients: { destroy(): void }[] = []

/** A new, connected node-redis cluster client (closed in teardown: the backend never closes a caller's client). */
async function newCluster() {
  if (cluster === undefined) throw new Error('the cluster is not running')
  const client = createCluster({
    rootNodes: cluster.startupNodes.map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
  })
  client.on('error', () => {})
  clients.push(client)
  await client.connect()
  return client
}

describe.skipIf(!enabled)('redis cluster (node-redis)', () => {
  beforeAll(async () => {
    cluster = await RedisCluster.start(3)
  }, 60_000)
  afterAll(async () => {
    for (const client of clients.splice(0)) client.destroy()
    await cluster?.destroy()
  })

  runConformance({
    capabilities: { grantLivenessMs: GRANT_LIVENESS_MS },
    name: 'redis cluster (node-redis)',
    createBackend: async () => createRedisBackend({ client: await newCluster(), keyPrefix }),
    describe,
    it,
    expect,
    beforeAll,
    afterAll,
  })
})
