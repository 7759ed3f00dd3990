import {
  InvalidArgumentError,
  type ListedCacheEntry,
  type ListedLock,
  type ListKind,
  type LockBackend,
  type Lockwork,
} from '@lockwork/core'
import { delay, owner, rejection, type SuiteContext } from './suite-context.js'

/** Every page of a listing, followed cursor by cursor (at most 1,000 pages). */
async function listAll(
  backend: LockBackend,
  prefix: string,
  limit: number,
  kind?: ListKind,
): Promise<{ locks: ListedLock[]; cacheEntries: ListedCacheEntry[]; pages: number[] }> {
  const list = backend.list?.bind(backend)
  if (list === undefined) throw new Error('the backend has no list')
  const locks: ListedLock[] = []
  const cacheEntries: ListedCacheEntry[] = []
  const pages: number[] = []
  let cursor: string | undefined
  do {
    const page = await list({ prefix, limit, cursor, kind })
    locks.push(...page.locks)
    cacheEntries.push(...page.cacheEntries)
    pages.push(page.locks.length + page.cacheEntries.length)
    cursor = page.cursor
    if (pages.length > 1_000) throw new Error('list never ended')
  } while (cursor !== undefined)
  return { locks, cacheEntries, pages }
}

/** Every page of `lw.list`, followed cursor by cursor. */
async function listClient(
  lw: Lockwork,
  prefix?: string,
): Promise<{ locks: ListedLock[]; cacheEntries: ListedCacheEntry[] }> {
  const locks: ListedLock[] = []
  const cacheEntries: ListedCacheEntry[] = []
  let cursor: string | undefined
  for (let pages = 0; pages <= 1_000; pages++) {
    const page = await lw.list({
      limit: 7,
      ...(prefix === undefined ? {} : { prefix }),
      ...(cursor === undefined ? {} : { cursor }),
    })
    locks.push(...page.locks)
    cacheEntries.push(...page.cacheEntries)
    cursor = page.cursor
    if (cursor === undefined) return { locks, cacheEntries }
  }
  throw new Error('list never ended')
}

function sortedKeys(entries: readonly { readonly key: string }[]): string[] {
  return entries.map((entry) => entry.key).sort()
}

