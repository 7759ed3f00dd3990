import type { BackendName } from './cli.js'
import type { CrowdFigures } from './crowd.js'
import type { HandoffFigures } from './handoff.js'
import type { PairFigures } from './pairs.js'
import type { Goal, Results } from './results.js'
import type { StampedeFigures } from './stampede.js'
import { medianRoundRatio } from './stats.js'

/** Formats a number with thousands separators and `digits` decimals. */
export function fmt(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return '–'
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** Formats a ratio as `0.93×`. */
export function ratio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : '–'
}

function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  align?: readonly ('l' | 'r')[],
): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
  const rule = header.map((_, i) => ((align?.[i] ?? 'l') === 'r' ? '---:' : '---'))
  return [line(header), line(rule), ...rows.map(line)].join('\n')
}

/** The median over rounds of `a`'s rate over `b`'s in the same round. */
export function roundRatio(a: PairFigures, b: PairFigures): number {
  return medianRoundRatio(a.roundRates, b.roundRates)
}

const ROLE_MARK: Record<PairFigures['role'], string> = { ours: '**', bare: '', floor: '', peer: '' }

/** The pair table of one backend (uncontended or concurrency). */
export function pairTable(backend: BackendName, figures: readonly PairFigures[], floorLabel: string): string {
  // `lockwork-fast` pairs with `bare-fast`, `lockwork` with `bare`.
  const bareOf = (f: PairFigures) =>
    figures.find((o) => o.role === 'bare' && o.id === f.id.replace('lockwork', 'bare'))
  const rows = figures.map((f) => {
    const bare = bareOf(f)
    const mark = ROLE_MARK[f.role]
    return [
      `${mark}${f.label}${mark}`,
      f.role,
      fmt(f.pairsPerSec),
      fmt(f.latencyUs.p50, 1),
      fmt(f.latencyUs.p99, 1),
      ratio(f.ratio),
      f.role === 'ours' && bare ? ratio(roundRatio(f, bare)) : '',
    ]
  })
  return table([backend, 'role', 'pairs/s', 'p50 µs', 'p99 µs', `× ${floorLabel}`, '× bare'], rows, [
    'l',
    'l',
    'r',
    'r',
    'r',
    'r',
    'r',
  ])
}

/** The hand-off table (every backend). */
export function handoffTable(figures: readonly HandoffFigures[]): string {
  const rows = figures.map((f) => {
    const mark = f.role === 'ours' ? '**' : ''
    return [
      f.backend,
      `${mark}${f.label}${mark}`,
      fmt(f.latencyUs.n),
      fmt(f.latencyUs.p50, 0),
      fmt(f.latencyUs.p99, 0),
      ratio(f.ratioToFloor),
      ratio(f.ratioToRawLock),
    ]
  })
  return table(['backend', 'hand-off', 'n', 'p50 µs', 'p99 µs', '× wake floor', '× raw lock'], rows, [
    'l',
    'l',
    'r',
    'r',
    'r',
    'r',
    'r',
  ])
}

/** The stampede table (every backend). */
export function stampedeTable(figures: readonly StampedeFigures[]): string {
  const rows = figures.map((f) => {
    const mark = f.strategy === 'cached' ? '**' : ''
    return [
      f.backend,
      `${mark}${f.label}${mark}`,
      `${f.processes} × ${f.callersPerProcess}`,
      f.computations.join(', '),
      fmt(f.latencyMs.p50, 0),
      fmt(f.latencyMs.p99, 0),
    ]
  })
  return table(['backend', 'strategy', 'callers', 'computations per run', 'p50 ms', 'p99 ms'], rows, [
    'l',
    'l',
    'r',
    'r',
    'r',
    'r',
  ])
}

