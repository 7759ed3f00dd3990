import type { CrowdOutcome } from './child/protocol.js'
import type { Child } from './children.js'
import type { BackendName } from './cli.js'
import { absoluteUs } from './clock.js'
import { runCrowdCallers } from './crowd-callers.js'
import type { Target } from './targets.js'

/** The crowd figures of one backend. */
export interface CrowdFigures {
  readonly backend: BackendName
  /** Processes × waiters per process. */
  readonly processes: number
  readonly waitersPerProcess: number
  readonly sectionMs: number
  readonly waitMs: number
  /** Waiters that got the key within their wait. */
  readonly done: number
  readonly timedOut: number
  /** From the common start until the last process finished, in ms. */
  readonly totalMs: number
  /** Backend `acquire` calls per hand-off (every process together). */
  readonly attemptsPerHandoff: number
  /** Backend wake-ups (`waitForRelease` calls that ended) per hand-off. */
  readonly wakeUpsPerHandoff: number
}

/** Options of {@link runCrowds}. */
export interface CrowdOptions {
  readonly keyPrefix: string
  /** Waiters in all, split evenly over the processes. */
  readonly waiters: number
  readonly sectionMs: number
  readonly waitMs: number
}

/** How far ahead of "now" the parent schedules the common start, in µs. */
const START_AHEAD_US = 300_000

/**
 * The crowd: `waiters` callers of `withLock` on one key, started at once,
 * each holding it `sectionMs` with `wait: waitMs`; split over the two child
 * processes for shared backends, in this process for memory. One run per
 * backend.
 */
export async function runCrowds(
  backends: readonly BackendName[],
  children: readonly Child[],
  memory: Target | undefined,
  options: CrowdOptions,
): Promise<CrowdFigures[]> {
  const figures: CrowdFigures[] = []
  for (const backend of backends) {
    const key = `${options.keyPrefix}crowd:${Math.random().toString(36).slice(2, 10)}`
    let outcomes: CrowdOutcome[]
    let totalMs: number
    if (backend === 'memory') {
      if (memory === undefined) continue
      const outcome = await runCrowdCallers(memory, key, options.waiters, options.sectionMs, options.waitMs)
      outcomes = [outcome]
      totalMs = outcome.totalMs
    } else {
      if (children.length === 0) continue
      const startAtUs = absoluteUs() + START_AHEAD_US
      const replies = await Promise.all(
        children.map((child) =>
          child.call({
            op: 'crowd',
            backend,
            key,
            waiters: Math.floor(options.waiters / children.length),
            sectionMs: options.sectionMs,
            waitMs: options.waitMs,
            startAtUs,
          }),
        ),
      )
      outcomes = replies.map((reply) => {
        if (reply.crowd === undefined) throw new Error(`crowd on ${backend}: a child sent no outcome`)
        return reply.crowd
      })
      // Each child measures from the common start, so the slowest is the crowd's total.
      totalMs = Math.max(...outcomes.map((o) => o.totalMs))
    }
    const done = outcomes.reduce((sum, o) => sum + o.done, 0)
    const handoffs = Math.max(1, done)
    figures.push({
      backend,
      processes: outcomes.length,
      waitersPerProcess:
        backend === 'memory' ? options.waiters : Math.floor(options.waiters / children.length),
      sectionMs: options.sectionMs,
      waitMs: options.waitMs,
      done,
      timedOut: outcomes.reduce((sum, o) => sum + o.timedOut, 0),
      totalMs,
      attemptsPerHandoff: outcomes.reduce((sum, o) => sum + o.acquireCalls, 0) / handoffs,
      wakeUpsPerHandoff: outcomes.reduce((sum, o) => sum + o.wakeUps, 0) / handoffs,
    })
  }
  return figures
}
