import { setTimeout as sleep } from 'node:timers/promises'
import type { Lockwork } from '@lockwork/core'
import type { Redis } from 'ioredis'

/** The data of a `deposit` job. */
export interface DepositJob {
  /** The account credited. */
  readonly account: string
  /** The amount added to its balance. */
  readonly amount: number
  /** Whether the job takes the account's lock (the recipe) or not (to show what goes wrong). */
  readonly locked: boolean
}

/** Where an account's balance lives in Redis. */
export function balanceKey(keyPrefix: string, account: string): string {
  return `${keyPrefix}balance:${account}`
}

/**
 * Credits an account with a read-modify-write of its balance, the way a job
 * does when the new value needs application logic (a ledger rule, a limit,
 * a call out) between the read and the write. With `locked`, `withLock`
 * holds the account's lock around the whole sequence, so concurrent jobs on
 * any worker process apply one after the other; without it, two jobs can
 * read the same balance and one credit overwrites the other.
 */
export async function deposit(
  lw: Lockwork,
  redis: Redis,
  keyPrefix: string,
  job: DepositJob,
): Promise<number> {
  const update = async (): Promise<number> => {
    const key = balanceKey(keyPrefix, job.account)
    const balance = Number((await redis.get(key)) ?? 0)
    await sleep(20) // the application logic between the read and the write
    const next = balance + job.amount
    await redis.set(key, String(next))
    return next
  }
  if (!job.locked) return update()
  return lw.withLock(`account:${job.account}`, update, { ttl: '10s', wait: '30s' })
}
