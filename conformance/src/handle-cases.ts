import { LockLostError } from '@lockwork/core'
import { delay, rejection, type SuiteContext } from './suite-context.js'

/** The `Lock` handle: lost-lease signal, auto-extension, release and disposal. */
export function handleCases(t: SuiteContext): void {
  const { describe, it, expect } = t

  const abortedWithin = (signal: AbortSignal, ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve(true)
      const timer = setTimeout(() => resolve(false), ms)
      signal.addEventListener('abort', () => {
        clearTimeout(timer)
        resolve(true)
      })
    })

  describe('lock handle', () => {
    it('signal does not abort on a normal release', async () => {
      const lw = t.lockwork()
      const lock = await lw.acquire('k', { ttl: '2s' })
      const { signal } = lock
      await delay(50)
      expect(await lock.release()).toBe(true)
      expect(await abortedWithin(signal, 2_500)).toBe(false)
    })

    it('signal aborts with LockLostError when the key is force-released', async () => {
      const lw = t.lockwork()
      const lock = await lw.acquire('k', { ttl: '20s' })
      const { signal } = lock
      const other = t.lockwork({ backend: await t.newBackend(), prefix: lw.prefix })
      expect(await other.forceRelease('k')).toBe(true)
      expect(await abortedWithin(signal, 8_000)).toBe(true)
      expect(signal.reason).toBeInstanceOf(LockLostError)
      expect((signal.reason as LockLostError).reason).toBe('released-elsewhere')
      expect(lock.held).toBe(false)
      expect(lock.remainingMs).toBe(0)
    })

    it('signal aborts when the lease expires and a rival takes it, and is aborted at once when read after the loss', async () => {
      const lw = t.lockwork()
      const lock = await lw.acquire('k', { ttl: 300 })
      const { signal } = lock
      await delay(700)
      const rival = await lw.acquire('k', { wait: 0 })
      expect(await abortedWithin(signal, 1_000)).toBe(true)
      expect((signal.reason as LockLostError).code).toBe('LOCKWORK_LOST')
      const late = await lw.acquire('late', { ttl: 200 })
      await delay(600)
      expect(late.signal.aborted).toBe(true)
      await rival.release()
    })

    it('autoExtend keeps a rival out for more than 2× the ttl while work runs, and stops after release', async () => {
      const lw = t.lockwork()
      // A ttl that an event-loop stall of a loaded machine does not outlast between two extensions.
      const lock = await lw.acquire('k', { ttl: 1_500, autoExtend: true })
      await delay(3_300)
      expect(await lw.tryAcquire('k')).toBeNull()
      expect(lock.signal.aborted).toBe(false)
      expect(await lock.release()).toBe(true)
      expect(lock.held).toBe(false)
      const next = await lw.acquire('k', { ttl: 300, wait: 0 })
      await delay(700)
      expect(await lw.isLocked('k')).toBe(false)
      expect(next.held).toBe(false)
    }, 15_000)

    it('extend keeps the lease; extend or release of a released handle has a clear outcome and no effect on others', async () => {
      const lw = t.lockwork()
      const lock = await lw.acquire('k', { ttl: 300 })
      await lock.extend('5s')
      await delay(600)
      expect(await lw.isLocked('k')).toBe(true)
      expect(await lock.release()).toBe(true)
      expect(await lock.release()).toBe(false)
      const next = await lw.acquire('k', { wait: 0 })
      const refused = await rejection(lock.extend())
      expect(refused).toBeInstanceOf(LockLostError)
      expect((refused as LockLostError).reason).toBe('released')
      expect(await lock.release()).toBe(false)
      expect((await lw.peek('k'))?.owner).toBe(next.owner)
      await next.release()
    })

    it('remainingMs counts down from the ttl in whole ms, and is 0 once released', async () => {
      const lw = t.lockwork()
      const lock = await lw.acquire('k', { ttl: '5s' })
      const first = lock.remainingMs
      expect(Number.isInteger(first)).toBe(true)
      expect(first).toBeGreaterThan(2_000)
      expect(first).toBeLessThanOrEqual(5_000)
      await delay(300)
      expect(lock.remainingMs).toBeLessThan(first)
      expect(lock.remainingMs).toBeGreaterThan(0)
      expect(await lock.release()).toBe(true)
      expect(lock.remainingMs).toBe(0)
    })

    it('two release() calls at once: exactly one reports that it freed the lease', async () => {
      const lw = t.lockwork()
      const lock = await lw.acquire('k', { ttl: '5s' })
      const outcomes = await Promise.all([lock.release(), lock.release()])
      expect([...outcomes].sort()).toEqual([false, true])
      expect(await lw.isLocked('k')).toBe(false)
    })

    it('a released handle never releases a later holder', async () => {
      const lw = t.lockwork()
      const first = await lw.acquire('k', { ttl: 300 })
      await delay(700)
      const second = await lw.acquire('k', { wait: 0 })
      expect(await first.release()).toBe(false)
      expect((await lw.peek('k'))?.owner).toBe(second.owner)
      await second.release()
    })

    it('await using releases at the end of the scope, and disposing while watching does not throw', async () => {
      const lw = t.lockwork()
      {
        await using lock = await lw.acquire('k')
        expect(lock.signal.aborted).toBe(false)
        expect(await lw.isLocked('k')).toBe(true)
      }
      expect(await lw.isLocked('k')).toBe(false)
    })

    it('withLock releases when the function throws, and returns its value otherwise', async () => {
      const lw = t.lockwork()
      const error = await rejection(
        lw.withLock('k', () => {
          throw new Error('boom')
        }),
      )
      expect((error as Error).message).toBe('boom')
      expect(await lw.isLocked('k')).toBe(false)
      expect(await lw.withLock('k', async (lock) => lock.fence > 0)).toBe(true)
      expect(await lw.isLocked('k')).toBe(false)
    })
  })
}
