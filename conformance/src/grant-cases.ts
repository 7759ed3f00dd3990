import { createLockwork, type LockBackend, type LockGrant } from '@lockwork/core'
import { delay, owner, type SuiteContext } from './suite-context.js'

/**
 * How long a case waits after starting a queued wait before it releases,
 * so that the wait has queued itself (one subscription and one backend call;
 * generous, for a loaded machine).
 */
const QUEUE_SETTLE_MS = 1_000

/**
 * Grant-on-release ({@link LockBackend.waitForGrant}): a release hands the
 * key to the oldest live queued waiter. Skipped for a backend without it.
 */
export function grantCases(t: SuiteContext): void {
  const { describe, it, expect } = t

  /** A case that runs only where the backend has `waitForGrant`; 30 s unless given (queued waits on a loaded machine). */
  const itGrant = (name: string, body: () => Promise<void>, timeoutMs = 30_000) =>
    // A rest parameter keeps the body's length 0: jest and mocha would read a named one as `done`.
    it(
      name,
      async (...caseArgs: unknown[]) => {
        if (typeof t.backend().waitForGrant !== 'function')
          return t.skip(caseArgs, 'the backend has no waitForGrant')
        await body()
      },
      timeoutMs,
    )

  /** Starts a queued wait of `who` on `backend` and gives it time to queue; `grant` is the wait. */
  const queue = async (
    backend: LockBackend,
    key: string,
    who: string,
    options: { ttlMs?: number; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<{ readonly grant: Promise<LockGrant | undefined> }> => {
    const waiting = backend.waitForGrant!(
      key,
      who,
      options.ttlMs ?? 20_000,
      options.timeoutMs ?? 20_000,
      options.signal,
    )
    // Caught here too, so that a rejection while the case still waits is not reported as unhandled.
    waiting.catch(() => undefined)
    await delay(QUEUE_SETTLE_MS)
    return { grant: waiting }
  }

  /** Tries `acquire` every 50 ms until it succeeds or `withinMs` has passed; the time it took, or Infinity. */
  const acquireWithin = async (backend: LockBackend, key: string, who: string, withinMs: number) => {
    const started = performance.now()
    while (performance.now() - started < withinMs) {
      if ((await backend.acquire(key, who, 20_000)).acquired) return performance.now() - started
      await delay(50)
    }
    return Number.POSITIVE_INFINITY
  }

  describe('waitForGrant (grant-on-release)', () => {
    itGrant('resolves at once, not queued, when the key is free', async () => {
      const started = performance.now()
      const grant = await t.backend().waitForGrant!(t.key('grant-free'), owner(), 10_000, 5_000)
      expect(grant).toBeUndefined()
      expect(performance.now() - started).toBeLessThan(2_000)
    })

    itGrant(
      'a release hands the key to the queued waiter: it holds the lease with a higher fence',
      async () => {
        const key = t.key('grant-one')
        const holder = await t.newBackend()
        const waiter = await t.newBackend()
        const a = owner()
        const b = owner()
        const first = await holder.acquire(key, a, 20_000)
        expect(first.acquired).toBe(true)
        const { grant: waiting } = await queue(waiter, key, b, { ttlMs: 15_000 })
        const releasedAt = performance.now()
        expect(await holder.release(key, a)).toBe(true)
        const grant = await waiting
        expect(performance.now() - releasedAt).toBeLessThan(2_000)
        expect(grant).not.toBeUndefined()
        expect(grant!.fence).toBeGreaterThan(first.acquired ? first.fence : Number.POSITIVE_INFINITY)
        expect(grant!.remainingMs).toBeLessThanOrEqual(15_000)
        expect(grant!.remainingMs).toBeGreaterThan(10_000)
        const info = await t.backend().peek(key)
        expect(info?.owner).toBe(b)
        expect(info?.fence).toBe(grant!.fence)
        // The old holder's second release changes nothing; the grantee's frees the key.
        expect(await holder.release(key, a)).toBe(false)
        expect(await waiter.release(key, b)).toBe(true)
        expect(await t.backend().peek(key)).toBeNull()
      },
    )

    itGrant('grants go to the queued waiters in arrival order, with increasing fences', async () => {
      const key = t.key('grant-order')
      const holder = await t.newBackend()
      const instances = [await t.newBackend(), await t.newBackend(), await t.newBackend()]
      const owners = instances.map(() => owner())
      const a = owner()
      const first = await holder.acquire(key, a, 20_000)
      expect(first.acquired).toBe(true)
      const waits: Promise<LockGrant | undefined>[] = []
      for (let i = 0; i < instances.length; i++)
        waits.push((await queue(instances[i]!, key, owners[i]!)).grant)
      let fence = first.acquired ? first.fence : 0
      expect(await holder.release(key, a)).toBe(true)
      for (let i = 0; i < instances.length; i++) {
        const grant = await waits[i]!
        expect(grant, `waiter ${i}`).not.toBeUndefined()
        expect(grant!.fence).toBeGreaterThan(fence)
        fence = grant!.fence
        expect((await t.backend().peek(key))?.owner).toBe(owners[i])
        expect(await instances[i]!.release(key, owners[i]!)).toBe(true)
      }
      expect(await t.backend().peek(key)).toBeNull()
    })

    itGrant('an aborted queued waiter leaves the queue: the next waiter gets the key', async () => {
      const key = t.key('grant-abort')
      const holder = await t.newBackend()
      const quitter = await t.newBackend()
      const stayer = await t.newBackend()
      const a = owner()
      const q = owner()
      const s = owner()
      await holder.acquire(key, a, 20_000)
      const controller = new AbortController()
      const { grant: quitting } = await queue(quitter, key, q, { signal: controller.signal })
      const { grant: staying } = await queue(stayer, key, s)
      controller.abort()
      expect(await quitting).toBeUndefined()
      const releasedAt = performance.now()
      expect(await holder.release(key, a)).toBe(true)
      const grant = await staying
      expect(performance.now() - releasedAt).toBeLessThan(2_000)
      expect(grant).not.toBeUndefined()
      expect((await t.backend().peek(key))?.owner).toBe(s)
      await stayer.release(key, s)
    })

    itGrant(
      'an abort that races the release: the aborted waiter reports the grant it got, and releasing it hands the key on',
      async () => {
        const holder = await t.newBackend()
        const quitter = await t.newBackend()
        const stayer = await t.newBackend()
        // The rounds run side by side, each on its own key: each spends most of its time
        // letting its two waiters queue, one after the other.
        const race = async (round: number): Promise<void> => {
          const key = t.key(`grant-abort-race-${round}`)
          const a = owner()
          const q = owner()
          const s = owner()
          await holder.acquire(key, a, 20_000)
          const controller = new AbortController()
          const { grant: quitting } = await queue(quitter, key, q, { signal: controller.signal })
          const { grant: staying } = await queue(stayer, key, s)
          // The abort and the release in the same tick, in both orders.
          let released: Promise<boolean>
          if (round % 2 === 0) {
            controller.abort()
            released = holder.release(key, a)
          } else {
            released = holder.release(key, a)
            controller.abort()
          }
          expect(await released).toBe(true)
          const quitGrant = await quitting
          if (quitGrant !== undefined) {
            // It was handed the key before it left: it holds it until it releases.
            expect((await t.backend().peek(key))?.owner).toBe(q)
            expect(await quitter.release(key, q)).toBe(true)
          }
          const releasedAt = performance.now()
          const grant = await staying
          expect(performance.now() - releasedAt, `round ${round}`).toBeLessThan(2_000)
          expect(grant, `round ${round}`).not.toBeUndefined()
          expect((await t.backend().peek(key))?.owner).toBe(s)
          await stayer.release(key, s)
        }
        await Promise.all(Array.from({ length: 6 }, (_, round) => race(round)))
      },
      60_000,
    )

    itGrant('a waiter that times out leaves the queue: a later release leaves the key free', async () => {
      const key = t.key('grant-timeout')
      const holder = await t.newBackend()
      const waiter = await t.newBackend()
      const a = owner()
      await holder.acquire(key, a, 20_000)
      const started = performance.now()
      const grant = await waiter.waitForGrant!(key, owner(), 20_000, 300)
      expect(grant).toBeUndefined()
      expect(performance.now() - started).toBeLessThan(3_000)
      expect(await holder.release(key, a)).toBe(true)
      expect(await t.backend().peek(key)).toBeNull()
    })

    itGrant(
      'a queued waiter whose instance closes does not strand the key: the next acquirer gets it',
      async () => {
        const key = t.key('grant-closed')
        const holder = await t.newBackend()
        const closing = await t.newBackend()
        const a = owner()
        const c = owner()
        await holder.acquire(key, a, 20_000)
        const { grant: waiting } = await queue(closing, key, c)
        await closing.close()
        // It ends with the instance (a grant cannot have come: the key is still held).
        expect(await waiting).toBeUndefined()
        expect(await holder.release(key, a)).toBe(true)
        const bound = t.grantLivenessMs ?? 10_000
        const took = await acquireWithin(t.backend(), key, owner(), bound + 2_000)
        expect(took).toBeLessThan(bound + 2_000)
      },
    )

    itGrant(
      'a burst of 24 waiters on 4 instances, a third of them aborting at random: never two holders, fences increase, every other waiter gets the key',
      async () => {
        const backends = [t.backend(), await t.newBackend(), await t.newBackend(), await t.newBackend()]
        const prefix = `${t.key('grant-burst')}:`
        const clients = backends.map((backend) => createLockwork({ backend, prefix, defaultWait: '60s' }))
        let inside = 0
        let overlaps = 0
        let lastFence = 0
        let fenceViolations = 0
        let acquired = 0
        let mustAcquire = 0
        await Promise.all(
          Array.from({ length: 24 }, async (_, i) => {
            const aborts = i % 3 === 1
            const controller = new AbortController()
            if (aborts) setTimeout(() => controller.abort(), Math.random() * 400)
            else mustAcquire++
            try {
              await clients[i % clients.length]!.withLock(
                'k',
                async (lock) => {
                  inside++
                  if (inside > 1) overlaps++
                  if (lock.fence <= lastFence) fenceViolations++
                  lastFence = lock.fence
                  await delay(5 + Math.random() * 15)
                  inside--
                  acquired++
                },
                { ttl: '10s', signal: controller.signal },
              )
            } catch (error) {
              if (!aborts) throw error
            }
          }),
        )
        expect(overlaps).toBe(0)
        expect(fenceViolations).toBe(0)
        expect(acquired).toBeGreaterThanOrEqual(mustAcquire)
        // Nothing is left queued or held.
        expect(await clients[0]!.peek('k')).toBeNull()
      },
      90_000,
    )
  })
}
