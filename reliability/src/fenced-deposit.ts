import type { Lockwork } from '@lockwork/core'
import type { FencedStore } from './fenced-store.js'

/**
 * Adds `amount` to account `id` under the account's lock. The fence goes
 * with the read and with the write: if the lease was lost in between and a
 * newer holder has touched the account, the write throws `StaleFenceError`
 * and nothing changes, so the caller can retry instead of losing an update.
 */
export async function deposit(
  lw: Lockwork,
  ledger: FencedStore<number>,
  id: string,
  amount: number,
): Promise<number> {
  return lw.withLock(`account:${id}`, async (lock) => {
    const balance = ledger.read(`account:${id}`, lock.fence) ?? 0
    ledger.write(`account:${id}`, balance + amount, lock.fence)
    return balance + amount
  })
}
