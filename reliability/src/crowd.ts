/**
 * A crowd on one key: many callers of one process wait with `withLock` for
 * the same key at once, each holding it for a short section. Used in the
 * test process (memory) and in crowd workers (shared backends).
 */
import { createLockwork, type LockBackend } from '@lockwork/core'
import { nowUs, sleep } from './clock.js'
import { CountingBackend } from './counting-backend.js'
import type { Section } from './history-checker.js'

/** What one crowd runs. */
export interface CrowdPlan {
  readonly prefix: string
  readonly key: string
  /** Callers started at once in this process. */
  readonly waiters: number
  /** How long each holds the key, in ms. */
  readonly sectionMs: number
  /** Each caller's `wait`, in ms. */
  readonly waitMs: number
}

/** How one crowd went. */
export interface CrowdResult {
  /** Callers that got the key and ran their section. */
  readonly done: number
  /** Callers that gave up with `LockTimeoutError`. */
  readonly timedOut: number
  /** Other failures, as `name: message` (first few). */
  readonly errors: readonly string[]
  /** From the start until the last caller settled, in ms. */
  readonly totalMs: number
  /** The longest time a successful caller waited, in ms. */
  readonly longestWaitMs: number
  /** Backend `acquire` calls made. */
  readonly acquireCalls: number
  /** Backend `waitForRelease` and `waitForGrant` calls made (each one a wake-up the backend delivers). */
  readonly waitCalls: number
  /** Every section run, for the history checker (`worker` as given). */
  readonly sections: readonly Section[]
}

/** What {@link runLoops} measured in one process. */
export interface LoopsResult {
  /** Sections run by this process's loops. */
  readonly sections: number
  /** The longest a single `withLock` call waited for the key, in ms. */
  readonly longestWaitMs: number
}

/**
 * Sustained contention: `loops` loops, each calling `withLock(key)` again and
 * again for `durationMs`, holding the key `sectionMs` each time.
 */
export async function runLoops(
  backend: LockBackend,
  plan: CrowdPlan & { readonly durationMs: number },
): Promise<LoopsResult> {
  const lw = createLockwork({ backend, prefix: plan.prefix })
  let sections = 0
  let longestWaitMs = 0
  const stopAt = performance.now() + plan.durationMs
  await Promise.all(
    Array.from({ length: plan.waiters }, async () => {
      while (performance.now() < stopAt) {
        const calledAt = performance.now()
        await lw.withLock(
          plan.key,
          async () => {
            longestWaitMs = Math.max(longestWaitMs, performance.now() - calledAt)
            await sleep(plan.sectionMs)
            sections++
          },
          { wait: plan.waitMs, ttl: '30s' },
        )
      }
    }),
  )
  return { sections, longestWaitMs }
}

/** Runs `plan.waiters` concurrent `withLock` callers of `plan.key` on `backend`. */
export async function runCrowd(backend: LockBackend, plan: CrowdPlan, worker = 0): Promise<CrowdResult> {
  const counting = new CountingBackend(backend)
  const lw = createLockwork({ backend: counting, prefix: plan.prefix })
  const sections: Section[] = []
  const errors: string[] = []
  let timedOut = 0
  let longestWaitMs = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: plan.waiters }, async () => {
      const calledAt = performance.now()
      try {
        await lw.withLock(
          plan.key,
          async (lock) => {
            longestWaitMs = Math.max(longestWaitMs, performance.now() - calledAt)
            const enter = nowUs()
            await sleep(plan.sectionMs)
            sections.push({ worker, fence: lock.fence, enter, exit: nowUs() })
          },
          { wait: plan.waitMs, ttl: '30s' },
        )
      } catch (error) {
        if (error instanceof Error && error.name === 'LockTimeoutError') timedOut++
        else if (errors.length < 5)
          errors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error))
        else errors.push('…')
      }
    }),
  )
  return {
    done: sections.length,
    timedOut,
    errors,
    totalMs: performance.now() - started,
    longestWaitMs,
    acquireCalls: counting.calls.get('acquire') ?? 0,
    waitCalls: (counting.calls.get('waitForRelease') ?? 0) + (counting.calls.get('waitForGrant') ?? 0),
    sections,
  }
}
