export type {
  IoredisConnectionOptions,
  IoredisLikeClient,
  NodeRedisLikeClient,
  RedisClientLike,
} from './client-types.js'
export { GRANT_LIVENESS_MS } from './grant-wait.js'
export type { RedisBackendOptions } from './redis-backend.js'
export { createRedisBackend, DEFAULT_KEY_PREFIX, RedisBackend } from './redis-backend.js'
export type { WaitForReplicas } from './replica-ack.js'
