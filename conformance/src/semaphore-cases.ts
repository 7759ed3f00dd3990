import { getEventListeners } from 'node:events'
import {
  BackendError,
  InvalidArgumentError,
  type LockBackend,
  LockBusyError,
  LockTimeoutError,
  MAX_SEMAPHORE_LIMIT,
  type PermitAcquireResult,
} from '@lockwork/core'
import { countingBackend, delay, owner, rejection, type SuiteContext } from './suite-context.js'

/** A backend with the semaphore capability, its methods known to be there. */
export type PermitBackend = LockBackend &
  Required<Pick<LockBackend, 'acquirePermits' | 'extendPermits' | 'releasePermits' | 'peekPermits'>>

/** Whether `backend` has the semaphore capability (all four methods). */
export function hasPermits(backend: LockBackend): backend is PermitBackend {
  return (
    typeof backend.acquirePermits === 'function' &&
    typeof backend.extendPermits === 'function' &&
    typeof backend.releasePermits === 'function' &&
    typeof backend.peekPermits === 'function'
  )
}

/** The fence of a successful acquisition; fails the case on a refusal. */
function fenceOf(result: PermitAcquireResult, expect: SuiteContext['expect']): number {
  expect(result.acquired).toBe(true)
  return result.acquired ? result.fence : Number.NaN
}

/**
 * Semaphores (the optional permit capability): the backend's atomic
 * operations, then `lw.semaphore` on top of them. Every case reports skipped
 * when the backend lacks the capability.
 */
