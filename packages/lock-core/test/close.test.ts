import { createMemoryBackend, MemoryStore } from '@lockwork/memory'
import { describe, expect, it, vi } from 'vitest'
import { BackendError, createLockwork, isClosedError, type Lockwork } from '../src/index.js'

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function pair(): { a: Lockwork; b: Lockwork } {
  const store = new MemoryStore()
  return {
    a: createLockwork({ backend: createMemoryBackend({ store }), prefix: 'p:' }),
    b: createLockwork({ backend: createMemoryBackend({ store }), prefix: 'p:' }),
  }
}

describe('Lockwork.close', () => {
  it('releases the locks this client still holds, so another client gets them at once', async () => {
    const { a, b } = pair()
    await a.acquire('held-1', { ttl: '1m' })
    await a.acquire('held-2', { ttl: '1m', autoExtend: true })
    const released = await a.acquire('released', { ttl: '1m' })
    await released.release()
    await a.close()
    for (const key of ['held-1', 'held-2', 'released']) {
      const lock = await b.tryAcquire(key)
      expect(lock, key).not.toBeNull()
    }
  })

  it('stops every job, waiting for a run in progress, then closes the backend', async () => {
    const { a } = pair()
    let runEnded = false
    let runs = 0
    const job = a.every('report', { interval: 50, runOnStart: true }, async (signal) => {
      runs++
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
      await delay(100)
      runEnded = true
    })
    await delay(30)
    expect(job.running).toBe(true)
    await a.close()
    expect(runEnded).toBe(true)
    expect(job.running).toBe(false)
    const runsAtClose = runs
    await delay(200)
    expect(runs).toBe(runsAtClose)
    const error = await a.backend.peek('x').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendError)
  })

  it('is idempotent; afterwards every method rejects with a BackendError saying the client is closed', async () => {
    const { a } = pair()
    const once = a.once({ key: 'o' }, async () => 1)
    const cached = a.cached({ key: 'c' }, async () => 1)
    const first = a.close()
    expect(a.close()).toBe(first)
    await first
    await a.close()
    expect(a.closed).toBe(true)
    const calls: (() => Promise<unknown>)[] = [
      () => a.acquire('k'),
      () => a.tryAcquire('k'),
      () => a.withLock('k', () => 1),
      () => a.peek('k'),
      () => a.isLocked('k'),
      () => a.forceRelease('k'),
      () => once(),
      () => cached(),
      () => cached.invalidate(),
      () => cached.peek(),
      async () => a.every('e', { interval: '1s' }, () => {}),
    ]
    for (const call of calls) {
      const error = await call().catch((e: unknown) => e)
      expect(error).toBeInstanceOf(BackendError)
      expect((error as BackendError).message).toMatch(/lockwork client is closed/)
      expect(isClosedError(error)).toBe(true)
    }
  })

  it('with closeBackend: false leaves the backend open for its other users', async () => {
    const backend = createMemoryBackend()
    const a = createLockwork({ backend, closeBackend: false })
    const b = createLockwork({ backend })
    await a.acquire('k', { ttl: '1m' })
    await a.close()
    expect(await b.tryAcquire('k')).not.toBeNull()
    await b.close()
    await expect(backend.peek('k')).rejects.toBeInstanceOf(BackendError)
  })

  it('await using closes the client at the end of the scope', async () => {
    const store = new MemoryStore()
    const other = createLockwork({ backend: createMemoryBackend({ store }) })
    let inner: Lockwork | undefined
    {
      await using lw = createLockwork({ backend: createMemoryBackend({ store }) })
      inner = lw
      await lw.acquire('scoped', { ttl: '1m' })
      expect(await other.isLocked('scoped')).toBe(true)
    }
    expect(inner.closed).toBe(true)
    expect(await other.isLocked('scoped')).toBe(false)
  })

  it('a lock acquired while close() runs is handed back and the call rejects', async () => {
    const { a, b } = pair()
    const holder = await b.acquire('busy', { ttl: '1m' })
    const waiting = a.acquire('busy', { wait: '5s' }).catch((e: unknown) => e)
    await delay(20)
    const closing = a.close()
    await holder.release()
    await closing
    const error = await waiting
    expect(error).toBeInstanceOf(BackendError)
    expect(await b.isLocked('busy')).toBe(false)
  })

  it('an every job whose backend was closed under it stops with one onError call, not one per tick', async () => {
    const backend = createMemoryBackend()
    const lw = createLockwork({ backend })
    const errors: unknown[] = []
    let runs = 0
    const job = lw.every(
      'after-close',
      {
        interval: 20,
        onError: (error) => {
          errors.push(error)
        },
      },
      () => {
        runs++
      },
    )
    await vi.waitFor(() => expect(runs).toBeGreaterThan(0), { timeout: 10_000, interval: 10 })
    await backend.close()
    // The job stops at its next tick; then 15 more intervals pass without another onError call.
    await vi.waitFor(() => expect(errors.length).toBeGreaterThan(0), { timeout: 10_000, interval: 10 })
    await delay(300)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(BackendError)
    expect(String((errors[0] as Error).message)).toMatch(
      /every\("after-close"\) stopped: its backend is closed/,
    )
    expect(job.running).toBe(false)
    await job.stop()
    await lw.close()
  })
})
