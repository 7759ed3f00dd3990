import { Samples, type Summary, summarize } from './stats.js'

/**
 * What a variant is, for ratios: `ours` is the public API (`createLockwork` →
 * `acquire` → `release`), `bare` the same backend called directly (the core's
 * overhead is the gap between the two), `floor` the raw driver doing the least
 * a lock can do, `peer` another library.
 */
export type Role = 'ours' | 'bare' | 'floor' | 'peer'

/** One way of taking and freeing a lock, benchmarked pair by pair. */
export interface PairVariant {
  /** A short stable id, used in keys and JSON (e.g. `lockwork`, `raw`). */
  readonly id: string
  /** What the table prints. */
  readonly label: string
  readonly role: Role
  /** What it takes: a lock (default) or one permit of a semaphore. The summary counts only locks. */
  readonly primitive?: 'lock' | 'semaphore'
  /** One uncontended acquire + release of `key`; rejects if either step fails. */
  pair(key: string): Promise<void>
  /** Called before each of this variant's slices (e.g. to attach a subscriber only while it runs). */
  enterSlice?(): void
  /** Called after each of this variant's slices, also when one fails. */
  leaveSlice?(): void
}

/** The variants of one backend, with the one that ratios are taken against. */
export interface BackendSuite {
  readonly variants: readonly PairVariant[]
  /** The `id` of the floor every ratio divides by. */
  readonly floorId: string
  /** Frees connections and deletes what the benchmark wrote. */
  close(): Promise<void>
}

/** The measured figures of one variant. */
export interface PairFigures {
  readonly id: string
  readonly label: string
  readonly role: Role
  /** A lock or a semaphore permit (see {@link PairVariant.primitive}). */
  readonly primitive?: 'lock' | 'semaphore'
  /** Pairs completed in the measured rounds. */
  readonly pairs: number
  /** Pairs per second over the measured time. */
  readonly pairsPerSec: number
  /** Per-pair latency in µs. */
  readonly latencyUs: Summary
  /**
   * Throughput over the floor's: the median over rounds of this variant's
   * pairs/s in the round divided by the floor's in the same round (robust to
   * the machine's drift and to a stall hitting one slice).
   */
  ratio: number
  /** This variant's pairs/s in each measured round (for the per-round ratio). */
  readonly roundRates: readonly number[]
}

/** How many distinct keys the uncontended loop cycles through. */
export const KEYSPACE = 1_000

/** Options of {@link runPairs}. */
export interface PairRunOptions {
  /** Prepended to every key (unique per run, so runs never see each other's keys). */
  readonly keyPrefix: string
  readonly rounds: number
  readonly sliceMs: number
  /** 1 for the uncontended benchmark; more runs that many loops at once, each on its own key. */
  readonly loops: number
  /** Called after each round (progress). */
  readonly onRound?: (round: number, rounds: number) => void
}

interface Accumulator {
  readonly variant: PairVariant
  readonly samples: Samples
  pairs: number
  elapsedMs: number
  next: number
  readonly roundRates: number[]
}

/**
 * Runs every variant in interleaved rounds (the order rotates each round, so
 * drift of the shared machine hits all alike), after one unmeasured warm-up
 * round. Each variant runs for `sliceMs` per round.
 */
export async function runPairs(suite: BackendSuite, options: PairRunOptions): Promise<PairFigures[]> {
  const accumulators: Accumulator[] = suite.variants.map((variant) => ({
    variant,
    samples: new Samples(),
    pairs: 0,
    elapsedMs: 0,
    next: 0,
    roundRates: [],
  }))
  const warmUp = Math.max(50, options.sliceMs / 2)
  for (const acc of accumulators) await runSlice(acc, options, warmUp, false)
  for (let round = 0; round < options.rounds; round++) {
    for (let i = 0; i < accumulators.length; i++) {
      const acc = accumulators[(i + round) % accumulators.length]!
      await runSlice(acc, options, options.sliceMs, true)
    }
    options.onRound?.(round + 1, options.rounds)
  }
  const figures = accumulators.map((acc): PairFigures => {
    return {
      id: acc.variant.id,
      label: acc.variant.label,
      role: acc.variant.role,
      ...(acc.variant.primitive === undefined ? {} : { primitive: acc.variant.primitive }),
      pairs: acc.pairs,
      pairsPerSec: (acc.pairs / acc.elapsedMs) * 1000,
      latencyUs: summarize(acc.samples.values()),
      ratio: Number.NaN,
      roundRates: acc.roundRates,
    }
  })
  const floor = figures.find((f) => f.id === suite.floorId)
  for (const f of figures) {
    if (floor === undefined) continue
    const ratios = f.roundRates.map((rate, round) => rate / (floor.roundRates[round] ?? Number.NaN))
    f.ratio = summarize(ratios).p50
  }
  return figures
}

async function runSlice(
  acc: Accumulator,
  options: PairRunOptions,
  ms: number,
  record: boolean,
): Promise<void> {
  const { variant } = acc
  const start = performance.now()
  const end = start + ms
  let pairs = 0
  const loop = async (loopIndex: number): Promise<void> => {
    const fixedKey = options.loops > 1 ? `${options.keyPrefix}${variant.id}:c:${loopIndex}` : undefined
    let t = performance.now()
    while (t < end) {
      const key = fixedKey ?? `${options.keyPrefix}${variant.id}:u:${acc.next++ % KEYSPACE}`
      await variant.pair(key)
      const t2 = performance.now()
      if (record) acc.samples.push((t2 - t) * 1000)
      pairs++
      t = t2
    }
  }
  variant.enterSlice?.()
  try {
    if (options.loops === 1) await loop(0)
    else await Promise.all(Array.from({ length: options.loops }, (_, i) => loop(i)))
  } finally {
    variant.leaveSlice?.()
  }
  if (record) {
    const elapsedMs = performance.now() - start
    acc.pairs += pairs
    acc.elapsedMs += elapsedMs
    acc.roundRates.push((pairs / elapsedMs) * 1000)
  }
}
