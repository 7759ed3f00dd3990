import { describeLockworkOn } from './cli-cases.js'
import { pingRedis, redisStore, serverAvailable } from './stores.js'

describeLockworkOn(redisStore, await serverAvailable('Redis', pingRedis))