/** The crowd table (every backend). */
export function crowdTable(figures: readonly CrowdFigures[]): string {
  const rows = figures.map((f) => [
    f.backend,
    `${f.processes} × ${f.waitersPerProcess}`,
    `${f.done} / ${f.timedOut}`,
    fmt(f.totalMs / 1000, 1),
    fmt(f.done / (f.totalMs / 1000), 0),
    fmt(f.attemptsPerHandoff, 2),
    fmt(f.wakeUpsPerHandoff, 2),
  ])
  return table(
    [
      'backend',
      'waiters',
      'through / timed out',
      'total s',
      'hand-offs/s',
      'attempts per hand-off',
      'wake-ups per hand-off',
    ],
    rows,
    ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
  )
}

/** The goals table. */
export function goalTable(goals: readonly Goal[]): string {
  const rows = goals.map((g) => [
    g.backend,
    g.id,
    g.target,
    g.measured,
    g.met === undefined ? 'not measured' : g.met ? '✅ met' : '❌ missed',
  ])
  return table(['backend', 'goal', 'target', 'measured', ''], rows)
}

/**
 * One row per backend (per durability mode for PostgreSQL): our public API's
 * throughput and ratios, the peers' ratios, hand-off and stampede figures.
 */
export function summaryTable(results: Results): string {
  const rows: string[][] = []
  for (const [backend, all] of Object.entries(results.uncontended) as [BackendName, PairFigures[]][]) {
    // Semaphore rows are in the pair tables only: the summary compares locks; so are the plain row
    // run in a process of its own and the unsubscribed one (they are there to compare the telemetry
    // rows with).
    const figures = all.filter(
      (f) =>
        f.primitive !== 'semaphore' && f.id !== 'lockwork-own-process' && f.id !== 'lockwork-unsubscribed',
    )
    const peers = figures
      .filter((f) => f.role === 'peer')
      .map((f) => `${f.label.split(' ')[0]} ${ratio(f.ratio)}`)
    for (const ours of figures.filter((f) => f.role === 'ours')) {
      const mode = ours.id.startsWith('lockwork-') ? ours.id.slice('lockwork-'.length) : undefined
      const bare = figures.find((o) => o.role === 'bare' && o.id === ours.id.replace('lockwork', 'bare'))
      const concurrent = results.concurrency[backend]?.find((f) => f.id === ours.id)
      const handoff = results.handoff.find(
        (f) => f.backend === backend && f.role === 'ours' && (mode === undefined || f.label.includes(mode)),
      )
      const stampede =
        mode === 'fast'
          ? undefined
          : results.stampede.find((f) => f.backend === backend && f.strategy === 'cached')
      rows.push([
        mode === undefined ? backend : `${backend} (${mode})`,
        fmt(ours.pairsPerSec),
        floorCell(backend, ours, figures, mode),
        bare ? ratio(roundRatio(ours, bare)) : '–',
        concurrent ? ratio(concurrent.ratio) : '–',
        peers.join(', ') || '–',
        handoff
          ? `${fmt(handoff.latencyUs.p50)} µs${Number.isFinite(handoff.ratioToFloor) ? ` (${ratio(handoff.ratioToFloor)})` : ''}`
          : '–',
        stampede
          ? `${Math.max(...stampede.computations)} · ${fmt(stampede.latencyMs.p50)} / ${fmt(stampede.latencyMs.p99)} ms`
          : '–',
      ])
    }
  }
  return table(
    [
      'backend',
      'lockwork pairs/s',
      '× floor',
      '× bare',
      `× floor, ${results.budget.loops} loops`,
      'peers × floor',
      'hand-off p50 (× wake floor)',
      'stampede: computations · p50 / p99',
    ],
    rows,
    ['l', 'r', 'r', 'r', 'r', 'l', 'r', 'r'],
  )
}

/**
 * The summary's `× floor` cell: the table's floor, except for PostgreSQL,
 * whose floor is the bare lease table of the same commit mode (the advisory
 * lock of its pair table writes nothing, so it is a reference, not a floor).
 */
function floorCell(
  backend: BackendName,
  ours: PairFigures,
  figures: readonly PairFigures[],
  mode: string | undefined,
): string {
  const leaseTable = mode === undefined ? undefined : figures.find((f) => f.id === `lease-table-${mode}`)
  if (backend === 'postgres' && leaseTable !== undefined)
    return `${ratio(roundRatio(ours, leaseTable))} lease table`
  return `${ratio(ours.ratio)} ${FLOOR_LABELS[backend]}`
}

