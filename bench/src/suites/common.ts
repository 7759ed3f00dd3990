import { randomUUID } from 'node:crypto'
import type { LockBackend, Lockwork } from '@lockwork/core'
import type { PairVariant } from '../pairs.js'

/** The lease every variant takes, in ms (long enough never to expire mid-pair). */
export const TTL_MS = 30_000

/**
 * The user's path: `lw.acquire(key, { wait: 0 })` then `lock.release()`,
 * including the owner token, validation and the `Lock` handle.
 */
export function lockworkVariant(lw: Lockwork): PairVariant {
  return {
    id: 'lockwork',
    label: 'lockwork acquire+release',
    role: 'ours',
    async pair(key) {
      const lock = await lw.acquire(key, { wait: 0 })
      if (!(await lock.release())) throw new Error(`lockwork: release of ${key} returned false`)
    },
  }
}

/** The backend alone: `backend.acquire` + `backend.release`, no core. */
export function bareVariant(backend: LockBackend): PairVariant {
  return {
    id: 'bare',
    label: 'bare backend (no core)',
    role: 'bare',
    async pair(key) {
      const owner = randomUUID()
      const result = await backend.acquire(key, owner, TTL_MS)
      if (!result.acquired) throw new Error(`bare: ${key} is held by ${result.holder.owner}`)
      if (!(await backend.release(key, owner))) throw new Error(`bare: release of ${key} returned false`)
    },
  }
}
