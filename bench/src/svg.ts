import type { BackendName } from './cli.js'
import type { PairFigures } from './pairs.js'
import type { Results } from './results.js'

interface Bar {
  readonly label: string
  readonly value: number
  readonly ours: boolean
  /** A goal marker on this bar's scale, if any. */
  readonly goal?: number
}

interface Panel {
  readonly title: string
  readonly bars: readonly Bar[]
  /** Logarithmic scale (for ratios spanning orders of magnitude). */
  readonly log: boolean
}

const WIDTH = 920
const LABEL_WIDTH = 360
const BAR_AREA = 440
const ROW = 20
const COLORS = { ours: '#2563eb', other: '#9ca3af', floor: '#111827', goal: '#dc2626' }

function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}

const PAIR_GOALS: Partial<Record<BackendName, number>> = { redis: 0.95, postgres: 0.95, sqlite: 0.8 }

/**
 * Where the goal tick of `f` goes on the bars' scale. PostgreSQL's bars are
 * over the advisory lock, but its goal is over the bare lease table of the
 * same mode: the tick sits at the goal times that row's bar.
 */
function goalTick(backend: BackendName, f: PairFigures, figures: readonly PairFigures[]): number | undefined {
  const goal = PAIR_GOALS[backend]
  if (goal === undefined || backend !== 'postgres') return goal
  const mode = f.id.startsWith('lockwork-') ? f.id.slice('lockwork-'.length) : undefined
  const floor = figures.find((o) => o.id === `lease-table-${mode}`)
  return floor === undefined ? undefined : goal * floor.ratio
}

function pairBars(section: Results['uncontended'], withGoals: boolean): Bar[] {
  const bars: Bar[] = []
  for (const [backend, figures] of Object.entries(section) as [BackendName, PairFigures[]][]) {
    for (const f of figures) {
      const goal = withGoals && f.role === 'ours' ? goalTick(backend, f, figures) : undefined
      bars.push({
        label: `${backend} · ${f.label}`,
        value: f.ratio,
        ours: f.role === 'ours',
        ...(goal === undefined ? {} : { goal }),
      })
    }
  }
  return bars
}

function renderPanel(panel: Panel, top: number): { svg: string; height: number } {
  const values = panel.bars.map((b) => b.value).filter(Number.isFinite)
  const max = Math.max(1.2, ...values, ...panel.bars.map((b) => b.goal ?? 0))
  const min = panel.log ? Math.min(0.5, ...values) : 0
  const scale = (v: number) =>
    panel.log
      ? ((Math.log10(Math.max(v, min)) - Math.log10(min)) / (Math.log10(max) - Math.log10(min))) * BAR_AREA
      : (v / max) * BAR_AREA
  const parts: string[] = [
    `<text x="10" y="${top + 16}" font-weight="bold" font-size="14">${escapeXml(panel.title)}</text>`,
  ]
  let y = top + 28
  for (const bar of panel.bars) {
    const width = Number.isFinite(bar.value) ? Math.max(1, scale(bar.value)) : 0
    parts.push(
      `<text x="${LABEL_WIDTH - 8}" y="${y + 14}" text-anchor="end" font-size="12">${escapeXml(bar.label)}</text>`,
      `<rect x="${LABEL_WIDTH}" y="${y + 3}" width="${width.toFixed(1)}" height="${ROW - 6}" fill="${bar.ours ? COLORS.ours : COLORS.other}"/>`,
      `<text x="${LABEL_WIDTH + width + 6}" y="${y + 14}" font-size="12">${Number.isFinite(bar.value) ? `${bar.value.toFixed(2)}×` : '–'}</text>`,
    )
    if (bar.goal !== undefined) {
      const gx = LABEL_WIDTH + scale(bar.goal)
      parts.push(
        `<line x1="${gx.toFixed(1)}" x2="${gx.toFixed(1)}" y1="${y + 1}" y2="${y + ROW - 1}" stroke="${COLORS.goal}" stroke-width="2"/>`,
      )
    }
    y += ROW
  }
  const oneX = LABEL_WIDTH + scale(1)
  parts.push(
    `<line x1="${oneX.toFixed(1)}" x2="${oneX.toFixed(1)}" y1="${top + 26}" y2="${y}" stroke="${COLORS.floor}" stroke-dasharray="3 3"/>`,
  )
  return { svg: parts.join('\n'), height: y - top + 16 }
}

/**
 * A horizontal bar chart of the ratios: throughput over the floor
 * (uncontended and concurrent; higher is better, red ticks are goals) and
 * hand-off p50 over the wake floor (log scale; lower is better).
 */
export function ratiosSvg(results: Results): string {
  const panels: Panel[] = []
  const uncontended = pairBars(results.uncontended, true)
  if (uncontended.length > 0)
    panels.push({
      title: 'Uncontended acquire+release: pairs/s ÷ floor (higher is better; red: goal)',
      bars: uncontended,
      log: false,
    })
  const concurrent = pairBars(results.concurrency, false)
  if (concurrent.length > 0)
    panels.push({
      title: `${results.budget.loops} concurrent loops: pairs/s ÷ floor (higher is better)`,
      bars: concurrent,
      log: false,
    })
  const handoff = results.handoff
    .filter((f) => Number.isFinite(f.ratioToFloor))
    .map(
      (f): Bar => ({
        label: `${f.backend} · ${f.label}`,
        value: f.ratioToFloor,
        ours: f.role === 'ours',
        ...(f.backend === 'redis' && f.role === 'ours' ? { goal: 1.2 } : {}),
      }),
    )
  if (handoff.length > 0)
    panels.push({
      title: 'Hand-off p50 ÷ wake floor p50 (log scale; lower is better)',
      bars: handoff,
      log: true,
    })
  let top = 10
  const rendered: string[] = []
  for (const panel of panels) {
    const { svg, height } = renderPanel(panel, top)
    rendered.push(svg)
    top += height
  }
  const footer = `${results.machine.cpuModel}, ${results.machine.cores} cores · Node ${results.machine.node} · ${results.generatedAt.slice(0, 10)} · ${results.mode} run`
  rendered.push(`<text x="10" y="${top + 8}" font-size="11" fill="#6b7280">${escapeXml(footer)}</text>`)
  const height = top + 20
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...rendered,
    '</svg>',
    '',
  ].join('\n')
}