/** The one-line description of the machine a run came from. */
export function machineLine(results: Results): string {
  const m = results.machine
  return (
    `${m.cpuModel}, ${m.cores} cores, ${m.totalMemoryGiB} GiB, ${m.os}, Node ${m.node}; ` +
    `load average ${m.loadAverageAtStart} at start; ${results.mode} run, ${Math.round(results.durationSec)} s; ` +
    (results.busy === true ? 'one core kept busy by a spinning process; ' : '') +
    `lockwork ${results.versions.lockworkCommit ?? '?'}, ${Object.entries(results.servers)
      .map(([name, version]) => `${name} ${version}`)
      .join(', ')}`
  )
}

/** The floor each backend's ratios are taken against, as the table header says it. */
export const FLOOR_LABELS: Record<BackendName, string> = {
  memory: 'node-cache',
  sqlite: 'raw',
  redis: 'raw',
  postgres: 'advisory',
  etcd: 'raw',
}

/** The full Markdown report printed at the end of a run. */
export function fullReport(results: Results): string {
  const parts: string[] = [`## lockwork benchmarks\n\n${machineLine(results)}`]
  if (Object.keys(results.uncontended).length > 0) parts.push(`### Summary\n\n${summaryTable(results)}`)
  const pairs = (title: string, section: Results['uncontended'], note: string) => {
    const entries = Object.entries(section) as [BackendName, PairFigures[]][]
    if (entries.length === 0) return
    parts.push(`### ${title}\n\n${note}`)
    for (const [backend, figures] of entries) parts.push(pairTable(backend, figures, FLOOR_LABELS[backend]))
  }
  pairs(
    'Uncontended acquire + release',
    results.uncontended,
    'One loop, one pair at a time, cycling over 1,000 keys; variants interleaved in rounds. `× floor` divides pairs/s by the floor’s (higher is better); `× bare` shows what the core costs over the backend alone.',
  )
  pairs(
    `Throughput: ${results.budget.loops} concurrent loops on distinct keys`,
    results.concurrency,
    'Same variants, many loops at once (a pair’s latency includes queueing behind the others).',
  )
  if (results.handoff.length > 0) {
    parts.push(
      `### Contended hand-off between two processes\n\nRelease sent → the other process’s acquire resolves. The waiter is parked 20–30 ms first. \`× wake floor\`: p50 over the bare notification’s p50 (lower is better).\n\n${handoffTable(results.handoff)}`,
    )
  }
  if (results.stampede.length > 0) {
    parts.push(
      `### Stampede: cold key, ${results.budget.computeMs} ms computation\n\n${stampedeTable(results.stampede)}`,
    )
  }
  const crowd = results.crowd ?? []
  if (crowd.length > 0) {
    const first = crowd[0]
    parts.push(
      `### Crowd: ${first ? first.processes * first.waitersPerProcess : ''} waiters on one key\n\nEvery waiter calls \`withLock(key, { wait: '${first ? first.waitMs / 1000 : 30}s' })\` at once and holds the key ${first?.sectionMs ?? 1} ms; shared backends split the crowd over the two child processes. Attempts and wake-ups are the backend's \`acquire\` and ended \`waitForRelease\` calls over every process, per waiter served (the first attempt of each waiter included).\n\n${crowdTable(crowd)}`,
    )
  }
  if (results.goals.length > 0) parts.push(`### Goals\n\n${goalTable(results.goals)}`)
  if (results.skipped.length > 0) {
    parts.push(`### Skipped\n\n${results.skipped.map((s) => `- ${s.backend}: ${s.reason}`).join('\n')}`)
  }
  if (results.notes.length > 0) parts.push(`### Notes\n\n${results.notes.map((n) => `- ${n}`).join('\n')}`)
  return `${parts.join('\n\n')}\n`
}
