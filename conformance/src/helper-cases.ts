import {
  type Codec,
  ComputeFailedError,
  createLockwork,
  InvalidArgumentError,
  type LockBackend,
  LockBusyError,
  type Lockwork,
} from '@lockwork/core'
import { delay, rejection, type SuiteContext } from './suite-context.js'

/**
 * The helpers built on the contract (`once`, `cached`, `every`), each driven
 * from several instances at once, as separate processes would.
 */
export function helperCases(t: SuiteContext): void {
  const { describe, it, expect } = t

  /** Two more instances shared by every helper case (opened once: connections are a shared resource). */
  let others: Promise<LockBackend[]> | undefined
  /** `n` (≤ 3) clients, each over its own backend instance, sharing one fresh prefix. */
  const clients = async (n: number): Promise<Lockwork[]> => {
    others ??= Promise.all([t.newBackend(), t.newBackend()])
    const backends = [t.backend(), ...(await others)].slice(0, n)
    const prefix = `${t.key('helpers')}:`
    return backends.map((backend) => createLockwork({ backend, prefix }))
  }

  describe('once', () => {
    it('30 calls from 3 instances at once: exactly one runs, the others skip', async () => {
      const lws = await clients(3)
      let runs = 0
      // The run lasts until the 29 other calls have skipped (at most 5 s): an instance slow to send its
      // attempt (a client still connecting) must find the key held, not free after a short run.
      let skipped = 0
      let othersSkipped!: () => void
      const allSkipped = new Promise<void>((resolve) => {
        othersSkipped = resolve
      })
      const fns = lws.map((lw) =>
        lw.once({ key: (id: string) => `check_order:${id}`, ttl: '10s' }, async (id: string) => {
          runs++
          await Promise.race([allSkipped, delay(5_000)])
          return `checked ${id}`
        }),
      )
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          fns[i % 3]!('42').then((result) => {
            if (result === undefined && ++skipped === 29) othersSkipped()
            return result
          }),
        ),
      )
      expect(runs).toBe(1)
      expect(results.filter((r) => r === 'checked 42').length).toBe(1)
      expect(results.filter((r) => r === undefined).length).toBe(29)
      // Released afterwards: the next call runs.
      expect(await fns[1]!('42')).toBe('checked 42')
    })

    it("onLocked: 'throw' rejects with LockBusyError naming the key; peek shows the running call", async () => {
      const [a, b] = await clients(2)
      const slow = a!.once({ key: 'report', ttl: '10s' }, () => delay(400))
      const strict = b!.once({ key: 'report', onLocked: 'throw' }, () => delay(1))
      const running = slow()
      await delay(100)
      const error = await rejection(strict())
      expect(error).toBeInstanceOf(LockBusyError)
      expect((error as LockBusyError).key).toBe('report')
      expect((await strict.peek())?.remainingMs).toBeGreaterThan(0)
      await running
      expect(await strict.peek()).toBeNull()
    })

    it('holdFor: a second call inside the window skips (from another instance), one after it runs', async () => {
      const [a, b] = await clients(2)
      let runs = 0
      const shoot = (lw: Lockwork) =>
        lw.once({ key: (id: number) => `shot:${id}`, holdFor: 800 }, () => ++runs)
      const onA = shoot(a!)
      const onB = shoot(b!)
      expect(await onA(7)).toBe(1)
      expect(await onB(7)).toBeUndefined()
      expect((await onB.peek(7))?.remainingMs).toBeGreaterThan(0)
      expect(await onB(8)).toBe(2)
      await delay(1_300)
      expect(await onB(7)).toBe(3)
      expect(runs).toBe(3)
    })

    it('a failing function releases the key and its error is rethrown; with holdFor the key stays held', async () => {
      const [a, b] = await clients(2)
      const boom = new Error('boom')
      const failing = a!.once({ key: 'fails' }, async () => {
        throw boom
      })
      expect(await rejection(failing())).toBe(boom)
      expect(await b!.isLocked('fails')).toBe(false)
      const held = a!.once({ key: 'fails-held', holdFor: '10s' }, async () => {
        throw boom
      })
      expect(await rejection(held())).toBe(boom)
      expect(await b!.isLocked('fails-held')).toBe(true)
      expect(await b!.forceRelease('fails-held')).toBe(true)
    })
  })

  describe('cached', () => {
    it('cold key, 50 concurrent callers on 3 instances, 200 ms compute: exactly 1 computation, every caller gets the value', async () => {
      const lws = await clients(3)
      let computations = 0
      const fns = lws.map((lw) =>
        lw.cached({ key: (sym: string) => `price:${sym}`, ttl: '30s' }, async (sym: string) => {
          computations++
          await delay(200)
          return { sym, price: 42.5 }
        }),
      )
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => fns[i % 3]!('ACME')))
      expect(computations).toBe(1)
      for (const r of results) expect(r).toEqual({ sym: 'ACME', price: 42.5 })
    }, 60_000)

    it('a second call hits, from any instance; invalidate forces a recomputation; an explicit ttl beats the default', async () => {
      const [a, b] = await clients(2)
      let computations = 0
      const compute = async () => ++computations
      const onA = a!.cached({ key: 'hit', ttl: '20s' }, compute)
      const onB = b!.cached({ key: 'hit', ttl: '20s' }, compute)
      expect(await onA()).toBe(1)
      expect(await onB()).toBe(1)
      expect(await onB.peek()).toBe(1)
      const stored = await t.backend().getCached(a!.fullKey('hit'))
      expect(stored?.remainingMs).toBeGreaterThan(10_000)
      expect(stored?.remainingMs).toBeLessThanOrEqual(20_000)
      expect(await onB.invalidate()).toBe(true)
      expect(await onA.peek()).toBeUndefined()
      expect(await onA()).toBe(2)
      const short = a!.cached({ key: 'short', ttl: 300 }, compute)
      expect(await short()).toBe(3)
      await delay(900)
      expect(await short()).toBe(4)
    })

    it('values round-trip through the codec (devalue by default, or your own) across instances', async () => {
      const [a, b] = await clients(2)
      const value = { text: 'ünïcödé 🔒 "q" \\ %', list: [1, null, { deep: true }], n: -0.5 }
      expect(await a!.cached({ key: 'json' }, () => value)()).toEqual(value)
      expect(await b!.cached({ key: 'json' }, () => 'not computed')()).toEqual(value)
      const dates: Codec<Date> = { encode: (d) => d.toISOString(), decode: (s) => new Date(s) }
      const at = new Date('2024-02-29T12:00:00.000Z')
      expect((await a!.cached({ key: 'date', codec: dates }, () => at)()).getTime()).toBe(at.getTime())
      const read = await b!.cached({ key: 'date', codec: dates }, () => new Date(0))()
      expect(read).toBeInstanceOf(Date)
      expect(read.getTime()).toBe(at.getTime())
      expect(await b!.cached({ key: 'rich' }, () => ({ at, big: 10n }))()).toEqual({ at, big: 10n })
      expect((await a!.cached({ key: 'rich' }, () => ({ at: new Date(0), big: 0n }))()).at).toBeInstanceOf(
        Date,
      )
      const error = await rejection(a!.cached({ key: 'instance' }, () => new (class Point {})())())
      expect(error).toBeInstanceOf(InvalidArgumentError)
      expect((error as InvalidArgumentError).argument).toBe('value')
    })

    it('serves a stale value inside staleFor while exactly one caller (of 30, on 3 instances) refreshes', async () => {
      const lws = await clients(3)
      let version = 0
      let computations = 0
      const fns = lws.map((lw) =>
        lw.cached({ key: 'stale', ttl: 300, staleFor: '30s' }, async () => {
          computations++
          await delay(300)
          return ++version
        }),
      )
      expect(await fns[0]!()).toBe(1)
      await delay(600)
      const stale = await Promise.all(Array.from({ length: 30 }, (_, i) => fns[i % 3]!()))
      expect(new Set(stale)).toEqual(new Set([1]))
      // The refresh lands in the background; poll for it.
      let latest = 1
      for (let i = 0; i < 50 && latest === 1; i++) {
        await delay(100)
        latest = await fns[2]!()
      }
      expect(latest).toBe(2)
      expect(computations).toBe(2)
    }, 60_000)

    it('a failing computation is not cached: every caller waiting on it gets the error, the next call retries', async () => {
      const [a, b, c] = await clients(3)
      let attempts = 0
      const boom = new RangeError('upstream down')
      const compute = async () => {
        attempts++
        await delay(300)
        if (attempts === 1) throw boom
        return 'recovered'
      }
      const fns = [a!, b!, c!].map((lw) => lw.cached({ key: 'fails' }, compute))
      const first = rejection(fns[0]!())
      const sameProcess = rejection(fns[0]!())
      await delay(100)
      const elsewhere = await Promise.all([rejection(fns[1]!()), rejection(fns[2]!())])
      expect(await first).toBe(boom)
      expect(await sameProcess).toBe(boom)
      for (const error of elsewhere) {
        expect(error).toBeInstanceOf(ComputeFailedError)
        expect((error as ComputeFailedError).key).toBe('fails')
        expect((error as Error).message).toMatch('upstream down')
      }
      expect(attempts).toBe(1)
      expect(await fns[1]!.peek()).toBeUndefined()
      expect(await fns[1]!()).toBe('recovered')
      expect(attempts).toBe(2)
    })

    it('keys from arguments: default parameter values count; a key function that throws or returns a bad key is InvalidArgumentError', async () => {
      const [lw] = await clients(1)
      const cause = new Error('no key')
      const fn = lw!.cached(
        { key: (sym: string, currency = 'EUR') => `px:${sym}:${currency}` },
        async (sym: string, currency = 'EUR') => `${sym} in ${currency}`,
      )
      expect(await fn('ACME')).toBe('ACME in EUR')
      expect(await fn.peek('ACME', 'EUR')).toBe('ACME in EUR')
      const throwing = lw!.once(
        {
          key: (): string => {
            throw cause
          },
        },
        async () => 1,
      )
      const thrown = await rejection(throwing())
      expect(thrown).toBeInstanceOf(InvalidArgumentError)
      expect((thrown as InvalidArgumentError).argument).toBe('options.key')
      expect((thrown as Error).cause).toBe(cause)
      const empty = await rejection(lw!.cached({ key: () => '' }, async () => 1)())
      expect((empty as InvalidArgumentError).argument).toBe('options.key')
    })
  })

  describe('every', () => {
    it('3 instances, 400 ms interval, ~5 ticks: exactly one run per tick (±1 at the edges), never two at once, each in the job history', async () => {
      const lws = await clients(3)
      const intervalMs = 400
      const ticks: number[] = []
      let inside = 0
      let overlaps = 0
      // Start just after a tick boundary so the edges are clear.
      const now = Date.now()
      await delay(Math.ceil(now / intervalMs) * intervalMs + 50 - now)
      const started = Date.now()
      const jobs = lws.map((lw) =>
        lw.every('expire-sessions', { interval: intervalMs, jitter: 0.1 }, async (_signal, tick) => {
          inside++
          if (inside > 1) overlaps++
          ticks.push(tick.scheduledAt)
          await delay(50)
          inside--
        }),
      )
      await delay(5 * intervalMs)
      // The window ends when stop is called: stopping waits for history writes, which a loaded machine makes slow.
      const stoppedAt = Date.now()
      await Promise.all(jobs.map((job) => job.stop()))
      const expected = Math.floor(stoppedAt / intervalMs) - Math.floor(started / intervalMs)
      expect(overlaps).toBe(0)
      expect(new Set(ticks).size).toBe(ticks.length)
      expect(ticks.length).toBeGreaterThanOrEqual(expected - 1)
      expect(ticks.length).toBeLessThanOrEqual(expected + 1)
      // Each run is in the job's history (kept in the cache store), once, read from another instance.
      const [summary] = await lws[1]!.jobs()
      expect(summary?.name).toBe('expire-sessions')
      expect(summary?.schedule).toEqual({ kind: 'interval', intervalMs })
      const ran = summary?.runs.filter((run) => run.outcome === 'ran') ?? []
      expect(ran.map((run) => run.scheduledAt).sort((a, b) => a - b)).toEqual(ticks.sort((a, b) => a - b))
    }, 60_000)
  })
}
