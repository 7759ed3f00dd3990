import { createMemoryBackend, MemoryStore } from '@lockwork/memory'
import { describe, expect, it, vi } from 'vitest'
import {
  type Codec,
  ComputeFailedError,
  createLockwork,
  InvalidArgumentError,
  jsonCodec,
  type LockBackend,
  LockBusyError,
  LockTimeoutError,
} from '../src/index.js'
import { INTERNAL_SEPARATOR } from '../src/key.js'

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function backends(n: number): LockBackend[] {
  const store = new MemoryStore()
  return Array.from({ length: n }, () => createMemoryBackend({ store }))
}

/** A plain object forwarding every method to `backend`, so a test can replace some. */
function delegate(backend: LockBackend): LockBackend {
  return {
    name: backend.name,
    acquire: (key, owner, ttlMs) => backend.acquire(key, owner, ttlMs),
    extend: (key, owner, ttlMs) => backend.extend(key, owner, ttlMs),
    release: (key, owner) => backend.release(key, owner),
    peek: (key) => backend.peek(key),
    getCached: (key) => backend.getCached(key),
    setCached: (key, entry, ttlMs) => backend.setCached(key, entry, ttlMs),
    deleteCached: (key) => backend.deleteCached(key),
    close: () => backend.close(),
  }
}

/** The memory backend without wake-up, so the backoff path is exercised too. */
const withoutWakeUp = delegate

