import { runConformance } from '@lockwork/conformance'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMemoryBackend, MemoryStore } from '../src/index.js'

const store = new MemoryStore()

runConformance({
  name: 'memory',
  // Every instance shares one store, as separate "clients" in one process would.
  createBackend: () => createMemoryBackend({ store }),
  // A release wakes the store's waiters at once.
  capabilities: { wakeUpWithinMs: 5 },
  describe,
  it,
  expect,
  beforeAll,
  afterAll,
})
