import type { BackendName } from './cli.js'
import type { PairFigures } from './pairs.js'
import { fmt, ratio, roundRatio } from './report.js'
import type { Goal, Results } from './results.js'
import { medianRoundRatio } from './stats.js'

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
  /** Ours over another floor row of the same rounds (median of per-round ratios), not the table's. */
  minFloorRatio?: { readonly floor: string; readonly ratio: number }
  /**
   * Ours ÷ the peer in pairs per CPU-second of each one's process, the median
   * of per-round ratios (both rows run in processes of their own).
   */
  minCpuRatio?: { readonly peer: string; readonly ratio: number }
  loops64?: boolean
  target: string
}[] = [
  { backend: 'redis', ours: 'lockwork', minRatio: 0.95, target: '≥ 0.95× raw SET NX PX + EVALSHA' },
  {
    backend: 'redis',
    ours: 'lockwork',
    minRatio: 0.95,
    loops64: true,
    target: '≥ 0.95× raw SET NX PX + EVALSHA, 64 loops',
  },
  {
    backend: 'redis',
    ours: 'lockwork',
    minPeerRatio: { peer: 'redis-semaphore', ratio: 1 },
    target: "≥ 1× redis-semaphore's Mutex (same run)",
  },
  {
    backend: 'redis',
    ours: 'lockwork',
    minPeerRatio: { peer: 'redis-semaphore', ratio: 1 },
    loops64: true,
    target: "≥ 1× redis-semaphore's Mutex, 64 loops (same run)",
  },
  // PostgreSQL: against the bare lease table of the same commit mode (a lease with a TTL and a
  // fence is a heap write); the advisory lock, which writes nothing, is a reference row only.
  {
    backend: 'postgres',
    ours: 'lockwork-durable',
    minFloorRatio: { floor: 'lease-table-durable', ratio: 0.95 },
    target: '≥ 0.95× bare lease-table upsert+delete (durable)',
  },
  {
    backend: 'postgres',
    ours: 'lockwork-fast',
    minFloorRatio: { floor: 'lease-table-fast', ratio: 0.95 },
    target: '≥ 0.95× bare lease-table upsert+delete (fast)',
  },
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
  // Telemetry turned off: processes that published every event while they warmed up, then
  // unsubscribed, against processes that never subscribed (same run, same pair function). "Nothing
  // measurable" is read as within 2 %: below that, two sets of identical processes differ by
  // chance (see PROCESSES_PER_ROW in suites/own-process.ts). The `hasSubscribers` checks, which
  // both rows pay, are not in this ratio: with them removed from the core, a memory pair took no
  // fewer instructions (callgrind; V8's compilation choices alone move the count by about 4 %
  // from one process to the next).
  {
    backend: 'memory',
    ours: 'lockwork-unsubscribed',
    minCpuRatio: { peer: 'lockwork-own-process', ratio: 0.98 },
    target: '≥ 0.98× never-subscribed lockwork after unsubscribing, pairs per CPU-second (same run)',
  },
  {
    backend: 'sqlite',
    ours: 'lockwork-unsubscribed',
    minCpuRatio: { peer: 'lockwork-own-process', ratio: 0.98 },
    target: '≥ 0.98× never-subscribed lockwork after unsubscribing, pairs per CPU-second (same run)',
  },
]

/** Stampede goals for `lw.cached`. */
const STAMPEDE_P50_MS = 230
const STAMPEDE_P99_MS = 300
/**
 * Hand-off goals: the waiter's p50 at most this many times its backend's wake
 * floor (Redis PUBLISH → SUBSCRIBE, PostgreSQL NOTIFY → LISTEN), by the row's label.
 */
const HANDOFF_MAX_RATIOS: readonly {
  backend: BackendName
  label: string
  maxRatio: number
  floor: string
}[] = [
  { backend: 'redis', label: 'lockwork', maxRatio: 1.2, floor: 'pub/sub wake floor' },
  { backend: 'postgres', label: 'lockwork (fast)', maxRatio: 1.3, floor: 'NOTIFY → LISTEN floor' },
  { backend: 'postgres', label: 'lockwork (durable)', maxRatio: 1.6, floor: 'NOTIFY → LISTEN floor' },
]
/** SQLite's cross-process hand-off through the wake file: p50 at most this, in µs (no busy polling). */
const SQLITE_HANDOFF_MAX_US = 2_000

/** Evaluates every goal against the results. */
export function evaluateGoals(results: Results): Goal[] {
  const goals: Goal[] = []
  for (const goal of PAIR_GOALS) {
    const section = goal.loops64 === true ? results.concurrency : results.uncontended
    const figures: PairFigures[] | undefined = section[goal.backend]
    const ours = figures?.find((f) => f.id === goal.ours)
    const versus = goal.minPeerRatio === undefined ? '' : ` vs ${goal.minPeerRatio.peer}`
    const id = `${goal.loops64 === true ? '64 loops' : 'uncontended'} ${goal.ours}${versus}`
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
    } else if (goal.minFloorRatio !== undefined) {
      const floor = figures?.find((f) => f.id === goal.minFloorRatio?.floor)
      const overFloor = floor === undefined ? Number.NaN : roundRatio(ours, floor)
      goals.push({
        id,
        backend: goal.backend,
        target: goal.target,
        measured: ratio(overFloor),
        met: Number.isNaN(overFloor) ? undefined : overFloor >= goal.minFloorRatio.ratio,
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
  for (const goal of HANDOFF_MAX_RATIOS) {
    const handoff = results.handoff.find(
      (f) => f.backend === goal.backend && f.role === 'ours' && f.label === goal.label,
    )
    if (handoff === undefined) continue
    goals.push({
      id: `hand-off p50 ${goal.label}`,
      backend: goal.backend,
      target: `≤ ${goal.maxRatio}× ${goal.floor}`,
      measured: `${ratio(handoff.ratioToFloor)} (${fmt(handoff.latencyUs.p50)} µs)`,
      met: handoff.ratioToFloor <= goal.maxRatio,
    })
  }
  const sqliteHandoff = results.handoff.find(
    (f) => f.backend === 'sqlite' && f.role === 'ours' && f.name === 'sqlite.lockwork',
  )
  if (sqliteHandoff) {
    goals.push({
      id: 'hand-off p50 lockwork',
      backend: 'sqlite',
      target: `≤ ${fmt(SQLITE_HANDOFF_MAX_US)} µs across processes, no busy polling`,
      measured: `${fmt(sqliteHandoff.latencyUs.p50)} µs (${ratio(sqliteHandoff.ratioToFloor)} the fs.watch floor)`,
      met: sqliteHandoff.latencyUs.p50 <= SQLITE_HANDOFF_MAX_US,
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
