import { InvalidArgumentError } from '@lockwork/core'
import type { RedisClientLike } from './client-types.js'
import type { CommandPort } from './command-port.js'
import { ioredisPort, isIoredisLike } from './ioredis-port.js'
import { isNodeRedisLike, nodeRedisPort } from './node-redis-port.js'

/**
 * The adapter for a caller's client, chosen by the client's shape: node-redis
 * (`evalSha`, `isOpen`, `isReady`) or ioredis/iovalkey (`evalsha`, `status`,
 * `isCluster`). Class names are not used: they differ across versions and
 * forks. Anything else is an `InvalidArgumentError` naming `options.client`.
 */
export function portForClient(client: RedisClientLike): CommandPort {
  if (isNodeRedisLike(client)) return nodeRedisPort(client)
  if (isIoredisLike(client)) return ioredisPort(client)
  throw new InvalidArgumentError(
    'options.client',
    'expected an ioredis or iovalkey Redis or Cluster, or a node-redis client or cluster',
  )
}
