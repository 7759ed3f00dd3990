import { LockFactory } from '@verrou/core'
import type { LockStore } from '@verrou/core/types'
import type { PairVariant } from '../pairs.js'
import { TTL_MS } from './common.js'

/**
 * verrou (`@verrou/core`) as a peer row: `createLock(key, ttl)`,
 * `acquireImmediately()` (never waits, as our `wait: 0`) and `release()`,
 * over one of its stores.
 */
export function verrouVariant(store: LockStore, storeLabel: string): PairVariant {
  const verrou = new LockFactory(store)
  return {
    id: 'verrou',
    label: `@verrou/core ${storeLabel}`,
    role: 'peer',
    async pair(key) {
      const lock = verrou.createLock(key, TTL_MS)
      if (!(await lock.acquireImmediately())) throw new Error(`verrou: ${key} is held`)
      await lock.release()
    },
  }
}
