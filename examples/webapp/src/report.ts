/** One row of a scenario's table. */
export interface Row {
  readonly label: string
  /** Requests sent (or `undefined` where there are none, as for a timer). */
  readonly requests: number | undefined
  readonly runs: number
  readonly expected: number
}

/** A yes/no check beside the counts, e.g. "every caller got the same price". */
export interface Check {
  readonly label: string
  readonly ok: boolean
}

/** What a scenario reports. */
export interface ScenarioResult {
  /** e.g. `GET /shot/:id`. */
  readonly title: string
  /** Which helper, and what it promises. */
  readonly helper: string
  /** The column header of the row labels, e.g. `id`. */
  readonly rowHeader: string
  readonly rows: readonly Row[]
  readonly checks: readonly Check[]
}

/** Whether every count and check of a scenario is right. */
export function scenarioOk(result: ScenarioResult): boolean {
  return result.rows.every((row) => row.runs === row.expected) && result.checks.every((check) => check.ok)
}

const mark = (ok: boolean) => (ok ? '✓' : '✗ FAIL')

/** A scenario as a Markdown table with its checks underneath. */
export function renderScenario(result: ScenarioResult): string {
  const header = [result.rowHeader, 'requests', 'runs', 'expected', 'ok']
  const body = result.rows.map((row) => [
    row.label,
    row.requests === undefined ? '—' : String(row.requests),
    String(row.runs),
    String(row.expected),
    mark(row.runs === row.expected),
  ])
  if (result.rows.length > 1) {
    const sum = (pick: (row: Row) => number | undefined) =>
      result.rows.reduce((total, row) => total + (pick(row) ?? 0), 0)
    const requests = result.rows.some((row) => row.requests !== undefined)
      ? String(sum((row) => row.requests))
      : '—'
    const runs = sum((row) => row.runs)
    const expected = sum((row) => row.expected)
    body.push(['**total**', requests, String(runs), String(expected), mark(runs === expected)])
  }
  const table = [header, ...body]
  const widths = header.map((_, column) => Math.max(...table.map((cells) => width(cells[column]!))))
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => pad(cell, widths[column]!, column > 0 && column < 4)).join(' | ')} |`
  const rule = `| ${widths.map((w, column) => (column > 0 && column < 4 ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`
  return [
    `### ${result.title} — ${result.helper}`,
    '',
    line(header),
    rule,
    ...body.map(line),
    '',
    ...result.checks.map((check) => `- ${mark(check.ok)} ${check.label}`),
  ].join('\n')
}

/** Display width, counting the check marks as one column. */
function width(text: string): number {
  return [...text].length
}

function pad(text: string, to: number, right: boolean): string {
  const fill = ' '.repeat(Math.max(0, to - width(text)))
  return right ? fill + text : text + fill
}

/** Progress lines with the time since the demo started. */
export function progress(startedAt = performance.now()): (text: string) => void {
  return (text) => {
    const seconds = ((performance.now() - startedAt) / 1_000).toFixed(1).padStart(5)
    process.stdout.write(`[${seconds}s] ${text}\n`)
  }
}
