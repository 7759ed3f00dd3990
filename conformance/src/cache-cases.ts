import { delay, type SuiteContext } from './suite-context.js'

/** The cache store behind `cached`. */
export function cacheCases(t: SuiteContext): void {
  const { describe, it, expect } = t

  describe('cache store', () => {
    it('misses with undefined', async () => {
      expect(await t.backend().getCached(t.key('miss'))).toBeUndefined()
    })

    it('round-trips values and compute time, with the remaining lifetime, across instances', async () => {
      const b = t.backend()
      const other = await t.newBackend()
      const values = [
        'plain',
        '',
        JSON.stringify(42),
        JSON.stringify({ nested: { list: [1, 'two', null] } }),
        JSON.stringify(null),
        'ünïcödé 日本語 🔒 "quotes" \'single\' \\ %',
        'x'.repeat(100_000),
      ]
      for (const [i, value] of values.entries()) {
        const key = t.key(`round-trip-${i}`)
        await b.setCached(key, { value, computeMs: 17 + i }, 10_000)
        const read = await other.getCached(key)
        expect(read?.value).toBe(value)
        expect(read?.computeMs).toBe(17 + i)
        expect(read?.remainingMs).toBeGreaterThan(5_000)
        expect(read?.remainingMs).toBeLessThanOrEqual(10_000)
      }
    })

    it('overwrites and deletes', async () => {
      const b = t.backend()
      const key = t.key('overwrite')
      await b.setCached(key, { value: 'one', computeMs: 1 }, 10_000)
      await b.setCached(key, { value: 'two', computeMs: 2 }, 20_000)
      const read = await b.getCached(key)
      expect(read?.value).toBe('two')
      expect(read?.remainingMs).toBeGreaterThan(10_000)
      expect(await b.deleteCached(key)).toBe(true)
      expect(await b.getCached(key)).toBeUndefined()
      expect(await b.deleteCached(key)).toBe(false)
    })

    it('expires entries after their ttl', async () => {
      const b = t.backend()
      const key = t.key('cache-expiry')
      await b.setCached(key, { value: 'soon gone', computeMs: 0 }, 200)
      expect((await b.getCached(key))?.value).toBe('soon gone')
      await delay(700)
      expect(await b.getCached(key)).toBeUndefined()
    })

    it('deleteCached of an expired entry reports false: nothing unexpired existed', async () => {
      const b = t.backend()
      const key = t.key('delete-expired')
      await b.setCached(key, { value: 'gone', computeMs: 0 }, 200)
      await delay(700)
      // Nothing has read the key since it expired.
      expect(await b.deleteCached(key)).toBe(false)
      expect(await b.getCached(key)).toBeUndefined()
    })

    it('keeps the cache and the locks apart: a cache entry does not lock its key', async () => {
      const b = t.backend()
      const key = t.key('apart')
      await b.setCached(key, { value: 'v', computeMs: 0 }, 10_000)
      expect(await b.peek(key)).toBeNull()
      const got = await b.acquire(key, 'owner-a', 5_000)
      expect(got.acquired).toBe(true)
      expect((await b.getCached(key))?.value).toBe('v')
      await b.release(key, 'owner-a')
      expect((await b.getCached(key))?.value).toBe('v')
    })
  })
}
