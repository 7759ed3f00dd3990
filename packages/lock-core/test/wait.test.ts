import { describe, expect, it } from 'vitest'
import {
  type AcquireResult,
  type LockBackend,
  LockBusyError,
  LockTimeoutError,
  type PermitAcquireResult,
} from '../src/index.js'
import { semaphoreOperations } from '../src/semaphore-operations.js'
import { acquireWithWait, MAX_BACKOFF_MS } from '../src/wait.js'

/** A backend that is always held by someone else and records when it was asked. */
function alwaysHeld(remainingMs = 60_000): { backend: LockBackend; attempts: number[] } {
  const attempts: number[] = []
  const refuse = async (): Promise<AcquireResult> => {
    attempts.push(performance.now())
    return { acquired: false, holder: { owner: 'someone', fence: 7, remainingMs } }
  }
  const unused = async (): Promise<never> => {
    throw new Error('not used')
  }
  const backend: LockBackend = {
    name: 'always-held',
    acquire: refuse,
    extend: unused,
    release: unused,
    peek: unused,
    getCached: unused,
    setCached: unused,
    deleteCached: unused,
    close: async () => {},
  }
  return { backend, attempts }
}

const attempt = (backend: LockBackend, waitMs: number, signal?: AbortSignal) =>
  acquireWithWait({ backend, key: 'k', displayKey: 'k', owner: 'me', ttlMs: 1_000, waitMs, signal })

describe('acquireWithWait without waitForRelease (backoff)', () => {
  it('wait 0 tries exactly once and throws LockBusyError with the holder remaining time', async () => {
    const { backend, attempts } = alwaysHeld(1234)
    const error = await attempt(backend, 0).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LockBusyError)
    expect((error as LockBusyError).remainingMs).toBe(1234)
    expect(attempts).toHaveLength(1)
  })

  it('backs off from ~1 ms, exponentially, capped, and never past the deadline', async () => {
    const { backend, attempts } = alwaysHeld()
    const started = performance.now()
    const error = await attempt(backend, 600).catch((e: unknown) => e)
    const elapsed = performance.now() - started
    expect(error).toBeInstanceOf(LockTimeoutError)
    expect(elapsed).toBeGreaterThanOrEqual(599)
    expect(elapsed).toBeLessThan(600 + MAX_BACKOFF_MS + 400)
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!)
    expect(gaps[0]!).toBeLessThan(50)
    // Capped: no gap much beyond the cap (scheduler slack allowed).
    expect(Math.max(...gaps)).toBeLessThan(MAX_BACKOFF_MS + 250)
    // Exponential: far fewer attempts than a 1 ms poll would make.
    expect(attempts.length).toBeLessThan(60)
    expect(attempts.length).toBeGreaterThan(5)
  })

  it('never sleeps past the holder expiry', async () => {
    const { backend, attempts } = alwaysHeld(3)
    await attempt(backend, 300).catch(() => {})
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!)
    // Unbounded, the backoff would have grown to 50–100 ms by the second half of the wait; bounded by
    // the holder's 3 ms it stays at a few ms. The median, not the maximum: one late timer on a loaded
    // machine is scheduling, not a sleep past the expiry.
    const later = gaps.slice(Math.floor(gaps.length / 2)).sort((a, b) => a - b)
    expect(later[Math.floor(later.length / 2)]!).toBeLessThan(25)
    expect(attempts.length).toBeGreaterThan(12)
  })

  it('rejects promptly with the signal reason when aborted mid-wait', async () => {
    const { backend } = alwaysHeld()
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('cancelled')), 100)
    const started = performance.now()
    const error = await attempt(backend, 10_000, controller.signal).catch((e: unknown) => e)
    expect((error as Error).message).toBe('cancelled')
    expect(performance.now() - started).toBeLessThan(1_000)
  })
})

describe('acquireWithWait with the semaphore operations', () => {
  /** A backend whose semaphore is always full: one long holder and one about to expire. */
  function fullSemaphore(): { backend: LockBackend; attempts: number[] } {
    const { backend } = alwaysHeld()
    const attempts: number[] = []
    const acquirePermits = async (): Promise<PermitAcquireResult> => {
      attempts.push(performance.now())
      return {
        acquired: false,
        holders: {
          inUse: 2,
          holders: [
            { owner: 'long', permits: 1, fence: 1, remainingMs: 60_000 },
            { owner: 'short', permits: 1, fence: 2, remainingMs: 3 },
          ],
        },
      }
    }
    return { backend: { ...backend, acquirePermits }, attempts }
  }

  const permitAttempt = (backend: LockBackend, waitMs: number) =>
    acquireWithWait({
      operations: semaphoreOperations,
      backend,
      key: 'k',
      displayKey: 'exports',
      owner: 'me',
      ttlMs: 1_000,
      permits: 1,
      limit: 2,
      waitMs,
    })

  it('wait 0 tries once and says it is a semaphore, how many permits are in use and the soonest expiry', async () => {
    const { backend, attempts } = fullSemaphore()
    const error = await permitAttempt(backend, 0).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LockBusyError)
    expect((error as LockBusyError).remainingMs).toBe(3)
    expect((error as Error).message).toBe(
      'semaphore "exports": 1 permit not free: 2 of 2 in use by 2 holders, the soonest lease ends in 3 ms',
    )
    expect(attempts).toHaveLength(1)
  })

  it('backs off without waitForPermits, never sleeping past the soonest holder expiry', async () => {
    const { backend, attempts } = fullSemaphore()
    const error = await permitAttempt(backend, 300).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LockTimeoutError)
    expect((error as Error).message).toMatch(/^semaphore "exports": 1 permit not free: 2 of 2 in use/)
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!)
    // Bounded by the 3 ms holder, not the 60 s one (see the lock case above for the median).
    const later = gaps.slice(Math.floor(gaps.length / 2)).sort((a, b) => a - b)
    expect(later[Math.floor(later.length / 2)]!).toBeLessThan(25)
    expect(attempts.length).toBeGreaterThan(12)
  })
})
