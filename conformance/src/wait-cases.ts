import { getEventListeners } from 'node:events'
import { BackendError, LockBusyError, LockTimeoutError } from '@lockwork/core'
import { countingBackend, delay, owner, rejection, type SuiteContext } from './suite-context.js'

/** Waiting: the backend's wake-up when it has one, and the core's wait on top of any backend. */
export function waitCases(t: SuiteContext): void {
  const { describe, it, expect } = t

  describe('waitForRelease', () => {
    const itWake = (name: string, body: () => Promise<void>, timeoutMs?: number) =>
      // A rest parameter keeps the body's length 0: jest and mocha would read a named one as `done`.
      it(
        name,
        async (...caseArgs: unknown[]) => {
          if (!t.hasWaitForRelease()) return t.skip(caseArgs, 'the backend has no waitForRelease')
          await body()
        },
        timeoutMs,
      )

    itWake('resolves at once when the key is free', async () => {
      const started = performance.now()
      await t.backend().waitForRelease!(t.key('free'), 5_000)
      expect(performance.now() - started).toBeLessThan(1_000)
    })

    itWake('resolves promptly when the holder releases from another instance', async () => {
      const key = t.key('wake')
      const holder = await t.newBackend()
      const a = owner()
      await holder.acquire(key, a, 20_000)
      let releasedAt = 0
      setTimeout(() => {
        releasedAt = performance.now()
        void holder.release(key, a)
      }, 300)
      await t.backend().waitForRelease!(key, 10_000)
      const woke = performance.now()
      expect(releasedAt).toBeGreaterThan(0)
      expect(woke - releasedAt).toBeLessThan(1_000)
    })

    itWake(
      'never misses a release from another instance in the same tick: 60 races, each resolves well before its timeout',
      async () => {
        const waiter = t.backend()
        const holder = await t.newBackend()
        const key = t.key('race-wake')
        // Three interleavings: the wait starts first, the release starts first, the release one tick later.
        const orders = ['wait-first', 'release-first', 'release-next-tick'] as const
        for (let i = 0; i < 60; i++) {
          const order = orders[i % orders.length]!
          const a = owner()
          expect((await holder.acquire(key, a, 20_000)).acquired).toBe(true)
          const started = performance.now()
          let waiting: Promise<void>
          let releasing: Promise<boolean>
          if (order === 'release-first') {
            releasing = holder.release(key, a)
            waiting = waiter.waitForRelease!(key, 4_000)
          } else {
            waiting = waiter.waitForRelease!(key, 4_000)
            releasing =
              order === 'wait-first'
                ? holder.release(key, a)
                : new Promise<boolean>((resolve, reject) => {
                    setImmediate(() => holder.release(key, a).then(resolve, reject))
                  })
          }
          const [, released] = await Promise.all([waiting, releasing])
          expect(released).toBe(true)
          expect(performance.now() - started, `race ${i} (${order}) waited`).toBeLessThan(2_000)
        }
      },
      60_000,
    )

    itWake(
      'a waiter that gives up (abort or timeout) does not make the others on the same key miss the release',
      async () => {
        const key = t.key('wake-others')
        const holder = await t.newBackend()
        const other = await t.newBackend()
        const a = owner()
        await holder.acquire(key, a, 20_000)
        const controller = new AbortController()
        const aborted = t.backend().waitForRelease!(key, 10_000, controller.signal)
        const timedOut = other.waitForRelease!(key, 200)
        const sameInstance = t.backend().waitForRelease!(key, 10_000)
        const otherInstance = other.waitForRelease!(key, 10_000)
        controller.abort()
        await Promise.all([aborted, timedOut])
        const releasedAt = performance.now()
        expect(await holder.release(key, a)).toBe(true)
        await Promise.all([sameInstance, otherInstance])
        expect(performance.now() - releasedAt).toBeLessThan(1_000)
      },
    )

    itWake(
      "leaves no listener on the caller's signal once it resolves (a long-lived signal must not leak)",
      async () => {
        const key = t.key('listeners')
        const holder = await t.newBackend()
        const signal = new AbortController().signal
        for (let i = 0; i < 5; i++) {
          const a = owner()
          await holder.acquire(key, a, 20_000)
          const waiting = t.backend().waitForRelease!(key, 10_000, signal)
          await delay(20)
          await holder.release(key, a)
          await waiting
          // and one that ends at its timeout
          await holder.acquire(key, a, 20_000)
          await t.backend().waitForRelease!(key, 50, signal)
          await holder.release(key, a)
        }
        expect(getEventListeners(signal, 'abort').length).toBe(0)
      },
    )

    itWake('resolves when the lease expires without a release, long before its timeout', async () => {
      const key = t.key('wake-expiry')
      const holder = await t.newBackend()
      await holder.acquire(key, owner(), 300)
      const started = performance.now()
      await t.backend().waitForRelease!(key, 10_000)
      const waited = performance.now() - started
      expect(waited).toBeLessThan(2_500)
      // It woke at (about) the expiry: a timer may fire a millisecond or so early, a spurious wake-up is allowed.
      const after = await t.backend().peek(key)
      expect(after === null || after.remainingMs <= 100, `still held for ${after?.remainingMs} ms`).toBe(true)
    })

    itWake(
      'resolves when the lease expires and another instance takes the key over before the waiter looks again',
      async () => {
        const key = t.key('takeover')
        const first = await t.newBackend()
        const second = await t.newBackend()
        // A first wait on a free key sets up whatever the waiting instance needs (a subscriber connection).
        await t.backend().waitForRelease!(t.key('takeover-warm-up'), 1_000)
        expect((await first.acquire(key, owner(), 600)).acquired).toBe(true)
        // The lease ends at the latest 600 ms from now.
        const expiresAt = Date.now() + 600
        const started = performance.now()
        const waiting = t.backend().waitForRelease!(key, 10_000).then(() => performance.now())
        // Time for the waiter to look once and see the first holder.
        await delay(300)
        // Hold this thread past the expiry, then take the key over at once: whatever the waiter
        // does next (a timer at the expiry, a poll) comes after the takeover. No release happens.
        while (Date.now() <= expiresAt + 20) {
          // busy: no timer or I/O callback of this process runs meanwhile
        }
        const b = owner()
        expect((await second.acquire(key, b, 20_000)).acquired).toBe(true)
        const woke = await waiting
        expect(woke - started, 'waited').toBeLessThan(3_000)
        await second.release(key, b)
      },
    )

    itWake('resolves at once when its signal is already aborted', async () => {
      const key = t.key('aborted')
      const a = owner()
      await t.backend().acquire(key, a, 20_000)
      const started = performance.now()
      await t.backend().waitForRelease!(key, 10_000, AbortSignal.abort())
      expect(performance.now() - started).toBeLessThan(1_000)
      await t.backend().release(key, a)
    })

    it('wakes waiters within the declared wakeUpWithinMs of a release (median of 7 rounds), on the first instance too, also after other waiters on the same or another key gave up', async (...caseArgs: unknown[]) => {
      const within = t.wakeUpWithinMs
      if (!t.hasWaitForRelease()) return t.skip(caseArgs, 'the backend has no waitForRelease')
      if (within === undefined) return t.skip(caseArgs, 'the backend declares no wakeUpWithinMs')
      // Instances made for this case, and the first instance (which may stand for another process).
      const far = t.backend()
      const holder = await t.newBackend()
      const waiter = await t.newBackend()
      const other = await t.newBackend()
      const latencies: number[] = []
      for (let round = 0; round < 7; round++) {
        const key = t.key(`latency-${round}`)
        const otherKey = t.key(`latency-other-${round}`)
        const a = owner()
        await holder.acquire(key, a, 20_000)
        await holder.acquire(otherKey, a, 20_000)
        let firstAt = 0
        let laterAt = 0
        let farAt = 0
        // Two waiters that stay (on two instances), one on the same key and one on another key that give up.
        const first = waiter.waitForRelease!(key, 10_000).then(() => {
          firstAt = performance.now()
        })
        const quitting = new AbortController()
        const sameKeyQuits = other.waitForRelease!(key, 10_000, quitting.signal)
        const otherKeyQuits = waiter.waitForRelease!(otherKey, 10_000, quitting.signal)
        const otherKeyQuitsOnFirst = far.waitForRelease!(otherKey, 10_000, quitting.signal)
        const later = other.waitForRelease!(key, 10_000).then(() => {
          laterAt = performance.now()
        })
        const onFirst = far.waitForRelease!(key, 10_000).then(() => {
          farAt = performance.now()
        })
        // Long enough for any polling behind the wake-up to slow down to its slowest pace.
        await delay(250)
        quitting.abort()
        await Promise.all([sameKeyQuits, otherKeyQuits, otherKeyQuitsOnFirst])
        const releasedAt = performance.now()
        expect(await holder.release(key, a)).toBe(true)
        await Promise.all([first, later, onFirst])
        latencies.push(Math.max(firstAt, laterAt, farAt) - releasedAt)
        await holder.release(otherKey, a)
      }
      latencies.sort((x, y) => x - y)
      const median = latencies[Math.floor(latencies.length / 2)]!
      expect(
        median,
        `median wake-up ${median.toFixed(1)} ms of ${latencies.map((l) => l.toFixed(1)).join(', ')}`,
      ).toBeLessThanOrEqual(within)
    }, 30_000)

    itWake('after close() rejects with a BackendError, like every other call', async () => {
      const b = await t.newBackend()
      await b.close()
      expect(await rejection(() => b.waitForRelease!(t.key('closed-wait'), 1_000))).toBeInstanceOf(
        BackendError,
      )
    })

    itWake('resolves at the timeout when the key is never released', async () => {
      const key = t.key('timeout')
      const a = owner()
      await t.backend().acquire(key, a, 20_000)
      const started = performance.now()
      await t.backend().waitForRelease!(key, 400)
      const waited = performance.now() - started
      expect(waited).toBeGreaterThanOrEqual(350)
      expect(waited).toBeLessThan(3_000)
      await t.backend().release(key, a)
    })

    itWake('resolves promptly when its signal aborts', async () => {
      const key = t.key('abort')
      const a = owner()
      await t.backend().acquire(key, a, 20_000)
      const controller = new AbortController()
      setTimeout(() => controller.abort(), 200)
      const started = performance.now()
      await t.backend().waitForRelease!(key, 10_000, controller.signal)
      expect(performance.now() - started).toBeLessThan(2_000)
      await t.backend().release(key, a)
    })
  })

  describe('waiting in the core', () => {
    it('a waiter acquires soon after the holder releases', async () => {
      const lw = t.lockwork()
      const other = t.lockwork({ backend: await t.newBackend(), prefix: lw.prefix })
      const held = await lw.acquire('k', { ttl: '20s' })
      let releasedAt = 0
      setTimeout(() => {
        releasedAt = performance.now()
        void held.release()
      }, 300)
      const next = await other.acquire('k', { wait: '10s' })
      expect(performance.now() - releasedAt).toBeLessThan(1_500)
      expect(next.fence).toBeGreaterThan(held.fence)
      await next.release()
    })

    it('a waiter acquires once the holder abandons the lease and it expires', async () => {
      const lw = t.lockwork()
      const abandoned = await lw.acquire('k', { ttl: 300 })
      const next = await lw.acquire('k', { wait: '10s' })
      expect(next.fence).toBeGreaterThan(abandoned.fence)
      await next.release()
    })

    it('gives up with LockTimeoutError when the key is never released', async () => {
      const lw = t.lockwork()
      const held = await lw.acquire('k', { ttl: '20s' })
      const started = performance.now()
      const error = await rejection(lw.acquire('k', { wait: 400 }))
      const waited = performance.now() - started
      expect(error).toBeInstanceOf(LockTimeoutError)
      expect((error as LockTimeoutError).key).toBe('k')
      expect(waited).toBeGreaterThanOrEqual(350)
      expect(waited).toBeLessThan(3_000)
      await held.release()
    })

    it('wait 0 on a held key fails at once with LockBusyError naming the key; tryAcquire gives null', async () => {
      const lw = t.lockwork()
      const held = await lw.acquire('busy', { ttl: '20s' })
      const started = performance.now()
      const error = await rejection(lw.acquire('busy', { wait: 0 }))
      expect(error).toBeInstanceOf(LockBusyError)
      expect((error as LockBusyError).key).toBe('busy')
      expect((error as Error).message).toMatch('busy')
      expect(await lw.tryAcquire('busy')).toBeNull()
      expect(performance.now() - started).toBeLessThan(2_000)
      await held.release()
    })

    it('is not reentrant: the same client acquiring a held key again is refused', async () => {
      const lw = t.lockwork()
      const held = await lw.acquire('k')
      expect(await lw.tryAcquire('k')).toBeNull()
      await held.release()
    })

    it('an abort signal cancels a pending wait promptly', async () => {
      const lw = t.lockwork()
      const held = await lw.acquire('k', { ttl: '20s' })
      const controller = new AbortController()
      setTimeout(() => controller.abort(new Error('stop waiting')), 200)
      const started = performance.now()
      const error = await rejection(lw.acquire('k', { wait: '20s', signal: controller.signal }))
      expect((error as Error).message).toBe('stop waiting')
      expect(performance.now() - started).toBeLessThan(2_000)
      await held.release()
    })

    it('an already-aborted signal rejects without touching the backend', async () => {
      const counted = countingBackend(t.backend())
      const lw = t.lockwork({ backend: counted.backend })
      const error = await rejection(lw.acquire('k', { signal: AbortSignal.abort(new Error('too late')) }))
      expect((error as Error).message).toBe('too late')
      expect(counted.calls()).toBe(0)
      await delay(0)
    })
  })
}
