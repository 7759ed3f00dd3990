import type { BackendName } from './cli.js'
import type { PairFigures } from './pairs.js'
import { fmt, ratio } from './report.js'
import type { Goal, Results } from './results.js'
import { summarize } from './stats.js'

/**
 * Throughput goals, all same-run ratios: our public API over the floor
 * (`minRatio`), or over a peer (`minPeerRatio`: ours ÷ the peer, both from the
 * same interleaved rounds), uncontended or with 64 loops (`loops64`).
 */
const PAIR_GOALS: readonly {
  backend: BackendName
  ours: string
  minRatio?: number
  minPeerRatio?: { readonly peer: string; readonly ratio: number }
  /**
   * Ours ÷ the peer in pairs per CPU-second of each one's process, the median
   * of per-round ratios (both rows run in processes of their own).
   */
  minCpuRatio?: { readonly peer: string; readonly ratio: number }
  loops64?: boolean
  target: string
}[] = [
  { backend: 'redis', ours: 'lockwork', minRatio: 0.95, target: '≥ 0.95× raw SET NX PX + EVALSHA' },
  { backend: 'postgres', ours: 'lockwork-durable', minRatio: 0.9, target: '≥ 0.9× advisory lock (durable)' },
  { backend: 'postgres', ours: 'lockwork-fast', minRatio: 0.9, target: '≥ 0.9× advisory lock (fast)' },
  { backend: 'sqlite', ours: 'lockwork', minRatio: 0.8, target: '≥ 0.8× raw WAL upsert+delete' },
  {
    backend: 'memory',
    ours: 'lockwork',
    minPeerRatio: { peer: 'async-mutex', ratio: 1 },
    target: '≥ 1× async-mutex (same run)',
  },
  {
    backend: 'memory',
    ours: 'lockwork',
    minPeerRatio: { peer: 'async-mutex', ratio: 1 },
    loops64: true,
    target: '≥ 1× async-mutex, 64 loops (same run)',
  },
  // Telemetry: with the OpenTelemetry integration's channels subscribed, at most 5 % fewer pairs
  // than the same process without (both rows in processes of their own, same rounds).
  {
    backend: 'memory',
    ours: 'lockwork-observed',
    minCpuRatio: { peer: 'lockwork-own-process', ratio: 0.95 },
    target: '≥ 0.95× unsubscribed lockwork, pairs per CPU-second (same run)',
  },
  {
    backend: 'sqlite',
    ours: 'lockwork-observed',
    minCpuRatio: { peer: 'lockwork-own-process', ratio: 0.95 },
    target: '≥ 0.95× unsubscribed lockwork, pairs per CPU-second (same run)',
  },
]

/** The median over rounds of `a[round] / b[round]`. */
function medianRoundRatio(a: readonly number[], b: readonly number[]): number {
  return summarize(a.map((value, round) => value / (b[round] ?? Number.NaN))).p50
}

/** Stampede goals for `lw.cached`. */
const STAMPEDE_P50_MS = 230
const STAMPEDE_P99_MS = 300
/** Hand-off goal on Redis: p50 at most this many times the pub/sub wake floor's. */
const HANDOFF_MAX_RATIO = 1.2

/** Evaluates every goal of issue 7 against the results. */
export function evaluateGoals(results: Results): Goal[] {
  const goals: Goal[] = []
  for (const goal of PAIR_GOALS) {
    const section = goal.loops64 === true ? results.concurrency : results.uncontended
    const figures: PairFigures[] | undefined = section[goal.backend]
    const ours = figures?.find((f) => f.id === goal.ours)
    const id = `${goal.loops64 === true ? '64 loops' : 'uncontended'} ${goal.ours}`
    if (ours === undefined) {
      if (figures !== undefined)
        goals.push({ id, backend: goal.backend, target: goal.target, measured: '–', met: undefined })
      continue
    }
    if (goal.minRatio !== undefined) {
      goals.push({
        id,
        backend: goal.backend,
        target: goal.target,
        measured: ratio(ours.ratio),
        met: ours.ratio >= goal.minRatio,
      })
    } else if (goal.minCpuRatio !== undefined) {
      const peer = figures?.find((f) => f.id === goal.minCpuRatio?.peer)
      const overPeer =
        peer === undefined ? Number.NaN : medianRoundRatio(ours.cpuRoundRates, peer.cpuRoundRates)
      const wall = peer === undefined ? Number.NaN : medianRoundRatio(ours.roundRates, peer.roundRates)
      goals.push({
        id,
        backend: goal.backend,
        target: goal.target,
        measured: Number.isNaN(overPeer) ? '–' : `${ratio(overPeer)} (pairs/s: ${ratio(wall)})`,
        met: Number.isNaN(overPeer) ? undefined : overPeer >= goal.minCpuRatio.ratio,
      })
    } else if (goal.minPeerRatio !== undefined) {
      const peer = figures?.find((f) => f.id === goal.minPeerRatio?.peer)
      // Both ratios are medians over the same rounds against the same floor.
      const overPeer = peer === undefined ? Number.NaN : ours.ratio / peer.ratio
      goals.push({
        id,
        backend: goal.backend,
        target: goal.target,
        measured: Number.isNaN(overPeer)
          ? '–'
          : `${ratio(overPeer)} (${ratio(ours.ratio)} vs ${ratio(peer?.ratio ?? Number.NaN)} floor)`,
        met: Number.isNaN(overPeer) ? undefined : overPeer >= goal.minPeerRatio.ratio,
      })
    }
  }
  const redisHandoff = results.handoff.find((f) => f.backend === 'redis' && f.role === 'ours')
  if (redisHandoff) {
    goals.push({
      id: 'hand-off p50',
      backend: 'redis',
      target: `≤ ${HANDOFF_MAX_RATIO}× pub/sub wake floor`,
      measured: `${ratio(redisHandoff.ratioToFloor)} (${fmt(redisHandoff.latencyUs.p50)} µs)`,
      met: redisHandoff.ratioToFloor <= HANDOFF_MAX_RATIO,
    })
  }
  for (const f of results.stampede) {
    if (f.strategy !== 'cached') continue
    const maxComputations = Math.max(...f.computations)
    goals.push({
      id: 'stampede lw.cached',
      backend: f.backend,
      target: `1 computation, p50 ≤ ${STAMPEDE_P50_MS} ms, p99 ≤ ${STAMPEDE_P99_MS} ms`,
      measured: `${f.computations.join(', ')} computation(s); p50 ${fmt(f.latencyMs.p50)} ms, p99 ${fmt(f.latencyMs.p99)} ms`,
      met: maxComputations === 1 && f.latencyMs.p50 <= STAMPEDE_P50_MS && f.latencyMs.p99 <= STAMPEDE_P99_MS,
    })
  }
  return goals
}
