import { readFileSync } from 'node:fs'

/**
 * The per-section summary `lockwork-conformance` prints after a run. Types
 * only the slice of vitest's reported-task API it reads, so this file has no
 * vitest import at all.
 */

/** An error as vitest reports it (serialized from the worker). */
export interface ReportedError {
  readonly message: string
  readonly name?: string
  readonly stacks?: ReadonlyArray<{ readonly file: string; readonly line: number }>
}

/** A test case as vitest reports it. */
export interface ReportedCase {
  readonly type: 'test'
  readonly name: string
  result(): { readonly state: string; readonly errors?: ReadonlyArray<ReportedError> | undefined }
}

/** A `describe` block (or a test file) as vitest reports it. */
export interface ReportedSuite {
  readonly type: 'suite' | 'module'
  readonly name?: string
  readonly children: Iterable<ReportedCase | ReportedSuite>
  errors(): ReadonlyArray<ReportedError>
}

/** One failed case: its section, its name and why, in one line. */
export interface CaseFailure {
  readonly section: string
  readonly name: string
  /** The first line of the first error, e.g. `AssertionError: expected true to be false`. */
  readonly reason: string
  /** Where in the suite the assertion failed, e.g. `lease-cases.ts:67`, when known. */
  readonly at?: string
  /** The failing line of the suite, e.g. `expect(await b.release(key, stranger)).toBe(false)`, when known. */
  readonly code?: string
}

/** Counts for one section (a top-level `describe` of the suite: leases, contention, ...). */
export interface SectionSummary {
  readonly name: string
  passed: number
  failed: number
  skipped: number
}

/** The outcome of one run of the suite. */
export interface ConformanceReport {
  /** The suite name (the adapter's name). */
  readonly suite: string
  readonly sections: readonly SectionSummary[]
  readonly failures: readonly CaseFailure[]
  /** Errors outside any case: the module failed to load, a hook (createBackend, teardown) threw, an unhandled rejection. */
  readonly errors: readonly string[]
  readonly passed: number
  readonly failed: number
  readonly skipped: number
  readonly durationMs: number
  /** True when at least one case ran, none failed, and there were no errors outside cases. */
  readonly ok: boolean
}

const SUITE_SUFFIX = ' conformance'

/** Builds the report from the test modules and unhandled errors vitest hands its reporters at the end of a run. */
export function buildReport(
  suite: string,
  modules: Iterable<ReportedSuite>,
  unhandled: Iterable<ReportedError>,
  durationMs: number,
  sourceLine: (file: string, line: number) => string | undefined = readSourceLine,
): ConformanceReport {
  const sections = new Map<string, SectionSummary>()
  const failures: CaseFailure[] = []
  const errors: string[] = []

  const section = (name: string): SectionSummary => {
    let found = sections.get(name)
    if (!found) {
      found = { name, passed: 0, failed: 0, skipped: 0 }
      sections.set(name, found)
    }
    return found
  }

  const visit = (node: ReportedSuite, path: readonly string[]): void => {
    for (const error of node.errors()) {
      const where = path.length === 0 ? 'loading the adapter module' : `in "${path.join(' › ')}" (a hook)`
      errors.push(`${where}: ${firstLine(error)}`)
    }
    for (const child of node.children) {
      if (child.type !== 'test') {
        visit(child, [...path, child.name ?? ''])
        continue
      }
      // Path: ["<name> conformance", "<section>", ...nested]; the section is the first block below the suite.
      const inner = path[0]?.endsWith(SUITE_SUFFIX) ? path.slice(1) : path
      const counts = section(inner[0] ?? '(top level)')
      const result = child.result()
      if (result.state === 'passed') counts.passed++
      else if (result.state === 'failed') {
        counts.failed++
        const error = result.errors?.[0]
        const frame = error ? suiteFrame(error) : undefined
        const code = frame ? sourceLine(frame.file, frame.line) : undefined
        failures.push({
          section: counts.name,
          name: [...inner.slice(1), child.name].join(' › '),
          reason: error ? firstLine(error) : 'failed without an error',
          ...(frame ? { at: `${frame.file.split(/[\\/]/).pop()}:${frame.line}` } : {}),
          ...(code ? { code } : {}),
        })
      } else counts.skipped++
    }
  }

  for (const module of modules) visit(module, [])
  for (const error of unhandled) errors.push(`unhandled error: ${firstLine(error)}`)

  const list = [...sections.values()]
  const sum = (field: 'passed' | 'failed' | 'skipped') => list.reduce((total, s) => total + s[field], 0)
  const passed = sum('passed')
  const failed = sum('failed')
  return {
    suite,
    sections: list,
    failures,
    errors,
    passed,
    failed,
    skipped: sum('skipped'),
    durationMs,
    ok: failed === 0 && errors.length === 0 && passed > 0,
  }
}

