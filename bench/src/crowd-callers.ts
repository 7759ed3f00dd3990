import type { AcquireResult, LockBackend } from '@lockwork/core'
import { createLockwork } from '@lockwork/core'
import type { CrowdOutcome } from './child/protocol.js'
import { sleep } from './clock.js'
import type { Target } from './targets.js'

/**
 * The backend of `target` with its `acquire` and `waitForRelease` (or
 * `waitForGrant`) calls counted; every other call passes straight through.
 */
function counting(inner: LockBackend): { backend: LockBackend; calls: { acquire: number; wakeUps: number } } {
  const calls = { acquire: 0, wakeUps: 0 }
  const backend: LockBackend = {
    name: inner.name,
    acquire: (key, owner, ttlMs): Promise<AcquireResult> => {
      calls.acquire++
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
  if (inner.waitForRelease !== undefined) {
    backend.waitForRelease = async (key, timeoutMs, signal) => {
      await inner.waitForRelease?.(key, timeoutMs, signal)
      calls.wakeUps++
    }
  }
  if (inner.waitForGrant !== undefined) {
    // Grant-on-release: a wait that ended counts as a wake-up, whether or not it brought the key.
    backend.waitForGrant = async (key, owner, ttlMs, timeoutMs, signal) => {
      const grant = await inner.waitForGrant?.(key, owner, ttlMs, timeoutMs, signal)
      calls.wakeUps++
      return grant
    }
  }
  return { backend, calls }
}

/**
 * One process's part of the crowd: `waiters` concurrent
 * `withLock(key, { wait })` calls on the target's backend, each holding the
 * key for `sectionMs`. Counts the callers that got through and the backend
 * attempts and wake-ups (`waitForRelease` calls that ended) they took.
 */
export async function runCrowdCallers(
  target: Target,
  key: string,
  waiters: number,
  sectionMs: number,
  waitMs: number,
): Promise<CrowdOutcome> {
  const { backend, calls } = counting(target.backend)
  const lw = createLockwork({ backend, prefix: target.lw.prefix })
  let done = 0
  let timedOut = 0
  let inside = 0
  let overlaps = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: waiters }, async () => {
      try {
        await lw.withLock(
          key,
          async () => {
            if (++inside > 1) overlaps++
            await sleep(sectionMs)
            inside--
            done++
          },
          { wait: waitMs, ttl: '30s' },
        )
      } catch (error) {
        if (error instanceof Error && error.name === 'LockTimeoutError') timedOut++
        else throw error
      }
    }),
  )
  if (overlaps > 0) throw new Error(`crowd: ${overlaps} sections overlapped in one process`)
  return {
    done,
    timedOut,
    totalMs: performance.now() - started,
    acquireCalls: calls.acquire,
    wakeUps: calls.wakeUps,
  }
}
