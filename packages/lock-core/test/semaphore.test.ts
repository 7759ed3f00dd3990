import { createMemoryBackend, MemoryStore } from '@lockwork/memory'
import { describe, expect, it } from 'vitest'
import {
  createLockwork,
  InvalidArgumentError,
  type LockBackend,
  LockTimeoutError,
  Permit,
} from '../src/index.js'

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The memory backend without `waitForPermits`: the core must back off on its own. */
function withoutWake(backend: LockBackend): LockBackend {
  return new Proxy(backend, {
    get(target, property, receiver) {
      if (property === 'waitForPermits') return undefined
      const value: unknown = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

describe('lw.semaphore', () => {
  it('on a backend without the capability throws at creation, naming the backend and the missing methods', () => {
    const memory = createMemoryBackend()
    const lacking: LockBackend = {
      name: 'plain',
      acquire: (key, owner, ttlMs) => memory.acquire(key, owner, ttlMs),
      extend: (key, owner, ttlMs) => memory.extend(key, owner, ttlMs),
      release: (key, owner) => memory.release(key, owner),
      peek: (key) => memory.peek(key),
      getCached: (key) => memory.getCached(key),
      setCached: (key, entry, ttlMs) => memory.setCached(key, entry, ttlMs),
      deleteCached: (key) => memory.deleteCached(key),
      peekPermits: (key) => memory.peekPermits(key),
      close: () => memory.close(),
    }
    const lw = createLockwork({ backend: lacking })
    const error = (() => {
      try {
        lw.semaphore('exports', { limit: 2 })
      } catch (caught) {
        return caught
      }
    })()
    expect(error).toBeInstanceOf(InvalidArgumentError)
    expect((error as Error).message).toBe(
      'invalid backend: the plain backend does not support semaphores (it lacks acquirePermits, extendPermits, releasePermits)',
    )
    expect(() => lw.rwlock('doc')).toThrow(/the plain backend does not support reader-writer locks/)
  })

  it('rejects bad limits and permit counts with InvalidArgumentError naming the option', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    expect(() => lw.semaphore('s', { limit: 0 })).toThrow(
      'invalid options.limit: expected an integer from 1 to 1000000, got the number 0',
    )
    expect(() => lw.semaphore('s', { limit: 2.5 })).toThrow(InvalidArgumentError)
    const semaphore = lw.semaphore('s', { limit: 2 })
    await expect(semaphore.acquire({ permits: 3 })).rejects.toThrow(
      'invalid options.permits: expected an integer from 1 to 2, got the number 3',
    )
    await expect(semaphore.tryAcquire({ wait: 0 } as never)).rejects.toThrow(InvalidArgumentError)
    await lw.close()
  })

  it('a waiter queued behind another tries at once when the first gets its permit (a shared lease does not wait for a local release)', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    const semaphore = lw.semaphore('s', { limit: 3 })
    const all = await semaphore.acquire({ permits: 3, ttl: '1m' })
    const waiters = [1, 2, 3].map(() => semaphore.acquire({ ttl: '1m', wait: '20s' }))
    await delay(50)
    const released = performance.now()
    await all.release()
    const permits = await Promise.all(waiters)
    // An exclusive hand-off would keep the 2nd and 3rd waiting for the 1st's release (a minute).
    expect(performance.now() - released).toBeLessThan(2_000)
    expect(new Set(permits.map((permit) => permit.fence)).size).toBe(3)
    expect((await semaphore.peek()).inUse).toBe(3)
    await lw.close()
  })

  it('without waitForPermits backs off, never sleeping past the soonest holder expiry', async () => {
    const store = new MemoryStore()
    const lw = createLockwork({ backend: withoutWake(createMemoryBackend({ store })) })
    const semaphore = lw.semaphore('s', { limit: 2 })
    await semaphore.acquire({ ttl: '1m' })
    await semaphore.acquire({ ttl: '300ms' })
    const started = performance.now()
    const permit = await semaphore.acquire({ wait: '20s' })
    // Released by expiry, not by a wake-up: the sleep is bounded by the 300 ms lease, not the 1 min one.
    expect(performance.now() - started).toBeLessThan(2_000)
    expect(permit).toBeInstanceOf(Permit)
    await lw.close()
  })

  it('times out with LockTimeoutError saying it is a semaphore and how many permits are in use', async () => {
    const lw = createLockwork({ backend: withoutWake(createMemoryBackend()) })
    const semaphore = lw.semaphore('exports', { limit: 2 })
    await semaphore.acquire({ permits: 2, ttl: '1m' })
    const error = await semaphore.acquire({ wait: '200ms' }).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(LockTimeoutError)
    expect((error as Error).message).toMatch(
      /^semaphore "exports": 1 permit not free: 2 of 2 in use by 1 holder, the soonest lease ends in \d+ ms after waiting \d+ ms$/,
    )
    await lw.close()
  })

  it('the permit handle: signal aborts when its permits are freed elsewhere; extend and release work', async () => {
    const store = new MemoryStore()
    const backend = createMemoryBackend({ store })
    const lw = createLockwork({ backend })
    const semaphore = lw.semaphore('s', { limit: 1 })
    const permit = await semaphore.acquire({ ttl: '2s' })
    await permit.extend('5s')
    expect(permit.remainingMs).toBeGreaterThan(4_000)
    const { signal } = permit
    // Freed behind the handle's back (an operator clearing the semaphore).
    expect(await backend.releasePermits(lw.fullKey('s'), permit.owner)).toBe(true)
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
    expect(permit.held).toBe(false)
    expect((signal.reason as Error).message).toContain('released-elsewhere')
    await lw.close()
  })

  it('close() releases the permits the client holds; an acquisition after close is refused', async () => {
    const store = new MemoryStore()
    const a = createLockwork({ backend: createMemoryBackend({ store }) })
    const b = createLockwork({ backend: createMemoryBackend({ store }) })
    const semaphore = a.semaphore('s', { limit: 2 })
    await semaphore.acquire({ permits: 2, ttl: '1m' })
    await a.rwlock('doc').read({ ttl: '1m' })
    await a.close()
    expect(await b.semaphore('s', { limit: 2 }).tryAcquire({ permits: 2 })).not.toBeNull()
    expect(await b.rwlock('doc').tryWrite()).not.toBeNull()
    await expect(semaphore.acquire()).rejects.toThrow(/closed/)
    expect(() => a.semaphore('s', { limit: 2 })).toThrow(/closed/)
    await b.close()
  })
})

describe('lw.rwlock timeouts', () => {
  it('a reader behind a writer, and a writer behind a reader, time out with LockTimeoutError naming the rwlock', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    const doc = lw.rwlock('doc')
    const writer = await doc.write({ ttl: '1m' })
    const readError = await doc.read({ wait: '200ms' }).catch((caught: unknown) => caught)
    expect(readError).toBeInstanceOf(LockTimeoutError)
    expect((readError as Error).message).toMatch(/^rwlock "doc": a writer holds it after waiting \d+ ms$/)
    await writer.release()
    const reader = await doc.read({ ttl: '1m' })
    const writeError = await doc.write({ wait: '200ms' }).catch((caught: unknown) => caught)
    expect(writeError).toBeInstanceOf(LockTimeoutError)
    expect((writeError as Error).message).toMatch(/^rwlock "doc": 1 reader holds it after waiting \d+ ms$/)
    // The failed writer let go of its gate: readers get in at once.
    expect(await doc.tryRead()).not.toBeNull()
    await reader.release()
    await lw.close()
  })
})

describe('lw.rwlock on a backend without waitForRelease or waitForPermits', () => {
  it('still lets a writer in and readers after it', async () => {
    const backend = new Proxy(createMemoryBackend(), {
      get(target, property, receiver) {
        if (property === 'waitForPermits' || property === 'waitForRelease') return undefined
        const value: unknown = Reflect.get(target, property, receiver)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const lw = createLockwork({ backend })
    const doc = lw.rwlock('doc')
    const reader = await doc.read()
    setTimeout(() => void reader.release(), 200)
    const writer = await doc.write({ wait: '10s' })
    setTimeout(() => void writer.release(), 200)
    const again = await doc.read({ wait: '10s' })
    expect(again.fence).toBeGreaterThan(writer.fence)
    await lw.close()
  })
})
