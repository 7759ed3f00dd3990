import { BackendError, createLockwork } from '@lockwork/core'
import { delay, owner, rejection, type SuiteContext } from './suite-context.js'

/** close(), and failures that must surface as errors rather than as "not acquired". */
export function lifecycleCases(t: SuiteContext): void {
  const { describe, it, expect } = t

  describe('lifecycle', () => {
    it('close() is idempotent and any use after it is a BackendError naming the backend', async () => {
      const b = await t.newBackend()
      expect(typeof b.name).toBe('string')
      expect(b.name).toMatch(/\S/)
      const key = t.key('closed')
      await b.close()
      await b.close()
      for (const call of [
        () => b.acquire(key, owner(), 1_000),
        () => b.extend(key, owner(), 1_000),
        () => b.release(key, owner()),
        () => b.peek(key),
        () => b.getCached(key),
        () => b.setCached(key, { value: 'v', computeMs: 0 }, 1_000),
        () => b.deleteCached(key),
      ]) {
        const error = await rejection(call)
        expect(error).toBeInstanceOf(BackendError)
        // It names the backend (a wrapper may name the one it wraps) and says what went wrong, beyond the name.
        const named = (error as BackendError).backend
        expect(
          typeof named === 'string' && named.trim() !== '',
          'BackendError.backend names the backend',
        ).toBe(true)
        expect((error as Error).message.length).toBeGreaterThan(`${named} backend: `.length + 3)
      }
    })

    it('an instance closed in the middle of an acquire (a crash between two steps) leaves no lease that outlives the ttl', async () => {
      const key = t.key('crash')
      const b = await t.newBackend()
      const acquiring = b.acquire(key, owner(), 300).then(
        () => 'settled',
        () => 'rejected',
      )
      await b.close()
      // Settled either way (taken, or refused as closed); a backend whose in-flight call never settles is not this case's concern.
      await Promise.race([acquiring, delay(2_000)])
      await delay(900)
      expect(await t.backend().peek(key)).toBeNull()
      const next = await t.backend().acquire(key, owner(), 5_000)
      expect(next.acquired).toBe(true)
    })

    it('a failing backend surfaces as BackendError from acquire and tryAcquire, never as "not acquired"', async () => {
      const b = await t.newBackend()
      await b.close()
      const lw = createLockwork({ backend: b })
      expect(await rejection(lw.acquire('k'))).toBeInstanceOf(BackendError)
      expect(await rejection(lw.tryAcquire('k'))).toBeInstanceOf(BackendError)
      expect(await rejection(lw.withLock('k', () => 1))).toBeInstanceOf(BackendError)
    })
  })
}
