import { randomUUID } from 'node:crypto'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import {
  LOCK_ACQUIRE_START_CHANNEL,
  LOCK_ACQUIRED_CHANNEL,
  LOCK_EXTENDED_CHANNEL,
  LOCK_FAILED_CHANNEL,
  LOCK_LOST_CHANNEL,
  LOCK_RELEASED_CHANNEL,
  LOCK_WAIT_CHANNEL,
  type LockBackend,
  type Lockwork,
} from '@lockwork/core'
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

/** Every lock channel the core publishes on. */
const LOCK_CHANNELS = [
  LOCK_ACQUIRE_START_CHANNEL,
  LOCK_WAIT_CHANNEL,
  LOCK_ACQUIRED_CHANNEL,
  LOCK_FAILED_CHANNEL,
  LOCK_EXTENDED_CHANNEL,
  LOCK_RELEASED_CHANNEL,
  LOCK_LOST_CHANNEL,
]

/**
 * {@link lockworkVariant} with a subscriber on every lock diagnostics channel
 * while its slices run (and only then), so the core builds and publishes each
 * message: the cost of telemetry, against the plain row of the same run.
 */
export function observedLockworkVariant(lw: Lockwork): PairVariant {
  let events = 0
  const listener = () => {
    events++
  }
  const plain = lockworkVariant(lw)
  return {
    id: 'lockwork-observed',
    label: 'lockwork acquire+release, telemetry subscribed',
    role: 'ours',
    async pair(key) {
      const before = events
      await plain.pair(key)
      if (events === before) throw new Error('lockwork-observed: no telemetry event was published')
    },
    enterSlice() {
      for (const name of LOCK_CHANNELS) subscribe(name, listener)
    },
    leaveSlice() {
      for (const name of LOCK_CHANNELS) unsubscribe(name, listener)
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
