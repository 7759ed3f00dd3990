import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createMemoryBackend, MemoryStore } from '@lockwork/memory'
import { describe, expect, it } from 'vitest'
import {
  BackendError,
  createLockwork,
  InvalidArgumentError,
  type LeaderTerm,
  type Lockwork,
} from '../src/index.js'

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Resolves when `signal` aborts. */
const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) resolve()
    else signal.addEventListener('abort', () => resolve(), { once: true })
  })

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > end) throw new Error('condition not met in time')
    await delay(5)
  }
}

function clients(n: number, store = new MemoryStore()): Lockwork[] {
  return Array.from({ length: n }, (_, i) =>
    createLockwork({ backend: createMemoryBackend({ store }), prefix: 'p:', label: `c${i}` }),
  )
}

describe('lead', () => {
  it('one leader at a time; stop() aborts its signal, resigns and hands over at once; leader() tells who', async () => {
    const [a, b] = clients(2)
    if (!a || !b) throw new Error('unreachable')
    const events: string[] = []
    let aTerm: LeaderTerm | undefined
    const la = a.lead('q', async (signal, term) => {
      aTerm = term
      events.push('a:start')
      await aborted(signal)
      await delay(20)
      events.push('a:end')
    })
    await until(() => la.isLeader)
    const lb = b.lead('q', async (signal, term) => {
      events.push(`b:start:${term.fence > (aTerm?.fence ?? 0)}`)
      await aborted(signal)
      events.push('b:end')
    })
    await delay(50)
    expect(lb.isLeader).toBe(false)
    const info = await b.leader('q')
    expect(info?.label?.name).toBe('c0')
    expect(info?.fence).toBe(aTerm?.fence)
    expect(info?.since?.getTime()).toBe(aTerm?.since.getTime())
    expect(la.term).toEqual(aTerm)
    const stoppedAt = performance.now()
    await la.stop()
    expect(la.isLeader).toBe(false)
    await until(() => lb.isLeader)
    expect(performance.now() - stoppedAt).toBeLessThan(1_000)
    expect(events).toEqual(['a:start', 'a:end', 'b:start:true'])
    expect((await a.leader('q'))?.label?.name).toBe('c1')
    await b.close()
    expect(events).toEqual(['a:start', 'a:end', 'b:start:true', 'b:end'])
    expect(await a.leader('q')).toBeNull()
    await a.close()
  })

  it('a function that returns or throws resigns; its error goes to onError; it campaigns again after pause', async () => {
    const [a] = clients(1)
    if (!a) throw new Error('unreachable')
    const errors: unknown[] = []
    const fences: number[] = []
    const leadership = a.lead(
      'r',
      (_signal, term) => {
        fences.push(term.fence)
        if (fences.length === 1) throw new Error('boom')
      },
      { pause: 30, onError: (error) => errors.push(error) },
    )
    await until(() => fences.length >= 3)
    await leadership.stop()
    expect((errors[0] as Error).message).toBe('boom')
    expect(errors).toHaveLength(1)
    for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1] ?? 0)
    await a.close()
  })

  it('a leader that cannot extend steps down before its lease ends; the next term starts after its signal aborted', async () => {
    const store = new MemoryStore()
    const frozen = createMemoryBackend({ store })
    let freeze = false
    const stuck = new Proxy(frozen, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver)
        if (typeof value !== 'function') return value
        return (...args: unknown[]) =>
          freeze ? new Promise(() => {}) : (value as (...a: unknown[]) => unknown).apply(target, args)
      },
    })
    const a = createLockwork({ backend: stuck, prefix: 'p:', closeBackend: false })
    const [b] = clients(1, store)
    if (!b) throw new Error('unreachable')
    let aAbortedAt = 0
    let bStartedAt = 0
    const la = a.lead(
      'f',
      async (signal) => {
        await aborted(signal)
        aAbortedAt = performance.now()
      },
      { ttl: 300, stopTimeout: 50 },
    )
    await until(() => la.isLeader)
    const lb = b.lead(
      'f',
      async (signal) => {
        bStartedAt = performance.now()
        await aborted(signal)
      },
      { ttl: 300 },
    )
    freeze = true
    await until(() => lb.isLeader, 3_000)
    expect(aAbortedAt).toBeGreaterThan(0)
    expect(aAbortedAt).toBeLessThan(bStartedAt)
    await la.stop()
    await b.close()
    await frozen.close()
  })

  it('when the lease is taken away (forceRelease), the old leader is aborted before the new term starts', async () => {
    const [a, b, ops] = clients(3)
    if (!a || !b || !ops) throw new Error('unreachable')
    let aAbortedAt = 0
    let bStartedAt = 0
    const la = a.lead(
      't',
      async (signal) => {
        await aborted(signal)
        await delay(50)
        aAbortedAt = performance.now()
      },
      { ttl: 2_000, pause: 5_000 },
    )
    await until(() => la.isLeader)
    const lb = b.lead('t', async (signal) => {
      bStartedAt = performance.now()
      await aborted(signal)
    })
    await delay(20)
    // The lease's key is internal; free it the way an operator would, through the backend.
    const holder = await ops.leader('t')
    if (holder === null) throw new Error('expected a leader')
    expect(await ops.backend.release(`p:\u001flead\u001ft`, holder.owner)).toBe(true)
    await until(() => lb.isLeader, 3_000)
    expect(aAbortedAt).toBeGreaterThan(0)
    expect(aAbortedAt).toBeLessThan(bStartedAt)
    await Promise.all([a.close(), b.close(), ops.close()])
  })

  it('a leader that cannot refresh its term record steps down before the record can expire, reporting the error once', async () => {
    const store = new MemoryStore()
    const inner = createMemoryBackend({ store })
    let failWrites = false
    const failing = new Proxy(inner, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver)
        if (typeof value !== 'function') return value
        if (property === 'setCached' && failWrites) return () => Promise.reject(new Error('disk full'))
        return (value as (...a: unknown[]) => unknown).bind(target)
      },
    })
    const a = createLockwork({ backend: failing, prefix: 'p:' })
    const errors: unknown[] = []
    let abortedAfter = 0
    const la = a.lead(
      'w',
      async (signal) => {
        await until(() => failWrites)
        const since = performance.now()
        await aborted(signal)
        abortedAfter = performance.now() - since
      },
      { ttl: 400, pause: 10_000, onError: (error) => errors.push(error) },
    )
    await until(() => la.isLeader)
    // How late this process's timers ran meanwhile (a loaded machine): the step-down's timer is one of them.
    const lag = monitorEventLoopDelay({ resolution: 5 })
    lag.enable()
    failWrites = true
    await until(() => abortedAfter > 0, 3_000)
    lag.disable()
    // The last good write was at most ttl/3 before the failures began; the term ends ttl/20 before it
    // runs out, so its timer is due within 400 ms of them; it may run late by the loop's longest delay.
    expect(abortedAfter).toBeLessThan(400 + lag.max / 1e6)
    expect(errors.map((error) => (error as Error).message)).toEqual(['disk full'])
    await a.close()
  })

  it('validates name, function and options at once, and refuses to start on a closed client', async () => {
    const [a] = clients(1)
    if (!a) throw new Error('unreachable')
    const bad: [() => unknown, string][] = [
      [() => a.lead('', () => {}), 'name'],
      [() => a.lead('x', 'nope' as never), 'fn'],
      [() => a.lead('x', () => {}, { ttl: -1 }), 'options.ttl'],
      [() => a.lead('x', () => {}, { pause: 'soon' as never }), 'options.pause'],
      [() => a.lead('x', () => {}, { stopTimeout: Number.NaN }), 'options.stopTimeout'],
      [() => a.lead('x', () => {}, { onError: 1 as never }), 'options.onError'],
      [() => a.lead('x', () => {}, 'x' as never), 'options'],
    ]
    for (const [call, argument] of bad) {
      let error: unknown
      try {
        call()
      } catch (e) {
        error = e
      }
      expect(error, argument).toBeInstanceOf(InvalidArgumentError)
      expect((error as InvalidArgumentError).argument).toBe(argument)
    }
    await expect(a.leader('')).rejects.toBeInstanceOf(InvalidArgumentError)
    await a.close()
    expect(() => a.lead('x', () => {})).toThrow(BackendError)
  })
})
