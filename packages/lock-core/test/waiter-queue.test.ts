import { createMemoryBackend, MemoryStore } from '@lockwork/memory'
import { describe, expect, it } from 'vitest'
import { createLockwork, type LockBackend, LockTimeoutError } from '../src/index.js'

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A memory backend that counts calls and the most `waitForRelease` calls pending at once. */
function counted(options: { wakeUps: boolean } = { wakeUps: true }) {
  const inner = createMemoryBackend()
  const stats = { acquire: 0, waits: 0, pendingWaits: 0, maxPendingWaits: 0 }
  const backend: LockBackend = {
    name: 'counted-memory',
    acquire: (key, owner, ttlMs) => {
      stats.acquire++
      return inner.acquire(key, owner, ttlMs)
    },
    extend: (...args) => inner.extend(...args),
    release: (...args) => inner.release(...args),
    peek: (...args) => inner.peek(...args),
    getCached: (...args) => inner.getCached(...args),
    setCached: (...args) => inner.setCached(...args),
    deleteCached: (...args) => inner.deleteCached(...args),
    close: () => inner.close(),
  }
  if (options.wakeUps) {
    backend.waitForRelease = async (key, timeoutMs, signal) => {
      stats.waits++
      stats.pendingWaits++
      stats.maxPendingWaits = Math.max(stats.maxPendingWaits, stats.pendingWaits)
      try {
        await inner.waitForRelease(key, timeoutMs, signal)
      } finally {
        stats.pendingWaits--
      }
    }
  }
  return { backend, stats }
}

describe('waiters of one process queue per key', () => {
  it('get the key in arrival order', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    const holder = await lw.acquire('fifo')
    const order: number[] = []
    const waits: Promise<void>[] = []
    for (let i = 0; i < 20; i++) {
      waits.push(lw.withLock('fifo', () => void order.push(i), { wait: '10s' }))
      await pause(2)
    }
    await holder.release()
    await Promise.all(waits)
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i))
  })

  it('only the head touches the backend: one wake-up subscription at a time, about one attempt per hand-off', async () => {
    const { backend, stats } = counted()
    const lw = createLockwork({ backend })
    const holder = await lw.acquire('crowd')
    const crowd = 300
    const waits = Array.from({ length: crowd }, () => lw.withLock('crowd', () => pause(0), { wait: '20s' }))
    await pause(200)
    // Each caller tried once on arrival; while the key stays held nobody else asks.
    const idleAttempts = stats.acquire
    expect(idleAttempts).toBeLessThanOrEqual(crowd + 2)
    await pause(200)
    expect(stats.acquire).toBe(idleAttempts)
    expect(stats.pendingWaits).toBe(1)
    await holder.release()
    await Promise.all(waits)
    expect(stats.maxPendingWaits).toBe(1)
    // Per hand-off one winning attempt: while a waiter of this process holds the key, the next
    // head waits for its release in memory, without a failed attempt or a backend wake-up.
    expect((stats.acquire - idleAttempts) / crowd).toBeLessThan(1.1)
    expect(stats.waits / crowd).toBeLessThan(0.1)
  })

  it('a waiter that times out or is aborted leaves its place; the others keep their order', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    const holder = await lw.acquire('leave')
    const order: string[] = []
    const controller = new AbortController()
    const first = lw.withLock('leave', () => void order.push('first'), { wait: '10s' })
    await pause(2)
    const aborted = lw.withLock('leave', () => void order.push('aborted'), {
      wait: '10s',
      signal: controller.signal,
    })
    await pause(2)
    const impatient = lw.withLock('leave', () => void order.push('impatient'), { wait: 100 })
    await pause(2)
    const last = lw.withLock('leave', () => void order.push('last'), { wait: '10s' })
    controller.abort(new Error('changed my mind'))
    await expect(aborted).rejects.toThrow('changed my mind')
    await expect(impatient).rejects.toBeInstanceOf(LockTimeoutError)
    await holder.release()
    await Promise.all([first, last])
    expect(order).toEqual(['first', 'last'])
  })

  it('when the head gives up, the next waiter becomes head and gets the key when it is freed', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    const holder = await lw.acquire('head-leaves', { ttl: '10s' })
    const head = lw.acquire('head-leaves', { wait: 100 })
    await pause(2)
    const next = lw.acquire('head-leaves', { wait: '10s' })
    await expect(head).rejects.toBeInstanceOf(LockTimeoutError)
    await pause(50)
    const releasedAt = performance.now()
    await holder.release()
    const lock = await next
    expect(performance.now() - releasedAt).toBeLessThan(100)
    await lock.release()
  })

  it('a release in this process wakes the head at once, also on a backend without waitForRelease', async () => {
    const { backend } = counted({ wakeUps: false })
    const lw = createLockwork({ backend })
    const holder = await lw.acquire('kick')
    const waiting = lw.acquire('kick', { wait: '10s' })
    // Long enough for the head's backoff to reach its cap (100 ms).
    await pause(700)
    const releasedAt = performance.now()
    await holder.release()
    const lock = await waiting
    expect(performance.now() - releasedAt).toBeLessThan(40)
    await lock.release()
  })

  it('tryAcquire never queues: it makes one attempt even while others wait', async () => {
    const { backend, stats } = counted()
    const lw = createLockwork({ backend })
    const holder = await lw.acquire('try')
    const waiting = lw.acquire('try', { wait: '10s' })
    await pause(20)
    const before = stats.acquire
    expect(await lw.tryAcquire('try')).toBeNull()
    expect(stats.acquire).toBe(before + 1)
    await holder.release()
    await (await waiting).release()
  })

  it('two backends on one store whose wake-ups arrive a moment after the release, 10 loops each: the busy queue lets the other in, neither starves', async () => {
    const store = new MemoryStore()
    // A wake-up that arrives a moment after the release, as a message from a server does.
    const delayedWakeUps = (): LockBackend => {
      const inner = createMemoryBackend({ store })
      return {
        name: 'delayed-memory',
        acquire: (...args) => inner.acquire(...args),
        extend: (...args) => inner.extend(...args),
        release: (...args) => inner.release(...args),
        peek: (...args) => inner.peek(...args),
        getCached: (...args) => inner.getCached(...args),
        setCached: (...args) => inner.setCached(...args),
        deleteCached: (...args) => inner.deleteCached(...args),
        close: () => inner.close(),
        waitForRelease: async (key, timeoutMs, signal) => {
          await inner.waitForRelease(key, timeoutMs, signal)
          await pause(0)
        },
      }
    }
    const clients = [0, 1].map(() => createLockwork({ backend: delayedWakeUps() }))
    const sections = [0, 0]
    // A count of sections, not a time window: a loaded machine runs fewer per second, and
    // starvation shows in the shares whatever the pace.
    const enough = 200
    await Promise.all(
      clients.flatMap((lw, i) =>
        Array.from({ length: 10 }, async () => {
          while (sections[0]! + sections[1]! < enough) {
            await lw.withLock(
              'shared',
              async () => {
                sections[i]!++
                await pause(1)
              },
              { wait: '10s' },
            )
          }
        }),
      ),
    )
    const total = sections[0]! + sections[1]!
    expect(total).toBeGreaterThanOrEqual(enough)
    expect(Math.min(...sections) / total).toBeGreaterThan(0.25)
  }, 60_000)
})
