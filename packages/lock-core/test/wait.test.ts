import { describe, expect, it, vi } from 'vitest'
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

/**
 * Runs `run` on fake timers (and a fake `performance.now()`), advancing the clock until `run`
 * settles (`ms` is the expected wait; up to 1 s more is allowed); returns what it resolved or rejected with and the fake time that passed.
 */
async function withFakeTime(
  run: () => Promise<unknown>,
  ms: number,
): Promise<{ result: unknown; elapsed: number }> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
  try {
    const started = performance.now()
    let settled = false
    let result: unknown
    let elapsed = Number.NaN
    const done = (value: unknown) => {
      settled = true
      result = value
      elapsed = performance.now() - started
    }
    run().then(done, done)
    // One ms at a time, so the clock never jumps past a timer set late in a step.
    for (let i = 0; !settled && i < ms + 1_000; i++) await vi.advanceTimersByTimeAsync(1)
    expect(settled).toBe(true)
    return { result, elapsed }
  } finally {
    vi.useRealTimers()
  }
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
    // The delays are what the code schedules, so fake timers measure them exactly: on a loaded
    // machine a real timer fires late, and a late timer says nothing about the backoff.
    const { backend, attempts } = alwaysHeld()
    const { result, elapsed } = await withFakeTime(() => attempt(backend, 600), 600)
    expect(result).toBeInstanceOf(LockTimeoutError)
    // Never gives up early, never sleeps past the deadline.
    expect(elapsed).toBeGreaterThanOrEqual(600)
    expect(elapsed).toBeLessThanOrEqual(601)
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!)
    // Each sleep is the jittered backoff (half to all of it), doubling from 1 ms up to the cap;
    // only the last one may be cut short by the deadline. (Fake timers count whole ms: ±1.)
    gaps.forEach((gap, i) => {
      const backoff = Math.min(2 ** i, MAX_BACKOFF_MS)
      expect(gap).toBeLessThanOrEqual(backoff + 1)
      if (i < gaps.length - 1) expect(gap).toBeGreaterThanOrEqual(backoff / 2 - 1)
    })
    expect(Math.max(...gaps)).toBeGreaterThan(MAX_BACKOFF_MS / 2 - 1)
    // Exponential: far fewer attempts than a 1 ms poll would make.
    expect(attempts.length).toBeLessThan(30)
    expect(attempts.length).toBeGreaterThan(5)
  })

  it('never sleeps past the holder expiry', async () => {
    const { backend, attempts } = alwaysHeld(3)
    await withFakeTime(() => attempt(backend, 300), 300)
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!)
    // Unbounded, the backoff would grow to 100 ms; bounded by the holder's 3 ms (+1) it never
    // exceeds 4 ms (+1 for whole-ms timers).
    expect(Math.max(...gaps)).toBeLessThanOrEqual(5)
    expect(attempts.length).toBeGreaterThan(60)
  })

  it('without a holder bound the same wait grows the backoff (control for the test above)', async () => {
    const { backend, attempts } = alwaysHeld()
    await withFakeTime(() => attempt(backend, 300), 300)
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!)
    expect(Math.max(...gaps)).toBeGreaterThan(20)
    expect(attempts.length).toBeLessThan(20)
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
    const { result } = await withFakeTime(() => permitAttempt(backend, 300), 300)
    expect(result).toBeInstanceOf(LockTimeoutError)
    expect((result as Error).message).toMatch(/^semaphore "exports": 1 permit not free: 2 of 2 in use/)
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!)
    // Bounded by the 3 ms holder, not the 60 s one (see the lock case above and its control).
    expect(Math.max(...gaps)).toBeLessThanOrEqual(5)
    expect(attempts.length).toBeGreaterThan(60)
  })
})