describe('cached', () => {
  it('computes once, then hits; invalidate makes the next call compute again', async () => {
    const lw = createLockwork({ backend: createMemoryBackend(), prefix: 'p:' })
    let computations = 0
    const square = lw.cached({ key: (n: number) => `square:${n}`, ttl: '10s' }, async (n: number) => {
      computations++
      return n * n
    })
    expect(await square(3)).toBe(9)
    expect(await square(3)).toBe(9)
    expect(computations).toBe(1)
    expect(await square.peek(3)).toBe(9)
    expect(await square.peek(4)).toBeUndefined()
    expect(await square.invalidate(3)).toBe(true)
    expect(await square.invalidate(3)).toBe(false)
    expect(await square(3)).toBe(9)
    expect(computations).toBe(2)
  })

  it('stores under the full key (prefix, separator, key), with ttl + staleFor; an explicit ttl beats the default', async () => {
    const backend = createMemoryBackend()
    const lw = createLockwork({ backend, prefix: 'p:', defaultTtl: '30s' })
    const byDefault = lw.cached({ key: 'a' }, () => 'x')
    const explicit = lw.cached({ key: 'b', ttl: '2s', staleFor: '1s' }, () => 'y')
    await byDefault()
    await explicit()
    expect((await backend.getCached(lw.fullKey('a')))?.remainingMs).toBeGreaterThan(25_000)
    const stored = await backend.getCached(lw.fullKey('b'))
    expect(stored?.value).toBe('dv1:["y"]')
    expect(stored?.remainingMs).toBeGreaterThan(2_000)
    expect(stored?.remainingMs).toBeLessThanOrEqual(3_000)
    // The compute lock lives under a derived key, not the user's.
    expect(await lw.isLocked('b')).toBe(false)
  })

  it('single-flight in one process: concurrent callers share one computation and one promise', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    let computations = 0
    const slow = lw.cached({ key: 'slow' }, async () => {
      computations++
      await delay(50)
      return { n: 1 }
    })
    const results = await Promise.all(Array.from({ length: 20 }, () => slow()))
    expect(computations).toBe(1)
    for (const r of results) expect(r).toEqual({ n: 1 })
  })

  for (const wake of ['with wake-up', 'with backoff'] as const) {
    it(`single-flight across instances (${wake}): 30 callers on 3 instances → 1 computation`, async () => {
      const list = backends(3).map((b) => (wake === 'with wake-up' ? b : withoutWakeUp(b)))
      let computations = 0
      const fns = list.map((backend) =>
        createLockwork({ backend, prefix: 'p:' }).cached({ key: 'cold' }, async () => {
          computations++
          await delay(100)
          return 'value'
        }),
      )
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => fns[i % 3]!()))
      expect(computations).toBe(1)
      expect(new Set(results)).toEqual(new Set(['value']))
    })
  }

  it('a failing computation is not cached; in-process callers get the same error, other processes ComputeFailedError; the next call retries', async () => {
    const [b1, b2] = backends(2)
    let attempts = 0
    const boom = new TypeError('upstream down')
    const compute = async () => {
      attempts++
      await delay(80)
      if (attempts === 1) throw boom
      return 'ok'
    }
    const one = createLockwork({ backend: b1!, prefix: 'p:' }).cached({ key: 'k' }, compute)
    const two = createLockwork({ backend: b2!, prefix: 'p:' }).cached({ key: 'k' }, compute)
    const first = one().catch((e: unknown) => e)
    const sameProcess = one().catch((e: unknown) => e)
    await delay(10)
    const elsewhere = two().catch((e: unknown) => e)
    expect(await first).toBe(boom)
    expect(await sameProcess).toBe(boom)
    const remote = await elsewhere
    expect(remote).toBeInstanceOf(ComputeFailedError)
    expect((remote as ComputeFailedError).key).toBe('k')
    expect((remote as Error).message).toMatch(/TypeError: upstream down/)
    expect(await one.peek()).toBeUndefined()
    // A new call is not waiting on the failed run: it ignores the marker and computes.
    expect(await two()).toBe('ok')
    expect(attempts).toBe(2)
  })

  it('serves a stale value inside staleFor while exactly one caller refreshes', async () => {
    const list = backends(3)
    let version = 0
    let computations = 0
    const fns = list.map((backend) =>
      createLockwork({ backend, prefix: 'p:' }).cached(
        { key: 'v', ttl: 1_000, staleFor: '10s' },
        async () => {
          computations++
          await delay(version === 0 ? 0 : 400)
          return ++version
        },
      ),
    )
    expect(await fns[0]!()).toBe(1)
    await delay(1_100)
    const started = performance.now()
    const stale = await Promise.all(Array.from({ length: 15 }, (_, i) => fns[i % 3]!()))
    // Served without waiting for the 400 ms refresh (the values say so too: all are the stale 1).
    expect(performance.now() - started).toBeLessThan(300)
    expect(new Set(stale)).toEqual(new Set([1]))
    // The refresh ends 400 ms after it started and stays fresh for 1 s after that.
    await delay(700)
    expect(await fns[1]!()).toBe(2)
    expect(computations).toBe(2)
  })

  it('without staleFor, an expired value is recomputed by the caller', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    let n = 0
    const fn = lw.cached({ key: 'k', ttl: 100 }, () => ++n)
    expect(await fn()).toBe(1)
    await delay(150)
    expect(await fn()).toBe(2)
  })

  it('earlyRefresh recomputes in the background before expiry (XFetch), serving the current value', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    // −ln(0.01) ≈ 4.6: with computeMs ≈ 60 a read refreshes once less than ~276 ms of freshness is left.
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.01)
    // Fake timers: the test is about when a refresh starts relative to the ttl; on a loaded
    // machine real time would stretch the 60 ms compute and expire the 1 s values.
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance', 'Date'],
    })
    /** Advances the fake clock 1 ms at a time until `promise` settles. */
    const settle = async <T>(promise: Promise<T>): Promise<T> => {
      let done = false
      const watched = promise.finally(() => {
        done = true
      })
      for (let ms = 0; !done && ms < 10_000; ms++) await vi.advanceTimersByTimeAsync(1)
      return watched
    }
    const pass = async (ms: number) => {
      for (let i = 0; i < ms; i++) await vi.advanceTimersByTimeAsync(1)
    }
    try {
      let n = 0
      const compute = async () => {
        await delay(60)
        return ++n
      }
      const early = lw.cached({ key: 'early', ttl: 1_000, earlyRefresh: true }, compute)
      const late = lw.cached({ key: 'late', ttl: 1_000 }, compute)
      expect(await settle(early())).toBe(1)
      expect(await settle(late())).toBe(2)
      expect(await settle(early())).toBe(1) // plenty of freshness left: no refresh
      await pass(800)
      expect(await settle(early())).toBe(1) // served at once, refreshed in the background
      expect(await settle(late())).toBe(2)
      await pass(120)
      expect(await settle(early())).toBe(3) // the old value would still have been fresh
      expect(await settle(late())).toBe(2)
    } finally {
      vi.useRealTimers()
      random.mockRestore()
    }
  })

  it('values pass through the codec; values it cannot encode are a clear error and are not cached', async () => {
    const backend = createMemoryBackend()
    const lw = createLockwork({ backend, prefix: 'p:' })
    const dateCodec: Codec<Date> = {
      encode: (d) => String(d.getTime()),
      decode: (text) => new Date(Number(text)),
    }
    const when = lw.cached({ key: 'when', codec: dateCodec }, () => new Date(1_700_000_000_000))
    expect((await when()).getTime()).toBe(1_700_000_000_000)
    expect((await backend.getCached(lw.fullKey('when')))?.value).toBe('1700000_000_000'.replaceAll('_', ''))
    expect(await when()).toBeInstanceOf(Date)

    class Point {
      x = 1
    }
    for (const [label, value] of [
      ['class', new Point()],
      ['error', new Error('boom')],
      ['symbol', { s: Symbol('s') }],
      ['function', { f: () => 1 }],
    ] as const) {
      const fn = lw.cached({ key: `bad-${label}` }, () => value)
      const error = await fn().catch((e: unknown) => e)
      expect(error, label).toBeInstanceOf(InvalidArgumentError)
      expect((error as InvalidArgumentError).argument).toBe('value')
      expect((error as Error).message).toMatch(`bad-${label}`)
      expect(await backend.getCached(lw.fullKey(`bad-${label}`))).toBeUndefined()
    }
    // Every caller gets the value as the codec returns it, also the one that computed it.
    const json = lw.cached({ key: 'json', codec: jsonCodec }, () => ({ at: '1970', skip: undefined }))
    expect(await json()).toStrictEqual({ at: '1970' })
  })

  it('an entry the codec cannot read counts as a miss', async () => {
    const backend = createMemoryBackend()
    const lw = createLockwork({ backend, prefix: 'p:' })
    await backend.setCached('p:k', { value: '{not json', computeMs: 1 }, 10_000)
    const fn = lw.cached({ key: 'k' }, () => 'fresh')
    expect(await fn.peek()).toBeUndefined()
    expect(await fn()).toBe('fresh')
  })

  it('wait bounds how long a caller waits for another process (0 → LockBusyError)', async () => {
    const [b1, b2] = backends(2)
    const slow = async () => {
      await delay(300)
      return 1
    }
    const winner = createLockwork({ backend: b1!, prefix: 'p:' }).cached({ key: 'k' }, slow)
    const patient = createLockwork({ backend: b2!, prefix: 'p:' }).cached({ key: 'k', wait: 50 }, slow)
    const impatient = createLockwork({ backend: b2!, prefix: 'p:' }).cached({ key: 'k', wait: 0 }, slow)
    const first = winner()
    await delay(10)
    expect(await patient().catch((e: unknown) => e)).toBeInstanceOf(LockTimeoutError)
    expect(await impatient().catch((e: unknown) => e)).toBeInstanceOf(LockBusyError)
    expect(await first).toBe(1)
  })

  it('derived keys never collide with user keys, and stay within the backend key limit', async () => {
    const backend = createMemoryBackend()
    const seen: string[] = []
    const spy: LockBackend = {
      ...delegate(backend),
      acquire: (key, owner, ttl) => {
        seen.push(key)
        return backend.acquire(key, owner, ttl)
      },
    }
    const lw = createLockwork({ backend: spy, prefix: 'x'.repeat(128) })
    const fn = lw.cached({ key: (k: string) => k }, () => 1)
    await fn('k'.repeat(512))
    await fn('short')
    expect(seen[0]!.length).toBeLessThanOrEqual(640)
    expect(seen[0]!.includes(INTERNAL_SEPARATOR)).toBe(true)
    expect(seen[1]).toBe(`${'x'.repeat(128)}${INTERNAL_SEPARATOR}cached${INTERNAL_SEPARATOR}short`)
  })

  it('validates options up front and keys per call', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    const fn = () => 1
    expect(() => lw.cached({ key: 'k', ttl: 0 }, fn)).toThrow(/options\.ttl/)
    expect(() => lw.cached({ key: 'k', staleFor: -1 }, fn)).toThrow(/options\.staleFor/)
    // @ts-expect-error not a duration: refused at compile time, and at run time
    expect(() => lw.cached({ key: 'k', lockTtl: 'x' }, fn)).toThrow(/options\.lockTtl/)
    expect(() => lw.cached({ key: 'k', wait: Number.NaN }, fn)).toThrow(/options\.wait/)
    expect(() => lw.cached({ key: 'k', earlyRefresh: -1 }, fn)).toThrow(/options\.earlyRefresh/)
    expect(() => lw.cached({ key: 'k', codec: {} as never }, fn)).toThrow(/options\.codec/)
    expect(() => lw.cached({ key: undefined as never }, fn)).toThrow(/options\.key/)
    expect(() => lw.cached({ key: 'k' }, undefined as never)).toThrow(/invalid fn/)
    const bad = lw.cached({ key: (n: number) => (n ? 'ok' : '') }, fn)
    const error = await bad(0).catch((e: unknown) => e)
    expect((error as InvalidArgumentError).argument).toBe('options.key')
    const withDefault = lw.cached(
      { key: (sym: string, currency = 'EUR') => `${sym}:${currency}` },
      (_sym: string, _currency = 'EUR') => 1,
    )
    expect(withDefault.key('ACME')).toBe('ACME:EUR')
  })
})
