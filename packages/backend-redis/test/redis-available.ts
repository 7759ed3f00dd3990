import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'

/** The Redis server the tests use: `REDIS_URL`, default `redis://127.0.0.1:6379`. */
export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/** Whether the environment requires every test to run (`CI=true`). */
export const inCi = process.env.CI === 'true'

/** The start of every prefix {@link randomPrefix} makes in this process (each test file runs in its own). */
export const runPrefix = `lockwork-test-${randomBytes(4).toString('hex')}-`

/** A fresh key prefix, so tests never see each other's keys on a shared server. */
export function randomPrefix(label = 'test'): string {
  return `${runPrefix}${label}-${randomBytes(6).toString('hex')}:`
}

/**
 * Deletes the keys this process created (every key containing {@link runPrefix}),
 * fence counters included, from the server at {@link redisUrl} or the given one.
 */
export async function deleteTestKeys(client?: Redis): Promise<void> {
  const redis = client ?? new Redis(redisUrl, { maxRetriesPerRequest: 1 })
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `*${runPrefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await redis.unlink(...keys)
    } while (cursor !== '0')
  } finally {
    if (client === undefined) redis.disconnect()
  }
}

/**
 * Whether Redis answers at {@link redisUrl}. When it does not: under
 * `CI=true` this throws (the test file fails); otherwise it prints one loud
 * line saying how to enable the tests and returns false, so the suites skip.
 */
export async function redisAvailable(): Promise<boolean> {
  const probe = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  })
  let lastError: Error | undefined
  probe.on('error', (error: Error) => {
    lastError = error
  })
  try {
    await probe.connect()
    await probe.ping()
    return true
  } catch (error) {
    const reason = lastError?.message ?? (error instanceof Error ? error.message : String(error))
    if (inCi) throw new Error(`Redis is required under CI=true but ${redisUrl} is unreachable: ${reason}`)
    console.warn(
      `⚠️  SKIPPING @lockwork/redis tests: no Redis at ${redisUrl} (${reason}). Start redis-server or set REDIS_URL to run them.`,
    )
    return false
  } finally {
    probe.disconnect()
  }
}
