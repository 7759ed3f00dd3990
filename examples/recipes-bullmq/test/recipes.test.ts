import type { ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { startExample, stopProcess } from '@lockwork/example-test-support'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { balanceKey, type DepositJob } from '../src/deposit.js'

const workerFile = fileURLToPath(new URL('../src/worker.ts', import.meta.url))
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const url = new URL(REDIS_URL)

// One queue and one key prefix per run: safe on a shared Redis, removed afterwards.
const run = randomUUID()
const queueName = `lockwork-recipes-${run}`
const keyPrefix = `lockwork-recipes:${run}:`
const JOBS = 60

let redis: Redis
let queue: Queue<DepositJob>
const workers: ChildProcess[] = []

async function startWorker(): Promise<ChildProcess> {
  const { child } = await startExample(workerFile, {
    ready: /ready/,
    env: { REDIS_URL, QUEUE: queueName, KEY_PREFIX: keyPrefix, CONCURRENCY: '10' },
  })
  return child
}

/** Adds `JOBS` deposits of 1 to `account` at once and waits until all of them completed. */
async function depositAll(account: string, locked: boolean): Promise<number> {
  await queue.addBulk(
    Array.from({ length: JOBS }, () => ({
      name: 'deposit',
      data: { account, amount: 1, locked },
      opts: { removeOnComplete: true, removeOnFail: true },
    })),
  )
  const deadline = Date.now() + 30_000
  for (;;) {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed')
    if (Object.values(counts).every((n) => n === 0)) break
    if (Date.now() > deadline) throw new Error(`jobs still pending after 30 s: ${JSON.stringify(counts)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return Number(await redis.get(balanceKey(keyPrefix, account)))
}

beforeAll(async () => {
  redis = new Redis(REDIS_URL)
  queue = new Queue<DepositJob>(queueName, {
    connection: { host: url.hostname, port: Number(url.port || 6379) },
  })
  workers.push(...(await Promise.all([1, 2, 3].map(() => startWorker()))))
}, 60_000)

afterAll(async () => {
  const exits = (await Promise.all(workers.map((child) => stopProcess(child)))).map((exit) => exit.code)
  await queue.obliterate({ force: true })
  await queue.close()
  const keys = await redis.keys(`${keyPrefix.replace(/[*?[\]\\]/g, '\\$&')}*`)
  if (keys.length > 0) await redis.del(...keys)
  await redis.quit()
  expect(exits).toEqual([0, 0, 0])
}, 30_000)

describe('the BullMQ recipe, 3 worker processes × 10 concurrent jobs on one Redis', () => {
  it(`${JOBS} deposits under withLock → the balance is ${JOBS}: no update lost`, async () => {
    expect(await depositAll('alice', true)).toBe(JOBS)
  })

  it(`without the lock, the same ${JOBS} deposits lose updates`, async () => {
    const balance = await depositAll('bob', false)
    expect(balance).toBeGreaterThan(0)
    expect(balance).toBeLessThan(JOBS)
  })
})
