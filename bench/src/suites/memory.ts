import { randomUUID } from 'node:crypto'
import { createLockwork, type LockBackend } from '@lockwork/core'
import { createMemoryBackend } from '@lockwork/memory'
import { memoryStore } from '@verrou/core/drivers/memory'
import { Mutex } from 'async-mutex'
import NodeCache from 'node-cache'
import type { BackendSuite, PairVariant } from '../pairs.js'
import { bareVariant, lockworkVariant } from './common.js'
import { verrouVariant } from './verrou.js'

/**
 * The memory backend against node-cache doing the same lease bookkeeping by
 * hand (get → set → get → del) and async-mutex (a mutex per key).
 */
export async function memorySuite(): Promise<BackendSuite> {
  const backend: LockBackend = createMemoryBackend()
  const cache = new NodeCache({ useClones: false, stdTTL: 0, checkperiod: 0 })
  const mutexes = new Map<string, Mutex>()

  const nodeCache: PairVariant = {
    id: 'node-cache',
    label: 'node-cache get/set/get/del',
    role: 'floor',
    async pair(key) {
      const owner = randomUUID()
      if (cache.get<string>(key) !== undefined) throw new Error(`node-cache: ${key} is held`)
      cache.set(key, owner, 30)
      if (cache.get<string>(key) !== owner) throw new Error(`node-cache: ${key} was taken`)
      cache.del(key)
    },
  }

  const asyncMutex: PairVariant = {
    id: 'async-mutex',
    label: 'async-mutex (Mutex per key)',
    role: 'peer',
    async pair(key) {
      let mutex = mutexes.get(key)
      if (mutex === undefined) {
        mutex = new Mutex()
        mutexes.set(key, mutex)
      }
      const release = await mutex.acquire()
      release()
    },
  }

  return {
    variants: [
      lockworkVariant(createLockwork({ backend })),
      bareVariant(backend),
      nodeCache,
      asyncMutex,
      verrouVariant(memoryStore().factory(), 'memory store'),
    ],
    floorId: 'node-cache',
    async close() {
      await backend.close()
      cache.close()
    },
  }
}
