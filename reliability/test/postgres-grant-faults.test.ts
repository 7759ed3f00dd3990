import { randomUUID } from 'node:crypto'
import { createLockwork } from '@lockwork/core'
import { GRANT_LIVENESS_MS } from '@lockwork/postgres'
import { Client } from 'pg'
import { describe, expect, it } from 'vitest'
import {
  availableBackends,
  type BackendTarget,
  freshTarget,
  openBackend,
  randomPrefix,
} from '../src/backends.js'
import { sleep } from '../src/clock.js'
import type { HolderWorkerConfig } from '../src/holder-worker.js'
import { startWorker } from '../src/worker-process.js'

const available = await availableBackends(['postgres'], 'reliability grant-on-release faults')

/** Waits until the grant queue of `fullKey` holds `count` entries; fails after `withinMs`. */
async function queued(
  client: Client,
  queueTable: string,
  fullKey: string,
  count: number,
  withinMs: number,
): Promise<void> {
  const started = performance.now()
  for (;;) {
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM "${queueTable}" WHERE key = $1`,
      [fullKey],
    )
    if (Number(rows[0]?.n) >= count) return
    if (performance.now() - started > withinMs)
      throw new Error(`fewer than ${count} queued after ${withinMs} ms`)
    await sleep(20)
  }
}

describe.skipIf(!available.postgres)('postgres: grant-on-release with a waiter process that dies', () => {
  for (const durability of ['durable', 'fast'] as const) {
    it(`${durability}: a waiting process SIGKILLed while queued is skipped once GRANT_LIVENESS_MS (${GRANT_LIVENESS_MS} ms) has passed: the release hands the key to the next live waiter at once`, async () => {
      const target: BackendTarget = { ...freshTarget('postgres'), durability }
      const prefix = randomPrefix('grant-kill')
      const key = `k:${randomUUID()}`
      // The key as the backend stores it: the prefix, the core's U+001F separator, the key.
      const fullKey = `${prefix}\u001f${key}`
      const queueTable = `${target.namespace}_queue`
      const client = new Client({ connectionString: target.url })
      await client.connect()
      const holderBackend = openBackend(target)
      const waiterBackend = openBackend(target)
      const holder = createLockwork({ backend: holderBackend, prefix })
      const waiter = createLockwork({ backend: waiterBackend, prefix })
      const config: HolderWorkerConfig = { mode: 'hold', target, prefix, key, ttlMs: 30_000 }
      const held = await holder.acquire(key, { ttl: '30s' })
      const child = startWorker('holder-worker.ts', [JSON.stringify(config)])
      try {
        // The child queues first (its process starts slowly on a busy machine), then a live waiter here.
        await queued(client, queueTable, fullKey, 1, 30_000)
        const pending = waiter.acquire(key, { ttl: '30s', wait: '60s' })
        await queued(client, queueTable, fullKey, 2, 10_000)
        child.child.kill('SIGKILL')
        expect((await child.exited).signal).toBe('SIGKILL')
        // Past the bound the dead entry is no longer live (its process refreshed it last before the kill).
        await sleep(GRANT_LIVENESS_MS + 300)
        const releasedAt = performance.now()
        expect(await held.release()).toBe(true)
        const lock = await pending
        const handedOffMs = performance.now() - releasedAt
        // A grant to the dead entry would hold the key for its 30 s ttl; a loaded machine may add a few seconds of delay.
        expect(handedOffMs).toBeLessThan(5_000)
        expect(lock.fence).toBeGreaterThan(held.fence)
        expect((await holder.peek(key))?.owner).toBe(lock.owner)
        // The dead entry was dropped on the way, and the live one left the queue with its grant.
        const { rows } = await client.query<{ n: string }>(
          `SELECT count(*) AS n FROM "${queueTable}" WHERE key = $1`,
          [fullKey],
        )
        expect(Number(rows[0]?.n)).toBe(0)
        await lock.release()
      } finally {
        await child.kill()
        await holderBackend.close()
        await waiterBackend.close()
        await client.end()
      }
    }, 90_000)
  }
})
