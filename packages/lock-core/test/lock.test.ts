import { createMemoryBackend } from '@lockwork/memory'
import { describe, expect, it } from 'vitest'
import { createLockwork, InvalidArgumentError, LockLostError } from '../src/index.js'

describe('owner tokens', () => {
  it('start with a random v4 UUID (122 random bits), one per acquisition, then the owner label', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    const owners = new Set<string>()
    for (let i = 0; i < 200; i++) {
      const lock = await lw.acquire(`k${i % 3}`, { wait: 0 })
      expect(lock.owner).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12} /)
      expect(lock.owner.slice(37)).toBe(lw.label.text)
      owners.add(lock.owner.slice(0, 36))
      await lock.release()
    }
    expect(owners.size).toBe(200)
  })
})

describe('Lock handle', () => {
  it('reports extension failure through signal with reason extend-failed', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    const lock = await lw.acquire('k', { ttl: 5_000 })
    await lw.forceRelease('k')
    const error = await lock.extend().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LockLostError)
    expect(lock.signal.aborted).toBe(true)
    expect((lock.signal.reason as LockLostError).reason).toBe('extend-failed')
  })

  it('after a stall past the ttl, signal is aborted at the first synchronous look, before any timer runs', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    const lock = await lw.acquire('stalled', { ttl: 50, autoExtend: false })
    expect(lock.signal.aborted).toBe(false)
    // Block the event loop past the ttl, as a GC pause or SIGSTOP would: no timer can run meanwhile.
    const until = performance.now() + 120
    while (performance.now() < until) {}
    expect(lock.signal.aborted).toBe(true)
    expect(lock.held).toBe(false)
    expect((lock.signal.reason as LockLostError).reason).toBe('expired')
    await lock.release()
  })

  it('a handle whose signal was never read still expires for held, signal, extend and release', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    const unread = await lw.acquire('unread', { ttl: 50 })
    const late = await lw.acquire('late', { ttl: 50 })
    const released = await lw.acquire('released', { ttl: 50 })
    await new Promise((resolve) => setTimeout(resolve, 120))
    expect(unread.held).toBe(false)
    expect(unread.remainingMs).toBe(0)
    expect(unread.signal.aborted).toBe(true)
    expect(unread.signal.reason).toBeInstanceOf(LockLostError)
    expect((unread.signal.reason as LockLostError).reason).toBe('expired')
    const error = await unread.extend().catch((e: unknown) => e)
    expect(error).toBe(unread.signal.reason)
    expect(await late.extend().catch((e: unknown) => (e as LockLostError).reason)).toBe('expired')
    expect(late.signal.aborted).toBe(true)
    expect(await released.release()).toBe(false)
    expect(released.signal.aborted).toBe(true)
  })

  it('nested prefixes never share a key', async () => {
    const backend = createMemoryBackend()
    const outer = createLockwork({ backend, prefix: 'app:' })
    const inner = createLockwork({ backend, prefix: 'app:tenant:' })
    const lock = await inner.acquire('x', { ttl: '10s' })
    expect(outer.fullKey('tenant:x')).not.toBe(inner.fullKey('x'))
    const other = await outer.tryAcquire('tenant:x')
    expect(other).not.toBeNull()
    await other?.release()
    await lock.release()
  })

  it('counts down remainingMs and reports 0 after release', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    const lock = await lw.acquire('k', { ttl: '10s' })
    expect(lock.remainingMs).toBeGreaterThan(9_000)
    expect(lock.remainingMs).toBeLessThanOrEqual(10_000)
    await lock.release()
    expect(lock.remainingMs).toBe(0)
  })

  it('createLockwork rejects a missing backend and a bad prefix', () => {
    expect(() => createLockwork({} as never)).toThrow(InvalidArgumentError)
    expect(() => createLockwork({ backend: createMemoryBackend(), prefix: 'a\u0000' })).toThrow(
      InvalidArgumentError,
    )
  })
})
