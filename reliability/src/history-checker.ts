/**
 * A pure checker for critical-section histories recorded by contending
 * workers: mutual exclusion, fence order and the final count.
 */

/** One critical section as a worker recorded it. Times are {@link nowUs} microseconds. */
export interface Section {
  /** Which worker ran it. */
  readonly worker: number
  /** The fencing token of the lock it held. */
  readonly fence: number
  /** Just after the lock was acquired. */
  readonly enter: number
  /** Just before the lock was released. */
  readonly exit: number
}

/** One broken invariant. */
export type Violation =
  | { readonly kind: 'overlap'; readonly first: Section; readonly second: Section }
  | { readonly kind: 'fence-order'; readonly previous: Section; readonly next: Section }
  | { readonly kind: 'inverted-interval'; readonly section: Section }
  | { readonly kind: 'count'; readonly expected: number; readonly actual: number }
  | { readonly kind: 'sections'; readonly expected: number; readonly actual: number }

/** What {@link checkHistory} expects besides the history itself. */
export interface HistoryExpectations {
  /** How many sections should have run (and hence the counter's final value). */
  readonly expectedCount: number
  /** The shared counter's value after every worker finished. */
  readonly finalCount: number
}

/** The outcome of {@link checkHistory}. */
export interface HistoryReport {
  /** Whether no invariant is broken. */
  readonly ok: boolean
  /** Every broken invariant, in entry order. */
  readonly violations: readonly Violation[]
  /** How many pairs of sections overlapped (two holders at once). */
  readonly overlaps: number
  /** How many successive sections (in entry order) did not have a larger fence. */
  readonly fenceInversions: number
  /** The number of sections checked. */
  readonly sections: number
}

/**
 * Checks a history of critical sections:
 *
 * - mutual exclusion: sorted by entry, every section enters no earlier than
 *   every earlier section exited (touching ends are fine);
 * - fences strictly increase in order of entry;
 * - every section has `enter <= exit`;
 * - the number of sections and the shared counter both equal `expectedCount`
 *   (a lost update shows as a smaller count).
 *
 * Pure: it only reads its arguments.
 */
export function checkHistory(history: readonly Section[], expect: HistoryExpectations): HistoryReport {
  const violations: Violation[] = []
  const sorted = [...history].sort((a, b) => a.enter - b.enter || a.exit - b.exit || a.fence - b.fence)
  let overlaps = 0
  let fenceInversions = 0
  // The section that exits last among those entered so far: any later entry before its exit overlaps it.
  let latest: Section | undefined
  let previous: Section | undefined
  for (const section of sorted) {
    if (section.exit < section.enter) violations.push({ kind: 'inverted-interval', section })
    if (latest !== undefined && section.enter < latest.exit) {
      overlaps++
      violations.push({ kind: 'overlap', first: latest, second: section })
    }
    if (previous !== undefined && !(section.fence > previous.fence)) {
      fenceInversions++
      violations.push({ kind: 'fence-order', previous, next: section })
    }
    if (latest === undefined || section.exit > latest.exit) latest = section
    previous = section
  }
  if (history.length !== expect.expectedCount) {
    violations.push({ kind: 'sections', expected: expect.expectedCount, actual: history.length })
  }
  if (expect.finalCount !== expect.expectedCount) {
    violations.push({ kind: 'count', expected: expect.expectedCount, actual: expect.finalCount })
  }
  return { ok: violations.length === 0, violations, overlaps, fenceInversions, sections: history.length }
}

/** A one-line summary of a report for test output, e.g. `8000 sections, 0 overlaps, 0 fence inversions`. */
export function summarize(report: HistoryReport): string {
  const other = report.violations.filter((v) => v.kind !== 'overlap' && v.kind !== 'fence-order')
  const details = other.map((v) => ('expected' in v ? `${v.kind} ${v.actual}/${v.expected}` : v.kind))
  return [
    `${report.sections} sections`,
    `${report.overlaps} overlaps`,
    `${report.fenceInversions} fence inversions`,
    ...details,
  ].join(', ')
}
