import { afterEach, describe, expect, it, vi } from 'vitest'
import { createMemoryBackend } from '../src/index.js'

afterEach(() => {
  vi.restoreAllMocks()
})

describe('memory: a refused acquire', () => {
  it('reports the holder that refused it, even when that lease expires before the holder is read', async () => {
    const backend = createMemoryBackend()
    let clock = 1_000
    vi.spyOn(performance, 'now').mockImplementation(() => clock)
    await expect(backend.acquire('k', 'a', 50)).resolves.toMatchObject({ acquired: true })

    // The refusal reads the clock at 1,049.5 (0.5 ms left); the holder is read after the deadline.
    const readings = [1_049.5, 1_060]
    vi.spyOn(performance, 'now').mockImplementation(() => readings.shift() ?? clock)
    const refused = await backend.acquire('k', 'b', 50)
    expect(refused).toEqual({ acquired: false, holder: { owner: 'a', fence: 1, remainingMs: 1 } })

    // The next call sees the lease expired and takes the key.
    clock = 1_061
    vi.spyOn(performance, 'now').mockImplementation(() => clock)
    await expect(backend.acquire('k', 'b', 50)).resolves.toMatchObject({ acquired: true, fence: 2 })
  })

  it('reports the live holder with its remaining time', async () => {
    const backend = createMemoryBackend()
    await backend.acquire('k', 'a', 10_000)
    const refused = await backend.acquire('k', 'b', 10_000)
    expect(refused.acquired).toBe(false)
    if (refused.acquired) return
    expect(refused.holder.owner).toBe('a')
    expect(refused.holder.remainingMs).toBeGreaterThan(9_000)
    expect(refused.holder.remainingMs).toBeLessThanOrEqual(10_000)
  })
})
