import { createLockwork, type LockBackend } from '@lockwork/core'
import { afterAll, describe, expect, it } from 'vitest'
import { availableBackends, BACKEND_NAMES, freshTarget, openBackend, randomPrefix } from '../src/backends.js'
import { sleep } from '../src/clock.js'
import { FaultyBackend } from '../src/faulty-backend.js'

const available = await availableBackends(BACKEND_NAMES, 'reliability slow acquire')

const TTL_MS = 2_000

for (const name of BACKEND_NAMES) {
  // The tests only wait on timers: they run side by side.
  describe.skipIf(!available[name])(
    `${name}: an acquisition whose reply comes late`,
    { concurrent: true },
    () => {
      const opened: LockBackend[] = []
      afterAll(async () => {
        await Promise.allSettled(opened.map((backend) => backend.close()))
      })

      const client = () => {
        const faulty = new FaultyBackend(openBackend(freshTarget(name)))
        opened.push(faulty)
        return { faulty, lw: createLockwork({ backend: faulty, prefix: randomPrefix('slow-acquire') }) }
      }

      it(`reply after 1.5 s of a ${TTL_MS} ms ttl, autoExtend: the lease is extended in time and never reported lost while the store holds it`, async () => {
        const { faulty, lw } = client()
        faulty.delayAcquireReplies(1_500)
        const lock = await lw.acquire('slow', { ttl: TTL_MS, autoExtend: true })
        const signal = lock.signal
        expect(lock.held).toBe(true)
        // Past the first lease's end (2 s after the request) and well into the next one.
        await sleep(1_500)
        expect(signal.aborted ? String(signal.reason) : 'not aborted').toBe('not aborted')
        expect(lock.held).toBe(true)
        expect((await lw.peek('slow'))?.owner).toBe(lock.owner)
        expect(await lock.release()).toBe(true)
      })

      it(`reply after 2.5 s of a ${TTL_MS} ms ttl: acquire never resolves a Lock that is already past its deadline`, async () => {
        const { faulty, lw } = client()
        faulty.delayAcquireReplies(2_500)
        const lock = await lw.acquire('late', { ttl: TTL_MS, wait: '10s' })
        expect(lock.held).toBe(true)
        expect(lock.remainingMs).toBeGreaterThan(TTL_MS / 2)
        expect(lock.signal.aborted).toBe(false)
        expect((await lw.peek('late'))?.owner).toBe(lock.owner)
        expect(await lock.release()).toBe(true)
      })

      it(`reply after 2.5 s of a ${TTL_MS} ms ttl with wait 0: tryAcquire resolves null rather than a dead Lock, and leaves the key free`, async () => {
        const { faulty, lw } = client()
        faulty.delayAcquireReplies(2_500)
        const lock = await lw.tryAcquire('late-try', { ttl: TTL_MS })
        expect(lock === null ? null : { held: lock.held }).toBeNull()
        expect(await lw.peek('late-try')).toBeNull()
      })
    },
  )
}
