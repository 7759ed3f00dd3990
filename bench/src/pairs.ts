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
  /**
   * Set when the variant runs in a process of its own: each slice runs there
   * (and `pair` is not called here), and so do its latency samples.
   */
  readonly remote?: RemotePairs
}

/** What one slice asks for (see {@link runSliceHere}). */
export interface SliceRequest {
  /** Prepended to every key, before the variant's id. */
  readonly keyPrefix: string
  readonly ms: number
  readonly loops: number
  /** Whether the slice is measured (its latencies kept); `false` for the warm-up. */
  readonly record: boolean
}

/** What one slice did. */
export interface SliceOutcome {
  readonly pairs: number
  readonly elapsedMs: number
  /** CPU time the process used during the slice (every thread: user + system), in ms. */
  readonly cpuMs: number
}

/** A variant that runs in another process. */
export interface RemotePairs {
  /** Runs one slice there. */
  slice(request: SliceRequest): Promise<SliceOutcome>
  /** The latencies of every measured slice so far, in µs. */
  latency(): Promise<Summary>
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
  /**
   * This variant's pairs per CPU-second of its process in each measured round:
   * the cost of a pair, which other processes competing for the cores do not
   * change as much as they change pairs/s.
   */
  readonly cpuRoundRates: readonly number[]
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
  readonly keys: SliceKeys
  pairs: number
  elapsedMs: number
  readonly roundRates: number[]
  readonly cpuRoundRates: number[]
}

/** A variant's latency samples and where its uncontended key cycle is, kept across its slices. */
export interface SliceKeys {
  readonly samples: Samples
  next: number
}

/**
 * Runs every variant in interleaved rounds (the order rotates each round, so
 * drift of the shared machine hits all alike), after one unmeasured warm-up
 * round. Each variant runs for `sliceMs` per round.
 */
export async function runPairs(suite: BackendSuite, options: PairRunOptions): Promise<PairFigures[]> {
  const accumulators: Accumulator[] = suite.variants.map((variant) => ({
    variant,
    keys: { samples: new Samples(), next: 0 },
    pairs: 0,
    elapsedMs: 0,
    roundRates: [],
    cpuRoundRates: [],
  }))
  const warmUp = Math.max(50, options.sliceMs / 2)
  for (const acc of accumulators) await warmUpVariant(acc, options, warmUp)
  for (let round = 0; round < options.rounds; round++) {
    for (let i = 0; i < accumulators.length; i++) {
      const acc = accumulators[(i + round) % accumulators.length]!
      await runSlice(acc, options, options.sliceMs, true)
    }
    options.onRound?.(round + 1, options.rounds)
  }
  const figures: PairFigures[] = []
  for (const acc of accumulators) {
    const latencyUs =
      acc.variant.remote === undefined
        ? summarize(acc.keys.samples.values())
        : await acc.variant.remote.latency()
    figures.push({
      id: acc.variant.id,
      label: acc.variant.label,
      role: acc.variant.role,
      ...(acc.variant.primitive === undefined ? {} : { primitive: acc.variant.primitive }),
      pairs: acc.pairs,
      pairsPerSec: (acc.pairs / acc.elapsedMs) * 1000,
      latencyUs,
      ratio: Number.NaN,
      roundRates: acc.roundRates,
      cpuRoundRates: acc.cpuRoundRates,
    })
  }
  const floor = figures.find((f) => f.id === suite.floorId)
  for (const f of figures) {
    if (floor === undefined) continue
    const ratios = f.roundRates.map((rate, round) => rate / (floor.roundRates[round] ?? Number.NaN))
    f.ratio = summarize(ratios).p50
  }
  return figures
}

/**
 * Unmeasured slices of `ms` until the variant's process has spent `ms / 2` of
 * CPU time in them (at most {@link MAX_WARM_UP_SLICES}): on a loaded machine
 * a slice of wall time can leave a process too little CPU to finish
 * compiling its hot functions, and a process of its own starts cold.
 */
async function warmUpVariant(acc: Accumulator, options: PairRunOptions, ms: number): Promise<void> {
  let cpuMs = 0
  for (let slice = 0; slice < MAX_WARM_UP_SLICES && cpuMs < ms / 2; slice++) {
    const request: SliceRequest = { keyPrefix: options.keyPrefix, ms, loops: options.loops, record: false }
    const outcome =
      acc.variant.remote === undefined
        ? await runSliceHere(acc.variant, acc.keys, request)
        : await acc.variant.remote.slice(request)
    cpuMs += outcome.cpuMs
  }
}

/** The most warm-up slices a variant runs. */
const MAX_WARM_UP_SLICES = 10

async function runSlice(
  acc: Accumulator,
  options: PairRunOptions,
  ms: number,
  record: boolean,
): Promise<void> {
  const request: SliceRequest = { keyPrefix: options.keyPrefix, ms, loops: options.loops, record }
  const outcome =
    acc.variant.remote === undefined
      ? await runSliceHere(acc.variant, acc.keys, request)
      : await acc.variant.remote.slice(request)
  if (record) {
    acc.pairs += outcome.pairs
    acc.elapsedMs += outcome.elapsedMs
    acc.roundRates.push((outcome.pairs / outcome.elapsedMs) * 1000)
    acc.cpuRoundRates.push((outcome.pairs / outcome.cpuMs) * 1000)
  }
}

/**
 * Runs `variant.pair` in this process for `request.ms`, in `request.loops`
 * concurrent loops (one: keys cycle through {@link KEYSPACE}; more: a key per
 * loop), keeping latencies in `keys.samples` when the slice is recorded.
 */
export async function runSliceHere(
  variant: PairVariant,
  keys: SliceKeys,
  request: SliceRequest,
): Promise<SliceOutcome> {
  const cpuAtStart = process.cpuUsage()
  const start = performance.now()
  const end = start + request.ms
  let pairs = 0
  const loop = async (loopIndex: number): Promise<void> => {
    const fixedKey = request.loops > 1 ? `${request.keyPrefix}${variant.id}:c:${loopIndex}` : undefined
    let t = performance.now()
    while (t < end) {
      const key = fixedKey ?? `${request.keyPrefix}${variant.id}:u:${keys.next++ % KEYSPACE}`
      await variant.pair(key)
      const t2 = performance.now()
      if (request.record) keys.samples.push((t2 - t) * 1000)
      pairs++
      t = t2
    }
  }
  if (request.loops === 1) await loop(0)
  else await Promise.all(Array.from({ length: request.loops }, (_, i) => loop(i)))
  const elapsedMs = performance.now() - start
  const cpu = process.cpuUsage(cpuAtStart)
  return { pairs, elapsedMs, cpuMs: (cpu.user + cpu.system) / 1000 }
}
