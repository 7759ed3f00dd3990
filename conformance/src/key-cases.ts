import {
  createLockwork,
  type Duration,
  InvalidArgumentError,
  MAX_FULL_KEY_LENGTH,
  MAX_KEY_LENGTH,
  MAX_PREFIX_LENGTH,
} from '@lockwork/core'
import { countingBackend, owner, rejection, type SuiteContext } from './suite-context.js'

/** Keys that tend to break stores: all must work and never collide. */
export const ODD_KEYS: readonly string[] = [
  'plain',
  'with space',
  'ünïcödé-日本語-🔒',
  "quote'single",
  'quote"double',
  'back`tick',
  'percent%_underscore',
  'star*question?',
  '{hash}{tag}',
  '}{',
  '{',
  'a:b:c',
  '--comment',
  "'; DROP TABLE locks; --",
  "') OR 1=1 --",
  ']]..redis.call("FLUSHALL")..[[',
  '\\backslash\\',
  '$1 $2 ?',
  'x'.repeat(MAX_KEY_LENGTH),
]

/**
 * Groups of keys that a store may fold into one: trailing spaces (SQL's PAD
 * SPACE collations), Unicode normalisation (precomposed vs decomposed), and
 * case in non-ASCII letters (case-insensitive or accent-insensitive
 * collations, `toLowerCase`, locale rules). Every key of a group is its own lock
 * and its own cache entry.
 */
export const LOOKALIKE_KEYS: readonly (readonly string[])[] = [
  ['pad', 'pad ', 'pad  ', 'pad\u00a0', ' pad'],
  ['caf\u00e9', 'cafe\u0301', 'CAF\u00c9', 'cafe', 'caf\u00c9'],
  ['stra\u00dfe', 'STRASSE', 'strasse', 'stra\u1e9ee'],
  ['\u0130stanbul', 'istanbul', 'Istanbul', '\u0131stanbul'],
  ['\u212b', '\u00c5', 'A\u030a', '\u00e5'],
  ['\uff4b\uff45\uff59', 'key'],
]

/** Inputs the core must reject before any backend call. */
const BAD_KEYS: readonly unknown[] = [
  '',
  'x'.repeat(MAX_KEY_LENGTH + 1),
  'nul\u0000byte',
  'lone\ud800surrogate',
  42,
  null,
  undefined,
  {},
]
const BAD_DURATIONS: readonly unknown[] = [
  0,
  -1,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  '10 parsecs',
  '',
  2 ** 40,
  '1e400ms',
  {},
]

