import type { StampedeOutcome, StrategyName } from './child/protocol.js'
import type { Child } from './children.js'
import type { BackendName } from './cli.js'
import { absoluteUs } from './clock.js'
import { runStampedeCallers } from './stampede-callers.js'
import { type Summary, summarize } from './stats.js'
import type { Target } from './targets.js'

/** Every strategy, in table order. */
export const STRATEGIES: readonly StrategyName[] = ['cached', 'naive', 'lock-reget']

/** What the table prints for each strategy. */
export const STRATEGY_LABELS: Record<StrategyName, string> = {
  cached: 'lw.cached',
  naive: 'naive GET / compute / SET',
  'lock-reget': 'lw.acquire + re-GET',
}

/** The stampede figures of one strategy on one backend. */
export interface StampedeFigures {
  readonly backend: BackendName
  readonly strategy: StrategyName
  readonly label: string
  /** Processes × callers per process. */
  readonly processes: number
  readonly callersPerProcess: number
  /** Computations in each run (all processes together). */
  readonly computations: readonly number[]
  /** Caller latency over every run, in ms. */
  readonly latencyMs: Summary
}

/** Options of {@link runStampedes}. */
export interface StampedeOptions {
  readonly keyPrefix: string
  readonly runs: number
  readonly callers: number
  readonly computeMs: number
  /** The strategies that can run here (`cached` only once the core has it). */
  readonly strategies: readonly StrategyName[]
  readonly onRun?: (run: number, runs: number) => void
}

/** How far ahead of "now" the parent schedules the common start, in µs. */
const START_AHEAD_US = 300_000

/**
 * The stampede: on a cold key, `callers` concurrent calls in each of two
 * processes (memory: one process, twice the callers), all started at one
 * absolute instant, each running a `computeMs` computation on a miss. Runs
 * are interleaved by strategy; every run uses a fresh key.
 */
export async function runStampedes(
  backends: readonly BackendName[],
  children: readonly Child[],
  memory: Target | undefined,
  options: StampedeOptions,
): Promise<StampedeFigures[]> {
  const outcomes = new Map<string, { computations: number[]; latencies: number[] }>()
  const record = (backend: BackendName, strategy: StrategyName, parts: readonly StampedeOutcome[]) => {
    const id = `${backend}/${strategy}`
    let entry = outcomes.get(id)
    if (entry === undefined) {
      entry = { computations: [], latencies: [] }
      outcomes.set(id, entry)
    }
    entry.computations.push(parts.reduce((sum, part) => sum + part.computations, 0))
    for (const part of parts) entry.latencies.push(...part.latenciesMs)
  }
  for (let run = 0; run < options.runs; run++) {
    for (let s = 0; s < options.strategies.length; s++) {
      const strategy = options.strategies[(s + run) % options.strategies.length]!
      for (const backend of backends) {
        const key = `${options.keyPrefix}stampede:${strategy}:${run}:${Math.random().toString(36).slice(2, 8)}`
        if (backend === 'memory') {
          if (memory === undefined) continue
          const outcome = await runStampedeCallers(
            memory,
            strategy,
            key,
            options.callers * 2,
            options.computeMs,
          )
          record(backend, strategy, [outcome])
          continue
        }
        const startAtUs = absoluteUs() + START_AHEAD_US
        const replies = await Promise.all(
          children.map((child) =>
            child.call({
              op: 'stampede',
              backend,
              strategy,
              key,
              callers: options.callers,
              computeMs: options.computeMs,
              startAtUs,
            }),
          ),
        )
        record(
          backend,
          strategy,
          replies.map((reply) => reply.stampede ?? { computations: Number.NaN, latenciesMs: [] }),
        )
      }
    }
    options.onRun?.(run + 1, options.runs)
  }
  const figures: StampedeFigures[] = []
  for (const backend of backends) {
    for (const strategy of options.strategies) {
      const entry = outcomes.get(`${backend}/${strategy}`)
      if (entry === undefined) continue
      const processes = backend === 'memory' ? 1 : children.length
      figures.push({
        backend,
        strategy,
        label: STRATEGY_LABELS[strategy],
        processes,
        callersPerProcess: backend === 'memory' ? options.callers * 2 : options.callers,
        computations: entry.computations,
        latencyMs: summarize(entry.latencies),
      })
    }
  }
  return figures
}