/** The optional `list` capability: skipped where the backend has none. */
export function listCases(t: SuiteContext): void {
  const { describe, it, expect } = t
  const itList = (name: string, body: () => Promise<void>, timeoutMs?: number) =>
    it(
      name,
      async (...caseArgs: unknown[]) => {
        if (typeof t.backend().list !== 'function') return t.skip(caseArgs, 'the backend has no list')
        await body()
      },
      timeoutMs,
    )

  describe('list (optional capability)', () => {
    itList(
      'lists held locks with owner, fence and remaining lease, and cache entries with size',
      async () => {
        const b = t.backend()
        const base = `${t.key('list-held')}/`
        const held = new Map<string, { owner: string; fence: number }>()
        for (const name of ['a', 'b', 'c']) {
          const who = owner()
          const result = await b.acquire(base + name, who, 30_000)
          if (!result.acquired) throw new Error('a fresh key was held')
          held.set(base + name, { owner: who, fence: result.fence })
        }
        const released = owner()
        await b.acquire(`${base}released`, released, 30_000)
        await b.release(`${base}released`, released)
        await b.setCached(`${base}cache-1`, { value: 'héllo 🔒', computeMs: 3 }, 30_000)
        await b.setCached(`${base}cache-2`, { value: '', computeMs: 0 }, 30_000)

        // Listed through another instance: what one process holds, another sees.
        const other = await t.newBackend()
        const { locks, cacheEntries } = await listAll(other, base, 100)
        expect(sortedKeys(locks)).toEqual([...held.keys()].sort())
        for (const lock of locks) {
          const expected = held.get(lock.key)
          expect(lock.owner).toBe(expected?.owner)
          expect(lock.fence).toBe(expected?.fence)
          expect(lock.remainingMs).toBeGreaterThan(10_000)
          expect(lock.remainingMs).toBeLessThanOrEqual(30_000)
        }
        expect(sortedKeys(cacheEntries)).toEqual([`${base}cache-1`, `${base}cache-2`])
        const sizes = Object.fromEntries(cacheEntries.map((entry) => [entry.key, entry.size]))
        expect(sizes).toEqual({ [`${base}cache-1`]: Buffer.byteLength('héllo 🔒'), [`${base}cache-2`]: 0 })
        for (const entry of cacheEntries) {
          expect(entry.remainingMs).toBeGreaterThan(10_000)
          expect(entry.remainingMs).toBeLessThanOrEqual(30_000)
        }

        const onlyLocks = await listAll(other, base, 100, 'locks')
        expect(sortedKeys(onlyLocks.locks)).toEqual([...held.keys()].sort())
        expect(onlyLocks.cacheEntries).toEqual([])
        const onlyCache = await listAll(other, base, 100, 'cache')
        expect(onlyCache.locks).toEqual([])
        expect(sortedKeys(onlyCache.cacheEntries)).toEqual([`${base}cache-1`, `${base}cache-2`])
      },
    )

    itList('pages with small limits: no page over the limit, no duplicates, nothing missed', async () => {
      const b = t.backend()
      const base = `${t.key('list-pages')}/`
      const lockKeys = Array.from({ length: 9 }, (_, i) => `${base}lock-${i}`)
      const cacheKeys = Array.from({ length: 7 }, (_, i) => `${base}cache-${i}`)
      // Written out of key order: a store that keeps insertion order must still page in key order.
      for (const i of [3, 7, 0, 5, 8, 1, 6, 2, 4]) await b.acquire(lockKeys[i]!, owner(), 60_000)
      for (const key of [...cacheKeys].reverse()) await b.setCached(key, { value: key, computeMs: 1 }, 60_000)
      // A neighbour that sorts right after the prefix range must not leak in.
      await b.acquire(`${t.key('list-pages')}0`, owner(), 60_000)

      for (const limit of [1, 2, 3, 5, 16, 1000]) {
        const { locks, cacheEntries, pages } = await listAll(b, base, limit)
        for (const size of pages) expect(size).toBeLessThanOrEqual(limit)
        expect(sortedKeys(locks)).toEqual([...lockKeys].sort())
        expect(sortedKeys(cacheEntries)).toEqual([...cacheKeys].sort())
      }
      const locksOnly = await listAll(b, base, 2, 'locks')
      expect(sortedKeys(locksOnly.locks)).toEqual([...lockKeys].sort())
      expect(locksOnly.cacheEntries).toEqual([])
    })

    itList('matches the prefix literally: %, _, *, ?, [ ] and \\ are no patterns', async () => {
      const b = t.backend()
      const base = t.key('list-literal')
      const prefix = `${base}/100%_a*b?[cd]\\e:`
      const wanted = [`${prefix}1`, `${prefix}2`]
      // Each decoy would match if the prefix were a LIKE or glob pattern.
      const decoys = [
        `${base}/100Xa*b?[cd]\\e:1`, // % as "anything"
        `${base}/100a*b?[cd]\\e:1`, // % as "nothing"
        `${base}/100%Xa*b?[cd]\\e:1`, // _ as "one character"
        `${base}/100%_aXXb?[cd]\\e:1`, // * as "anything"
        `${base}/100%_ab?[cd]\\e:1`, // * as "nothing"
        `${base}/100%_a*bX[cd]\\e:1`, // ? as "one character"
        `${base}/100%_a*b?c\\e:1`, // [cd] as a character class
        `${base}/100%_a*b?[cd]e:1`, // \ as an escape
        `${base}/100%_a*b?[cd]\\E:1`, // case
      ]
      for (const key of [...wanted, ...decoys]) {
        await b.acquire(key, owner(), 60_000)
        await b.setCached(key, { value: 'v', computeMs: 0 }, 60_000)
      }
      const { locks, cacheEntries } = await listAll(b, prefix, 3)
      expect(sortedKeys(locks)).toEqual(wanted)
      expect(sortedKeys(cacheEntries)).toEqual(wanted)
      // The decoys are there: listed under the common stem.
      const all = await listAll(b, `${base}/`, 100)
      expect(all.locks.length).toBe(wanted.length + decoys.length)
    })

    itList(
      'prefixes at both ends of the key space: only U+10FFFF (no key sorts right after its range) and punctuation that sorts before letters',
      async () => {
        const b = t.backend()
        // No string is greater than every key starting with this prefix: a store that
        // turns a prefix into a key range has no upper bound here and must still list it.
        const top = '\u{10FFFF}\u{10FFFF}'
        const stem = t.key('list-top')
        const wanted = [`${top}${stem}/1`, `${top}${stem}/2`, `${top}${stem}/3`]
        // Each decoy sorts just below the prefix or shares only part of it.
        const decoys = [`\u{10FFFF}\u{10FFFE}${stem}/1`, `\u{10FFFF}${stem}/1`, `\u{10FFFE}${top}${stem}/1`]
        for (const key of [...wanted, ...decoys]) {
          await b.acquire(key, owner(), 60_000)
          await b.setCached(key, { value: 'v', computeMs: 0 }, 60_000)
        }
        // Other runs on a shared store may list keys under the same prefix: keep this case's own.
        const mine = (entries: readonly { readonly key: string }[]) =>
          sortedKeys(entries.filter((entry) => entry.key.includes(stem)))
        for (const limit of [2, 100]) {
          const { locks, cacheEntries } = await listAll(b, top, limit)
          expect(mine(locks)).toEqual(wanted)
          expect(mine(cacheEntries)).toEqual(wanted)
          for (const entry of [...locks, ...cacheEntries]) expect(entry.key.startsWith(top)).toBe(true)
        }
        const onlyCache = await listAll(b, top, 100, 'cache')
        expect(mine(onlyCache.cacheEntries)).toEqual(wanted)
        expect(onlyCache.locks).toEqual([])
        // The low end: keys that sort before every letter and digit.
        const low = `!#${stem}`
        const lowKeys = [`${low}/1`, `${low}/2`]
        for (const key of lowKeys) {
          await b.acquire(key, owner(), 60_000)
          await b.setCached(key, { value: 'v', computeMs: 0 }, 60_000)
        }
        for (const limit of [1, 100]) {
          const { locks, cacheEntries } = await listAll(b, low, limit)
          expect(sortedKeys(locks)).toEqual(lowKeys)
          expect(sortedKeys(cacheEntries)).toEqual(lowKeys)
        }
      },
    )

    itList('where a backend reports how many callers wait for a lock, the count is right', async () => {
      const b = t.backend()
      const key = `${t.key('list-waiting')}/held`
      const a = owner()
      await b.acquire(key, a, 30_000)
      const listed = async () => (await listAll(b, key, 10, 'locks')).locks.find((lock) => lock.key === key)
      const before = await listed()
      expect(before?.owner).toBe(a)
      if (typeof b.waitForRelease !== 'function') {
        await b.release(key, a)
        return
      }
      const quitting = new AbortController()
      const waits = [
        b.waitForRelease(key, 10_000, quitting.signal),
        b.waitForRelease(key, 10_000, quitting.signal),
      ]
      const during = await listed()
      quitting.abort()
      await Promise.all(waits)
      const after = await listed()
      // A backend that reports the count for a lock reports it each time, right.
      if ([before, during, after].some((lock) => lock?.waiting !== undefined)) {
        expect([before?.waiting, during?.waiting, after?.waiting]).toEqual([0, 2, 0])
      }
      await b.release(key, a)
    })

    itList('never lists expired locks or cache entries', async () => {
      const b = t.backend()
      const base = `${t.key('list-expired')}/`
      await b.acquire(`${base}short`, owner(), 100)
      await b.setCached(`${base}short-cache`, { value: 'v', computeMs: 0 }, 100)
      await b.acquire(`${base}long`, owner(), 60_000)
      await b.setCached(`${base}long-cache`, { value: 'v', computeMs: 0 }, 60_000)
      await delay(600)
      const { locks, cacheEntries } = await listAll(b, base, 100)
      expect(sortedKeys(locks)).toEqual([`${base}long`])
      expect(sortedKeys(cacheEntries)).toEqual([`${base}long-cache`])
    })

    itList('rejects a cursor it did not make with InvalidArgumentError', async () => {
      const b = t.backend()
      const error = await rejection(() =>
        (b.list as NonNullable<LockBackend['list']>)({
          prefix: t.key('x'),
          limit: 10,
          cursor: 'not a cursor',
        }),
      )
      expect(error).toBeInstanceOf(InvalidArgumentError)
    })

    itList(
      'lw.list shows the client’s own keys without its prefix, not nested or internal ones',
      async () => {
        const prefix = t.key('list-client')
        const lw = t.lockwork({ prefix })
        const nested = t.lockwork({ prefix: `${prefix}:tenant` })
        const mine = await lw.acquire('orders:1', { ttl: '30s' })
        await lw.acquire('orders:2', { ttl: '30s' })
        await lw.acquire('users:1', { ttl: '30s' })
        await nested.acquire('orders:3', { ttl: '30s' })
        const price = lw.cached({ key: (id: string) => `price:${id}`, ttl: '30s' }, async () => 'ok')
        await price('ACME')

        const orders = await listClient(lw, 'orders:')
        expect(sortedKeys(orders.locks)).toEqual(['orders:1', 'orders:2'])
        expect(orders.locks.find((lock) => lock.key === 'orders:1')?.fence).toBe(mine.fence)
        const everything = await listClient(lw)
        expect(sortedKeys(everything.locks)).toEqual(['orders:1', 'orders:2', 'users:1'])
        expect(sortedKeys(everything.cacheEntries)).toEqual(['price:ACME'])
        const error = await rejection(() => lw.list({ limit: 0 }))
        expect(error).toBeInstanceOf(InvalidArgumentError)
      },
    )
  })
}
