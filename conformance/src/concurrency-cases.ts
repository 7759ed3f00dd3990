import type { LockBackend } from '@lockwork/core'
import { createLockwork } from '@lockwork/core'
import { delay, owner, type SuiteContext } from './suite-context.js'

/** Many clients at once: exactly one winner, no lost updates. */
export function concurrencyCases(t: SuiteContext): void {
  const { describe, it, expect } = t

  const instances = async (n: number): Promise<LockBackend[]> => {
    const list = [t.backend()]
    while (list.length < n) list.push(await t.newBackend())
    return list
  }

  describe('contention', () => {
    it('50 concurrent acquires of one key from 3 instances: exactly one wins', async () => {
      const backends = await instances(3)
      const key = t.key('race')
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => backends[i % backends.length]!.acquire(key, owner(), 10_000)),
      )
      const winners = results.filter((r) => r.acquired)
      expect(winners.length).toBe(1)
      const info = await t.backend().peek(key)
      for (const r of results) if (!r.acquired) expect(r.holder.owner).toBe(info?.owner)
    })

    it('read-modify-write under the lock from 3 instances × 8 workers over 2 keys: no lost update, never two holders', async () => {
      const backends = await instances(3)
      const prefix = `${t.key('rmw')}:`
      const clients = backends.map((backend) => createLockwork({ backend, prefix, defaultWait: '60s' }))
      const counters = new Map<string, number>([
        ['a', 0],
        ['b', 0],
      ])
      const occupancy = new Map<string, number>([
        ['a', 0],
        ['b', 0],
      ])
      let overlaps = 0
      const fences = new Map<string, number>([
        ['a', 0],
        ['b', 0],
      ])
      let fenceViolations = 0
      const perWorker = 12
      await Promise.all(
        Array.from({ length: 8 }, async (_, worker) => {
          const lw = clients[worker % clients.length]!
          for (let i = 0; i < perWorker; i++) {
            const name = (worker + i) % 2 === 0 ? 'a' : 'b'
            await lw.withLock(
              name,
              async (lock) => {
                occupancy.set(name, occupancy.get(name)! + 1)
                if (occupancy.get(name)! > 1) overlaps++
                if (lock.fence <= fences.get(name)!) fenceViolations++
                fences.set(name, lock.fence)
                const read = counters.get(name)!
                await delay(1)
                counters.set(name, read + 1)
                occupancy.set(name, occupancy.get(name)! - 1)
              },
              { ttl: '10s' },
            )
          }
        }),
      )
      expect(overlaps).toBe(0)
      expect(fenceViolations).toBe(0)
      expect(counters.get('a')! + counters.get('b')!).toBe(8 * perWorker)
    })

    it('100 concurrent waiters on one key take turns: occupancy never reaches 2', async () => {
      const backends = await instances(3)
      const prefix = `${t.key('occupancy')}:`
      const clients = backends.map((backend) => createLockwork({ backend, prefix, defaultWait: '60s' }))
      let inside = 0
      let maxInside = 0
      let done = 0
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          clients[i % clients.length]!.withLock('k', async () => {
            inside++
            maxInside = Math.max(maxInside, inside)
            await Promise.resolve()
            inside--
            done++
          }),
        ),
      )
      expect(maxInside).toBe(1)
      expect(done).toBe(100)
    }, 60_000)
  })
}
