/**
 * A BullMQ worker process: it takes `deposit` jobs from a queue and credits
 * a balance in Redis under the account's lockwork lock. Run several of them.
 * Environment: `REDIS_URL` (default `redis://127.0.0.1:6379`), `QUEUE`
 * (default `deposits`), `KEY_PREFIX` (the Redis prefix of the balances and of
 * the locks, default `recipes:`), `CONCURRENCY` (jobs at once per process,
 * default 10). Prints `ready` once it takes jobs; on SIGTERM it stops taking
 * jobs, lets the running ones finish, closes the lockwork client and exits 0.
 */
import { createLockwork } from '@lockwork/core'
import { createRedisBackend } from '@lockwork/redis'
import { Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { type DepositJob, deposit } from './deposit.js'

const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const keyPrefix = process.env.KEY_PREFIX ?? 'recipes:'
const lw = createLockwork({
  backend: createRedisBackend({ url: url.href, keyPrefix: `${keyPrefix}locks:` }),
})
const redis = new Redis(url.href)

const worker = new Worker<DepositJob, number>(
  process.env.QUEUE ?? 'deposits',
  (job) => deposit(lw, redis, keyPrefix, job.data),
  {
    // BullMQ's blocking connection needs maxRetriesPerRequest: null; it is not the lock's connection.
    connection: { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null },
    concurrency: Number(process.env.CONCURRENCY ?? 10),
  },
)
worker.on('failed', (job, error) => console.error(`job ${job?.id} failed:`, error))
await worker.waitUntilReady()
console.log('ready')

const shutdown = async (): Promise<void> => {
  await worker.close() // waits for the jobs in progress, and so for their locks
  await lw.close()
  await redis.quit()
  process.exit(0)
}
process.once('SIGTERM', () => void shutdown())
process.once('SIGINT', () => void shutdown())