export function semaphoreCases(t: SuiteContext): void {
  const { describe, expect } = t

  /**
   * A case that needs the capability (and `waitForPermits` when `wake`); it
   * reports skipped without. `body` gets the first instance, narrowed.
   */
  const it = (
    name: string,
    body: (backend: PermitBackend) => Promise<void>,
    timeoutMs?: number,
    wake = false,
    latency = false,
  ) =>
    t.it(
      name,
      // A rest parameter keeps the body's length 0: jest and mocha would read a named one as `done`.
      async (...caseArgs: unknown[]) => {
        const backend = t.backend()
        if (!hasPermits(backend)) return t.skip(caseArgs, 'the backend has no semaphore capability')
        if (wake && typeof backend.waitForPermits !== 'function')
          return t.skip(caseArgs, 'the backend has no waitForPermits')
        if (latency && t.wakeUpWithinMs === undefined)
          return t.skip(caseArgs, 'the backend declares no wakeUpWithinMs')
        await body(backend)
      },
      timeoutMs,
    )

  /** Another instance over the same store, with the capability. */
  const another = async (): Promise<PermitBackend> => {
    const backend = await t.newBackend()
    if (!hasPermits(backend))
      throw new Error('a second instance lacks the semaphore capability the first has')
    return backend
  }

  describe('semaphores', () => {
    it('takes permits up to the limit, also from another instance, and refuses past it, reporting the holders', async (a) => {
      const b = await another()
      const key = t.key('sem-limit')
      const [x, y, z] = [owner(), owner(), owner()]
      expect((await a.acquirePermits(key, x, 2, 3, 10_000)).acquired).toBe(true)
      expect((await b.acquirePermits(key, y, 1, 3, 10_000)).acquired).toBe(true)
      const refused = await b.acquirePermits(key, z, 1, 3, 10_000)
      expect(refused.acquired).toBe(false)
      if (refused.acquired) return
      expect(refused.holders.inUse).toBe(3)
      expect(refused.holders.holders.length).toBe(2)
      const byOwner = new Map(refused.holders.holders.map((holder) => [holder.owner, holder]))
      expect(byOwner.get(x)?.permits).toBe(2)
      expect(byOwner.get(y)?.permits).toBe(1)
      const peeked = await a.peekPermits(key)
      expect(peeked.inUse).toBe(3)
      expect(peeked.holders.length).toBe(2)
      // Fresh 10 s leases: the time left, not a token value (generous for a loaded machine).
      for (const holder of [...peeked.holders, ...refused.holders.holders]) {
        expect(holder.remainingMs).toBeGreaterThan(5_000)
        expect(holder.remainingMs).toBeLessThanOrEqual(10_000)
      }
      // Too many at once is refused even when some are free.
      expect(await a.releasePermits(key, y)).toBe(true)
      expect((await b.acquirePermits(key, z, 2, 3, 10_000)).acquired).toBe(false)
      expect((await b.acquirePermits(key, z, 1, 3, 10_000)).acquired).toBe(true)
      expect((await a.peekPermits(t.key('sem-never-used'))).inUse).toBe(0)
    })

    it('reports the time left, not the ttl: halfway through, peek and a refused rival on another instance see about half', async (a) => {
      const b = await another()
      const key = t.key('sem-remaining')
      expect((await a.acquirePermits(key, owner(), 1, 1, 4_000)).acquired).toBe(true)
      await delay(2_000)
      const peeked = await b.peekPermits(key)
      const refused = await b.acquirePermits(key, owner(), 1, 1, 4_000)
      expect(refused.acquired).toBe(false)
      if (refused.acquired) return
      for (const remaining of [peeked.holders[0]?.remainingMs, refused.holders.holders[0]?.remainingMs]) {
        expect(remaining).toBeGreaterThan(0)
        // Generous: a loaded machine may be slow, never fast.
        expect(remaining ?? Number.NaN).toBeLessThanOrEqual(2_300)
      }
    })

    it('release and expiry free permits; expired permits never count', async (a) => {
      const b = await another()
      const key = t.key('sem-free')
      const [x, y] = [owner(), owner()]
      expect((await a.acquirePermits(key, x, 1, 2, 20_000)).acquired).toBe(true)
      // Long enough that a loaded machine does not let it run out before the refusal below.
      const acquiredAt = Date.now()
      expect((await a.acquirePermits(key, y, 1, 2, 1_500)).acquired).toBe(true)
      expect((await b.acquirePermits(key, owner(), 1, 2, 20_000)).acquired).toBe(false)
      await delay(Math.max(0, acquiredAt + 2_300 - Date.now()))
      expect((await b.peekPermits(key)).inUse).toBe(1)
      const z = owner()
      expect((await b.acquirePermits(key, z, 1, 2, 20_000)).acquired).toBe(true)
      expect(await a.releasePermits(key, x)).toBe(true)
      expect(await b.releasePermits(key, z)).toBe(true)
      expect((await a.peekPermits(key)).inUse).toBe(0)
      expect((await b.acquirePermits(key, owner(), 2, 2, 20_000)).acquired).toBe(true)
    })

    it('fences strictly increase per semaphore: across concurrent holders, release, and expiry of every holder', async (a) => {
      const b = await another()
      const key = t.key('sem-fences')
      const fences: number[] = []
      // Concurrent holders get distinct, increasing fences.
      for (let i = 0; i < 3; i++) {
        fences.push(fenceOf(await (i % 2 ? b : a).acquirePermits(key, owner(), 1, 3, 200), expect))
      }
      await delay(600)
      // Every holder expired: the counter goes on, across releases too.
      for (let i = 0; i < 4; i++) {
        const who = owner()
        const instance = i % 2 ? a : b
        // The released ones are long enough to be released before they expire on a loaded machine; the last expires.
        fences.push(fenceOf(await instance.acquirePermits(key, who, 3, 3, i < 3 ? 5_000 : 150), expect))
        if (i < 3) expect(await instance.releasePermits(key, who)).toBe(true)
      }
      await delay(600)
      fences.push(fenceOf(await a.acquirePermits(key, owner(), 1, 3, 10_000), expect))
      for (let i = 1; i < fences.length; i++) expect(fences[i]!).toBeGreaterThan(fences[i - 1]!)
    })

    it("a stranger cannot release or extend another's permits; an expired holder's own release and extend are false", async (a) => {
      const b = await another()
      const key = t.key('sem-owner')
      const [x, stranger, y] = [owner(), owner(), owner()]
      // A lease long enough that the stranger's three calls finish inside it on a loaded machine.
      const acquiredAt = Date.now()
      expect((await a.acquirePermits(key, x, 1, 1, 1_500)).acquired).toBe(true)
      expect(await b.releasePermits(key, stranger)).toBe(false)
      expect(await b.extendPermits(key, stranger, 20_000)).toBe(false)
      expect((await b.peekPermits(key)).holders.map((holder) => holder.owner)).toEqual([x])
      await delay(Math.max(0, acquiredAt + 2_300 - Date.now()))
      // Expired, nobody else has taken it yet: the old holder cannot resurrect or free it.
      expect(await a.extendPermits(key, x, 20_000)).toBe(false)
      expect(await a.releasePermits(key, x)).toBe(false)
      expect((await a.peekPermits(key)).inUse).toBe(0)
      expect((await b.acquirePermits(key, y, 1, 1, 20_000)).acquired).toBe(true)
      expect(await a.releasePermits(key, x)).toBe(false)
      expect(await a.extendPermits(key, x, 20_000)).toBe(false)
      expect((await a.peekPermits(key)).holders.map((holder) => holder.owner)).toEqual([y])
      // Extend keeps a holder past its first ttl.
      expect(await b.extendPermits(key, y, 20_000)).toBe(true)
    })

    it('extend keeps permits past their first ttl', async (a) => {
      const key = t.key('sem-extend')
      const x = owner()
      // Ttl and pauses long enough for a loaded machine (and for whole-second leases).
      expect((await a.acquirePermits(key, x, 1, 1, 1_200)).acquired).toBe(true)
      await delay(300)
      expect(await a.extendPermits(key, x, 4_000)).toBe(true)
      await delay(1_500)
      expect((await a.acquirePermits(key, owner(), 1, 1, 1_000)).acquired).toBe(false)
      expect((await a.peekPermits(key)).holders[0]?.owner).toBe(x)
    })

    it('the same owner acquiring again is idempotent: same fence, its permits counted once', async (a) => {
      const b = await another()
      const key = t.key('sem-idempotent')
      const x = owner()
      const first = fenceOf(await a.acquirePermits(key, x, 2, 3, 10_000), expect)
      const again = fenceOf(await b.acquirePermits(key, x, 2, 3, 10_000), expect)
      expect(again).toBe(first)
      const peeked = await a.peekPermits(key)
      expect(peeked.inUse).toBe(2)
      expect(peeked.holders.length).toBe(1)
      expect((await b.acquirePermits(key, owner(), 1, 3, 10_000)).acquired).toBe(true)
    })

    it('the limit is the caller’s: a lower one refuses newcomers but never evicts holders, a higher one admits more', async (a) => {
      const b = await another()
      const key = t.key('sem-limit-change')
      const [x, y] = [owner(), owner()]
      expect((await a.acquirePermits(key, x, 1, 3, 10_000)).acquired).toBe(true)
      expect((await a.acquirePermits(key, y, 1, 3, 10_000)).acquired).toBe(true)
      // Limit lowered to 1 while 2 are held: newcomers wait, holders stay and can extend.
      expect((await b.acquirePermits(key, owner(), 1, 1, 10_000)).acquired).toBe(false)
      expect((await b.peekPermits(key)).inUse).toBe(2)
      expect(await a.extendPermits(key, x, 10_000)).toBe(true)
      // Raised to 4: two more fit.
      expect((await b.acquirePermits(key, owner(), 2, 4, 10_000)).acquired).toBe(true)
      expect((await b.acquirePermits(key, owner(), 1, 4, 10_000)).acquired).toBe(false)
      expect((await a.peekPermits(key)).inUse).toBe(4)
    })

    it('semaphores and locks of the same key are unrelated', async (a) => {
      const key = t.key('sem-namespace')
      const x = owner()
      expect((await a.acquire(key, x, 10_000)).acquired).toBe(true)
      expect((await a.acquirePermits(key, owner(), 1, 1, 10_000)).acquired).toBe(true)
      expect(await a.releasePermits(key, x)).toBe(false)
      expect((await a.peek(key))?.owner).toBe(x)
    })

    it('lw.semaphore: permits in use never exceed the limit under contention from 3 instances', async () => {
      const instances = [t.backend(), await another(), await another()]
      const prefix = `${t.key('sem-contention')}:`
      const clients = instances.map((backend) => t.lockwork({ backend, prefix, closeBackend: false }))
      const limit = 3
      let inUse = 0
      let maxInUse = 0
      let overflows = 0
      let sections = 0
      const worker = async (index: number) => {
        const client = clients[index % clients.length]!
        const semaphore = client.semaphore('exports', { limit })
        for (let round = 0; round < 4; round++) {
          const permits = 1 + ((index + round) % 2)
          await semaphore.withPermit(
            async (permit) => {
              expect(permit.permits).toBe(permits)
              inUse += permits
              maxInUse = Math.max(maxInUse, inUse)
              if (inUse > limit) overflows++
              await delay(5 + (index % 4) * 3)
              if (inUse > limit) overflows++
              inUse -= permits
              sections++
            },
            { permits, wait: '30s', ttl: '10s' },
          )
        }
      }
      await Promise.all(Array.from({ length: 12 }, (_, index) => worker(index)))
      expect(overflows).toBe(0)
      expect(sections).toBe(48)
      expect(maxInUse).toBeLessThanOrEqual(limit)
      expect(maxInUse).toBeGreaterThan(1)
      await Promise.all(clients.map((client) => client.close()))
    }, 60_000)

    it('lw.semaphore: wait 0 → LockBusyError and a wait that ends → LockTimeoutError, each naming the semaphore and the permits in use', async (a) => {
      const lw = t.lockwork({ backend: a, closeBackend: false })
      const semaphore = lw.semaphore('reports', { limit: 2 })
      const held = await semaphore.acquire({ permits: 2, ttl: '10s' })
      const busy = await rejection(semaphore.acquire({ wait: 0 }))
      expect(busy).toBeInstanceOf(LockBusyError)
      expect((busy as Error).message).toMatch(/semaphore "reports"/)
      expect((busy as Error).message).toMatch(/2 of 2/)
      expect(await semaphore.tryAcquire()).toBeNull()
      const started = performance.now()
      const timeout = await rejection(semaphore.acquire({ wait: '300ms' }))
      expect(timeout).toBeInstanceOf(LockTimeoutError)
      expect((timeout as Error).message).toMatch(/semaphore "reports".*2 of 2/)
      expect(performance.now() - started).toBeGreaterThanOrEqual(290)
      expect(await held.release()).toBe(true)
      const permit = await semaphore.tryAcquire()
      expect(permit?.held).toBe(true)
      await lw.close()
    })

    it('lw.semaphore: a waiter gets in once a holder releases or expires; peek shows holders and what is left', async (a) => {
      const lw = t.lockwork({ backend: a, closeBackend: false })
      const semaphore = lw.semaphore('jobs', { limit: 2 })
      const first = await semaphore.acquire({ ttl: '10s' })
      const second = await semaphore.acquire({ ttl: '400ms' })
      expect(second.fence).toBeGreaterThan(first.fence)
      const state = await semaphore.peek()
      expect(state.limit).toBe(2)
      expect(state.inUse).toBe(2)
      expect(state.available).toBe(0)
      expect(state.holders.map((holder) => holder.owner).sort()).toEqual([first.owner, second.owner].sort())
      // The second holder's lease runs out: the waiter takes its place.
      const third = await semaphore.acquire({ wait: '10s' })
      expect(third.fence).toBeGreaterThan(second.fence)
      // A release lets the next one in.
      setTimeout(() => void first.release(), 200)
      const fourth = await semaphore.acquire({ wait: '10s' })
      expect(first.held).toBe(false)
      expect(fourth.held).toBe(true)
      await lw.close()
      // close() released what the client held.
      expect((await a.peekPermits(lw.fullKey('jobs'))).inUse).toBe(0)
    })

    it('lw.semaphore: bad limits and permit counts are InvalidArgumentError before any backend call', async (a) => {
      const counted = countingBackend(a)
      const lw = t.lockwork({ backend: counted.backend, closeBackend: false })
      for (const limit of [
        0,
        -1,
        1.5,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        MAX_SEMAPHORE_LIMIT + 1,
        '2',
        undefined,
      ]) {
        const error = await rejection(async () => lw.semaphore('bad', { limit } as never))
        expect(error, `limit ${String(limit)}`).toBeInstanceOf(InvalidArgumentError)
      }
      expect(await rejection(async () => lw.semaphore('', { limit: 1 }))).toBeInstanceOf(InvalidArgumentError)
      const semaphore = lw.semaphore('bad', { limit: 2 })
      for (const permits of [0, 3, 1.5, -1, Number.NaN, '1']) {
        const error = await rejection(semaphore.acquire({ permits } as never))
        expect(error, `permits ${String(permits)}`).toBeInstanceOf(InvalidArgumentError)
      }
      expect(await rejection(semaphore.acquire({ ttl: -5 }))).toBeInstanceOf(InvalidArgumentError)
      expect(counted.calls()).toBe(0)
      await lw.close()
    })
  })

  describe('waitForPermits', () => {
    /** A case that needs `waitForPermits` on top of the capability. */
    const itWake = (name: string, body: (backend: PermitBackend) => Promise<void>) =>
      it(name, body, undefined, true)

    itWake('resolves at once when enough permits are free', async (a) => {
      const key = t.key('sem-wait-free')
      await a.acquirePermits(key, owner(), 1, 2, 10_000)
      const started = performance.now()
      await a.waitForPermits!(key, 1, 2, 5_000)
      expect(performance.now() - started).toBeLessThan(1_000)
    })

    itWake('resolves promptly when a holder on another instance releases', async (a) => {
      const b = await another()
      const key = t.key('sem-wake')
      const x = owner()
      await b.acquirePermits(key, x, 1, 1, 20_000)
      let releasedAt = 0
      setTimeout(() => {
        releasedAt = performance.now()
        void b.releasePermits(key, x)
      }, 300)
      await a.waitForPermits!(key, 1, 1, 10_000)
      expect(releasedAt).toBeGreaterThan(0)
      expect(performance.now() - releasedAt).toBeLessThan(1_000)
    })

    itWake('resolves at the timeout when the permits never free up', async (a) => {
      const key = t.key('sem-wait-timeout')
      const x = owner()
      await a.acquirePermits(key, x, 2, 3, 20_000)
      const started = performance.now()
      // 2 of 3 in use: one more would fit, two do not.
      await a.waitForPermits!(key, 2, 3, 400)
      const waited = performance.now() - started
      expect(waited).toBeGreaterThanOrEqual(350)
      expect(waited).toBeLessThan(3_000)
      await a.releasePermits(key, x)
    })

    itWake('resolves at once when its signal is already aborted', async (a) => {
      const key = t.key('sem-wait-aborted')
      const x = owner()
      await a.acquirePermits(key, x, 1, 1, 20_000)
      const started = performance.now()
      await a.waitForPermits!(key, 1, 1, 10_000, AbortSignal.abort())
      expect(performance.now() - started).toBeLessThan(1_000)
      await a.releasePermits(key, x)
    })

    itWake('resolves promptly when its signal aborts', async (a) => {
      const key = t.key('sem-wait-abort')
      const x = owner()
      await a.acquirePermits(key, x, 1, 1, 20_000)
      const controller = new AbortController()
      setTimeout(() => controller.abort(), 200)
      const started = performance.now()
      await a.waitForPermits!(key, 1, 1, 10_000, controller.signal)
      expect(performance.now() - started).toBeLessThan(2_000)
      await a.releasePermits(key, x)
    })

    itWake(
      'a waiter that gives up (abort or timeout) does not make the others on the same semaphore miss the release',
      async (a) => {
        const holder = await another()
        const other = await another()
        const key = t.key('sem-wake-others')
        const x = owner()
        await holder.acquirePermits(key, x, 2, 2, 20_000)
        const controller = new AbortController()
        const aborted = a.waitForPermits!(key, 1, 2, 10_000, controller.signal)
        const timedOut = other.waitForPermits!(key, 1, 2, 200)
        const sameInstance = a.waitForPermits!(key, 1, 2, 10_000)
        const otherInstance = other.waitForPermits!(key, 2, 2, 10_000)
        controller.abort()
        await Promise.all([aborted, timedOut])
        const releasedAt = performance.now()
        expect(await holder.releasePermits(key, x)).toBe(true)
        await Promise.all([sameInstance, otherInstance])
        expect(performance.now() - releasedAt).toBeLessThan(1_000)
      },
    )

    itWake(
      "leaves no listener on the caller's signal once it resolves (a long-lived signal must not leak)",
      async (a) => {
        const holder = await another()
        const key = t.key('sem-listeners')
        const signal = new AbortController().signal
        for (let i = 0; i < 5; i++) {
          const x = owner()
          await holder.acquirePermits(key, x, 1, 1, 20_000)
          const waiting = a.waitForPermits!(key, 1, 1, 10_000, signal)
          await delay(20)
          await holder.releasePermits(key, x)
          await waiting
          // and one that ends at its timeout
          await holder.acquirePermits(key, x, 1, 1, 20_000)
          await a.waitForPermits!(key, 1, 1, 50, signal)
          await holder.releasePermits(key, x)
        }
        expect(getEventListeners(signal, 'abort').length).toBe(0)
      },
    )

    it(
      'wakes waiters within the declared wakeUpWithinMs of a release (median of 7 rounds), on the first instance too',
      async (a) => {
        const within = t.wakeUpWithinMs ?? Number.NaN
        const holder = await another()
        const waiter = await another()
        const latencies: number[] = []
        for (let round = 0; round < 7; round++) {
          const key = t.key(`sem-latency-${round}`)
          const x = owner()
          await holder.acquirePermits(key, x, 2, 2, 20_000)
          const woke: number[] = []
          const waits = [waiter, a].map((instance) =>
            instance.waitForPermits!(key, 2, 2, 10_000).then(() => {
              woke.push(performance.now())
            }),
          )
          // Waiters on another (full) semaphore that give up meanwhile.
          const otherKey = t.key(`sem-latency-other-${round}`)
          await holder.acquirePermits(otherKey, x, 1, 1, 20_000)
          const quitting = new AbortController()
          const quits = [waiter, a].map((instance) =>
            instance.waitForPermits!(otherKey, 1, 1, 10_000, quitting.signal),
          )
          // Long enough for any polling behind the wake-up to slow down to its slowest pace.
          await delay(250)
          quitting.abort()
          await Promise.all(quits)
          const releasedAt = performance.now()
          expect(await holder.releasePermits(key, x)).toBe(true)
          await Promise.all(waits)
          latencies.push(Math.max(...woke) - releasedAt)
          await holder.releasePermits(otherKey, x)
        }
        latencies.sort((p, q) => p - q)
        const median = latencies[Math.floor(latencies.length / 2)]!
        expect(
          median,
          `median wake-up ${median.toFixed(1)} ms of ${latencies.map((l) => l.toFixed(1)).join(', ')}`,
        ).toBeLessThanOrEqual(within)
      },
      30_000,
      true,
      true,
    )

    itWake('after close() rejects with a BackendError, like every other call', async () => {
      const b = await another()
      await b.close()
      expect(await rejection(() => b.waitForPermits!(t.key('sem-closed-wait'), 1, 1, 1_000))).toBeInstanceOf(
        BackendError,
      )
    })

    itWake('resolves when a holder expires without a release, long before its timeout', async (a) => {
      const key = t.key('sem-wake-expiry')
      await a.acquirePermits(key, owner(), 1, 1, 300)
      const started = performance.now()
      await a.waitForPermits!(key, 1, 1, 10_000)
      expect(performance.now() - started).toBeLessThan(3_000)
    })
  })
}
