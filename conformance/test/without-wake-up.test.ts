import type { LockBackend } from '@lockwork/core'
import { createMemoryBackend, MemoryStore } from '@lockwork/memory'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runConformance } from '../src/index.js'

/**
 * The suite against a backend with no `waitForRelease`, as many third-party
 * adapters will be: it proves the core's backoff path keeps every promise.
 */
const store = new MemoryStore()

function withoutWakeUp(backend: LockBackend): LockBackend {
  return {
    name: 'memory-without-wake-up',
    acquire: (key, owner, ttlMs) => backend.acquire(key, owner, ttlMs),
    extend: (key, owner, ttlMs) => backend.extend(key, owner, ttlMs),
    release: (key, owner) => backend.release(key, owner),
    peek: (key) => backend.peek(key),
    getCached: (key) => backend.getCached(key),
    setCached: (key, entry, ttlMs) => backend.setCached(key, entry, ttlMs),
    deleteCached: (key) => backend.deleteCached(key),
    close: () => backend.close(),
  }
}

runConformance({
  name: 'memory without waitForRelease',
  createBackend: () => withoutWakeUp(createMemoryBackend({ store })),
  describe,
  it,
  expect,
  beforeAll,
  afterAll,
})