/** Renders the report as the table and failure list the CLI prints. */
export function formatReport(report: ConformanceReport): string {
  const width = Math.max(8, ...report.sections.map((s) => s.name.length))
  const row = (name: string, passed: number | string, failed: number | string, skipped: number | string) =>
    `  ${name.padEnd(width)}  ${String(passed).padStart(6)}  ${String(failed).padStart(6)}  ${String(skipped).padStart(7)}`
  const lines = [
    '',
    `lockwork conformance: ${report.suite}`,
    '',
    row('section', 'passed', 'failed', 'skipped'),
    ...report.sections.map(
      (s) => `${row(s.name, s.passed, s.failed, s.skipped)}${s.failed > 0 ? '  ✗' : ''}`,
    ),
    row('total', report.passed, report.failed, report.skipped),
    '',
  ]
  if (report.failures.length > 0) {
    lines.push(`Failed cases (${report.failures.length}):`)
    for (const failure of report.failures) {
      lines.push(`  ✗ ${failure.section} › ${failure.name}`)
      lines.push(`      ${failure.reason}`)
      if (failure.at) lines.push(`      at ${failure.at}${failure.code ? `  ${failure.code}` : ''}`)
    }
    lines.push('')
  }
  if (report.errors.length > 0) {
    lines.push(`Errors outside the cases (${report.errors.length}):`)
    for (const error of report.errors) lines.push(`  ✗ ${error}`)
    lines.push('')
  }
  const seconds = (report.durationMs / 1000).toFixed(1)
  if (report.ok) {
    lines.push(
      `✓ ${report.suite} passes the lockwork conformance suite: ${report.passed} cases in ${seconds} s`,
    )
  } else if (report.passed + report.failed === 0 && report.errors.length === 0) {
    lines.push(`✗ ${report.suite}: no case ran (${seconds} s)`)
  } else {
    const problems = [
      report.failed > 0 ? `${report.failed} of ${report.passed + report.failed} cases failed` : '',
      report.errors.length > 0 ? `${report.errors.length} error(s) outside the cases` : '',
    ].filter(Boolean)
    lines.push(
      `✗ ${report.suite} does not pass the lockwork conformance suite: ${problems.join(', ')} (${seconds} s)`,
    )
  }
  return `${lines.join('\n')}\n`
}

function firstLine(error: ReportedError): string {
  const message = (error.message ?? '').split('\n').find((line) => line.trim() !== '') ?? ''
  const name = error.name && error.name !== 'Error' ? `${error.name}: ` : ''
  return `${name}${message.trim()}`.trim() || String(error.name ?? 'unknown error')
}

/** The stack frame in the suite's own case files, else the first frame. */
function suiteFrame(error: ReportedError): { readonly file: string; readonly line: number } | undefined {
  const frames = error.stacks ?? []
  return frames.find((f) => /-cases\.[jt]s$/.test(f.file)) ?? frames[0]
}

function readSourceLine(file: string, line: number): string | undefined {
  try {
    const text = readFileSync(file, 'utf8').split('\n')[line - 1]?.trim()
    return text ? (text.length > 120 ? `${text.slice(0, 117)}...` : text) : undefined
  } catch {
    return undefined
  }
}
