import { createMemoryBackend, MemoryStore } from '@lockwork/memory'
import { describe, expect, it, vi } from 'vitest'
import { createLockwork, InvalidArgumentError, LockBusyError } from '../src/index.js'

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function clients(n: number) {
  const store = new MemoryStore()
  return Array.from({ length: n }, () =>
    createLockwork({ backend: createMemoryBackend({ store }), prefix: 'p:' }),
  )
}

describe('once', () => {
  it('runs one call per key at a time; the others skip with undefined or lockedValue', async () => {
    const [a, b] = clients(2)
    let runs = 0
    const job = async (id: string) => {
      runs++
      await delay(50)
      return `done ${id}`
    }
    const onA = a!.once({ key: (id: string) => `check:${id}` }, job)
    const onB = b!.once({ key: (id: string) => `check:${id}`, lockedValue: 'busy' as const }, job)
    const results = await Promise.all([onA('1'), onB('1'), onA('1'), onB('2')])
    expect(results).toEqual(['done 1', 'busy', undefined, 'done 2'])
    expect(runs).toBe(2)
    // Released afterwards: the next call runs.
    expect(await onA('1')).toBe('done 1')
  })

  it("onLocked: 'throw' rejects with LockBusyError naming the key and the holder's remaining time", async () => {
    const [lw] = clients(1)
    const once = lw!.once({ key: 'k', onLocked: 'throw', ttl: '10s' }, () => delay(50))
    const first = once()
    const error = await once().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LockBusyError)
    expect((error as LockBusyError).key).toBe('k')
    expect((error as LockBusyError).remainingMs).toBeGreaterThan(5_000)
    await first
  })

  it('peek shows a running call; the lock is an ordinary lock under the prefix', async () => {
    const [lw] = clients(1)
    const once = lw!.once({ key: (id: number) => `shot:${id}` }, () => delay(50))
    const running = once(7)
    await delay(5)
    expect(once.key(7)).toBe('shot:7')
    expect((await once.peek(7))?.remainingMs).toBeGreaterThan(0)
    expect(await lw!.isLocked('shot:7')).toBe(true)
    await running
    expect(await once.peek(7)).toBeNull()
  })

  it('holdFor keeps the key held after the run, then frees it', async () => {
    const [lw] = clients(1)
    let runs = 0
    const shoot = lw!.once({ key: 'shot', holdFor: 300 }, () => ++runs)
    expect(await shoot()).toBe(1)
    const held = await lw!.peek('shot')
    expect(held?.remainingMs).toBeGreaterThan(200)
    expect(held?.remainingMs).toBeLessThanOrEqual(300)
    expect(await shoot()).toBeUndefined()
    await delay(350)
    expect(await shoot()).toBe(2)
  })

  it('holdFor shorter than the ttl still ends the hold at holdFor; a run longer than holdFor releases at once', async () => {
    const [lw] = clients(1)
    const quick = lw!.once({ key: 'quick', ttl: '30s', holdFor: 100 }, () => 'ok')
    await quick()
    expect((await lw!.peek('quick'))?.remainingMs).toBeLessThanOrEqual(100)
    const slow = lw!.once({ key: 'slow', holdFor: 30 }, () => delay(80))
    await slow()
    expect(await lw!.peek('slow')).toBeNull()
  })

  it('holdFor with autoExtend keeps a long run held past its ttl and stops extending afterwards', async () => {
    // Fake timers: a 90 ms lease kept alive by timers is about the extension logic, and a loaded
    // machine that stalls the event loop past 90 ms would let even a correct lease lapse.
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance', 'Date'],
    })
    try {
      const [lw] = clients(1)
      const long = lw!.once({ key: 'long', ttl: 90, holdFor: 60 }, () => delay(300))
      let done = false
      const running = long().finally(() => {
        done = true
      })
      for (let ms = 0; ms < 200; ms++) await vi.advanceTimersByTimeAsync(1)
      // Past the 90 ms ttl, still held: extended.
      expect(await lw!.isLocked('long')).toBe(true)
      for (let ms = 0; !done && ms < 1_000; ms++) await vi.advanceTimersByTimeAsync(1)
      await running
      expect(await lw!.peek('long')).toBeNull()
      // No extension left running after the run: the key stays free.
      for (let ms = 0; ms < 300; ms++) await vi.advanceTimersByTimeAsync(1)
      expect(await lw!.peek('long')).toBeNull()
    } finally {
      vi.useRealTimers()
    }
  })

  it('a failing fn releases the key (subject to holdFor) and rethrows the same error', async () => {
    const [lw] = clients(1)
    const boom = new Error('boom')
    const failing = lw!.once({ key: 'f' }, () => {
      throw boom
    })
    expect(await failing().catch((e: unknown) => e)).toBe(boom)
    expect(await lw!.isLocked('f')).toBe(false)
    const held = lw!.once({ key: 'g', holdFor: '10s' }, async () => {
      throw boom
    })
    expect(await held().catch((e: unknown) => e)).toBe(boom)
    expect(await lw!.isLocked('g')).toBe(true)
  })

  it('validates options up front and keys per call; default parameter values count', async () => {
    const [lw] = clients(1)
    const fn = async () => 1
    expect(() => lw!.once({ key: '' }, fn)).toThrow(InvalidArgumentError)
    expect(() => lw!.once({ key: 42 as never }, fn)).toThrow(/options\.key/)
    expect(() => lw!.once({ key: 'k', ttl: -1 }, fn)).toThrow(/options\.ttl/)
    // @ts-expect-error not a duration: refused at compile time, and at run time
    expect(() => lw!.once({ key: 'k', holdFor: 'soon' }, fn)).toThrow(/options\.holdFor/)
    expect(() => lw!.once({ key: 'k', onLocked: 'wait' as never }, fn)).toThrow(/options\.onLocked/)
    expect(() => lw!.once({ key: 'k', autoExtend: 'yes' as never }, fn)).toThrow(/options\.autoExtend/)
    expect(() => lw!.once({ key: 'k' }, 'nope' as never)).toThrow(/invalid fn/)
    expect(() => lw!.once(null as never, fn)).toThrow(/invalid options/)

    const cause = new Error('no id')
    const throwing = lw!.once(
      {
        key: () => {
          throw cause
        },
      },
      fn,
    )
    const error = await throwing().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InvalidArgumentError)
    expect((error as InvalidArgumentError).argument).toBe('options.key')
    expect((error as InvalidArgumentError).cause).toBe(cause)
    const bad = lw!.once({ key: (n: number) => (n > 0 ? 'ok' : 'bad\u0000') }, fn)
    expect(await bad(0).catch((e: unknown) => (e as InvalidArgumentError).argument)).toBe('options.key')

    const withDefault = lw!.once(
      { key: (id: string, size = 'large') => `shot:${id}:${size}` },
      async (_id: string, _size = 'large') => 1,
    )
    expect(withDefault.key('1')).toBe('shot:1:large')
    expect(withDefault.key('1', 'small')).toBe('shot:1:small')
  })
})