/** Odd keys, prefixes, and the bad-input matrix. */
export function keyCases(t: SuiteContext): void {
  const { describe, it, expect } = t

  describe('keys', () => {
    it('odd keys (Unicode, quotes, %, *, {}, spaces, SQL/Lua metacharacters, maximum length) work and never collide', async () => {
      const b = t.backend()
      const lw = t.lockwork()
      const holders = new Map<string, string>()
      for (const name of ODD_KEYS) {
        const lock = await lw.acquire(name, { ttl: '10s', wait: 0 })
        holders.set(name, lock.owner)
        expect(lock.fence).toBeGreaterThanOrEqual(1)
      }
      for (const name of ODD_KEYS) {
        expect((await lw.peek(name))?.owner).toBe(holders.get(name))
        expect(await lw.tryAcquire(name)).toBeNull()
      }
      for (const name of ODD_KEYS) {
        expect(await b.release(lw.fullKey(name), holders.get(name)!)).toBe(true)
        expect(await lw.isLocked(name)).toBe(false)
      }
    })

    it('odd keys round-trip through the cache store without colliding', async () => {
      const b = t.backend()
      const base = t.key('cache-odd')
      for (const [i, name] of ODD_KEYS.entries())
        await b.setCached(`${base}:${name}`, { value: `v${i}`, computeMs: i }, 10_000)
      for (const [i, name] of ODD_KEYS.entries())
        expect((await b.getCached(`${base}:${name}`))?.value).toBe(`v${i}`)
    })

    it('keys that differ only by trailing spaces, Unicode normalisation or non-ASCII case are separate locks', async () => {
      const b = t.backend()
      const other = await t.newBackend()
      const base = t.key('lookalike-locks')
      for (const [g, group] of LOOKALIKE_KEYS.entries()) {
        const keys = group.map((name) => `${base}:${g}:${name}`)
        const owners = keys.map(() => owner())
        for (const [i, key] of keys.entries()) {
          const result = await b.acquire(key, owners[i]!, 10_000)
          expect(result.acquired, `acquire ${JSON.stringify(group[i])} beside ${JSON.stringify(group)}`).toBe(
            true,
          )
        }
        for (const [i, key] of keys.entries()) expect((await other.peek(key))?.owner).toBe(owners[i])
        // Releasing the first frees only the first.
        expect(await other.release(keys[0]!, owners[0]!)).toBe(true)
        expect(await b.peek(keys[0]!)).toBeNull()
        for (const [i, key] of keys.entries()) if (i > 0) expect((await b.peek(key))?.owner).toBe(owners[i])
        for (const [i, key] of keys.entries()) if (i > 0) expect(await b.release(key, owners[i]!)).toBe(true)
      }
    })

    it('keys that differ only by trailing spaces, Unicode normalisation or non-ASCII case are separate cache entries', async () => {
      const b = t.backend()
      const other = await t.newBackend()
      const base = t.key('lookalike-cache')
      for (const [g, group] of LOOKALIKE_KEYS.entries()) {
        const keys = group.map((name) => `${base}:${g}:${name}`)
        for (const [i, key] of keys.entries())
          await b.setCached(key, { value: `v${i}`, computeMs: i }, 10_000)
        for (const [i, key] of keys.entries()) {
          const read = await other.getCached(key)
          expect(read?.value, `read ${JSON.stringify(group[i])} beside ${JSON.stringify(group)}`).toBe(
            `v${i}`,
          )
          expect(read?.computeMs).toBe(i)
        }
        expect(await other.deleteCached(keys[0]!)).toBe(true)
        expect(await b.getCached(keys[0]!)).toBeUndefined()
        for (const [i, key] of keys.entries())
          if (i > 0) expect((await b.getCached(key))?.value).toBe(`v${i}`)
      }
    })

    it('two maximum-length keys under a maximum-length prefix, differing only in their last character, are two locks and two cache entries', async () => {
      const stem = `${t.key('max')}:`
      const lw = t.lockwork({ prefix: stem + 'p'.repeat(MAX_PREFIX_LENGTH - stem.length) })
      const other = t.lockwork({ backend: await t.newBackend(), prefix: lw.prefix })
      const [one, two] = ['a', 'b'].map((last) => 'k'.repeat(MAX_KEY_LENGTH - 1) + last) as [string, string]
      expect(lw.fullKey(one).length).toBe(MAX_FULL_KEY_LENGTH)
      const first = await lw.acquire(one, { ttl: '10s', wait: 0 })
      const second = await other.acquire(two, { ttl: '10s', wait: 0 })
      expect((await other.peek(one))?.owner).toBe(first.owner)
      expect((await lw.peek(two))?.owner).toBe(second.owner)
      expect(await first.release()).toBe(true)
      expect(await lw.isLocked(one)).toBe(false)
      expect((await lw.peek(two))?.owner).toBe(second.owner)
      await second.release()
      const b = t.backend()
      await b.setCached(lw.fullKey(one), { value: 'one', computeMs: 1 }, 10_000)
      await b.setCached(lw.fullKey(two), { value: 'two', computeMs: 2 }, 10_000)
      expect((await b.getCached(lw.fullKey(one)))?.value).toBe('one')
      expect((await b.getCached(lw.fullKey(two)))?.value).toBe('two')
    })

    it('two prefixes never see each other: the same name is two locks', async () => {
      const one = t.lockwork({ prefix: `${t.key('tenant')}:one:` })
      const two = t.lockwork({ prefix: `${t.key('tenant')}:two:` })
      const a = await one.acquire('shared-name', { wait: 0 })
      const b = await two.acquire('shared-name', { wait: 0 })
      expect(a.fence).toBeGreaterThanOrEqual(1)
      expect((await one.peek('shared-name'))?.owner).toBe(a.owner)
      expect((await two.peek('shared-name'))?.owner).toBe(b.owner)
      await a.release()
      expect(await one.isLocked('shared-name')).toBe(false)
      expect(await two.isLocked('shared-name')).toBe(true)
      await b.release()
    })
  })

  describe('bad input', () => {
    it('rejects bad keys with InvalidArgumentError naming the key, before any backend call', async () => {
      const counted = countingBackend(t.backend())
      const lw = createLockwork({ backend: counted.backend, prefix: t.key('bad') })
      for (const key of BAD_KEYS) {
        for (const call of [
          () => lw.acquire(key as string),
          () => lw.tryAcquire(key as string),
          () => lw.withLock(key as string, () => 1),
          () => lw.peek(key as string),
          () => lw.isLocked(key as string),
          () => lw.forceRelease(key as string),
        ]) {
          const error = await rejection(call)
          expect(error).toBeInstanceOf(InvalidArgumentError)
          expect((error as InvalidArgumentError).argument).toBe('key')
        }
      }
      expect(counted.calls()).toBe(0)
    })

    it('rejects bad durations and options with InvalidArgumentError naming the argument, before any backend call', async () => {
      const counted = countingBackend(t.backend())
      const lw = createLockwork({ backend: counted.backend, prefix: t.key('bad') })
      for (const ttl of BAD_DURATIONS) {
        const error = await rejection(lw.acquire('k', { ttl: ttl as Duration }))
        expect(error).toBeInstanceOf(InvalidArgumentError)
        expect((error as InvalidArgumentError).argument).toBe('options.ttl')
      }
      for (const wait of BAD_DURATIONS.filter((d) => d !== 0)) {
        const error = await rejection(lw.acquire('k', { wait: wait as Duration }))
        expect((error as InvalidArgumentError).argument).toBe('options.wait')
      }
      const wrongTypes: [unknown, string][] = [
        ['not-an-object', 'options'],
        [{ autoExtend: 'yes' }, 'options.autoExtend'],
        [{ signal: 'abort' }, 'options.signal'],
      ]
      for (const [options, argument] of wrongTypes) {
        const error = await rejection(lw.acquire('k', options as object))
        expect((error as InvalidArgumentError).argument).toBe(argument)
      }
      const notFn = await rejection(lw.withLock('k', 'not a function' as unknown as () => void))
      expect((notFn as InvalidArgumentError).argument).toBe('fn')
      const badDefault = await rejection(async () =>
        createLockwork({ backend: counted.backend, defaultTtl: -5 }),
      )
      expect((badDefault as InvalidArgumentError).argument).toBe('options.defaultTtl')
      expect(counted.calls()).toBe(0)
      const lock = await lw.acquire('k', { wait: 0 })
      const badExtend = await rejection(lock.extend(Number.NaN))
      expect((badExtend as InvalidArgumentError).argument).toBe('ttl')
      expect(lock.held).toBe(true)
      await lock.release()
    })

    it('accepts a key of exactly the maximum length under a prefix', async () => {
      const lw = t.lockwork()
      const lock = await lw.acquire('k'.repeat(MAX_KEY_LENGTH), { wait: 0 })
      expect(await lw.isLocked('k'.repeat(MAX_KEY_LENGTH))).toBe(true)
      await lock.release()
      expect(owner()).toMatch(/^[0-9a-f-]{36}$/)
    })
  })
}
