import { describe, expect, it } from 'vitest'
import { checkHistory, type Section, summarize } from '../src/history-checker.js'

const s = (worker: number, fence: number, enter: number, exit: number): Section => ({
  worker,
  fence,
  enter,
  exit,
})

describe('history checker (hand-made histories)', () => {
  it('accepts a clean history, in any input order, with touching ends', () => {
    const history = [s(1, 3, 20, 30), s(0, 1, 0, 10), s(2, 2, 10, 20)]
    const report = checkHistory(history, { expectedCount: 3, finalCount: 3 })
    expect(report.ok).toBe(true)
    expect(report.violations).toEqual([])
    expect(summarize(report)).toBe('3 sections, 0 overlaps, 0 fence inversions')
  })

  it('accepts an empty history when nothing was expected', () => {
    expect(checkHistory([], { expectedCount: 0, finalCount: 0 }).ok).toBe(true)
  })

  it('reports two holders at once', () => {
    const report = checkHistory([s(0, 1, 0, 10), s(1, 2, 9, 15)], { expectedCount: 2, finalCount: 2 })
    expect(report.ok).toBe(false)
    expect(report.overlaps).toBe(1)
    expect(report.violations[0]).toMatchObject({ kind: 'overlap', first: { fence: 1 }, second: { fence: 2 } })
  })

  it('reports a section nested inside a long one, even after a short one in between', () => {
    // Fence 1 holds 0..100; fences 2 (10..20) and 3 (30..40) both sit inside it.
    const report = checkHistory([s(0, 1, 0, 100), s(1, 2, 10, 20), s(2, 3, 30, 40)], {
      expectedCount: 3,
      finalCount: 3,
    })
    expect(report.overlaps).toBe(2)
  })

  it('reports fences that do not strictly increase in entry order (equal or smaller)', () => {
    const equal = checkHistory([s(0, 5, 0, 1), s(1, 5, 2, 3)], { expectedCount: 2, finalCount: 2 })
    expect(equal.fenceInversions).toBe(1)
    const smaller = checkHistory([s(0, 5, 0, 1), s(1, 4, 2, 3), s(0, 6, 4, 5)], {
      expectedCount: 3,
      finalCount: 3,
    })
    expect(smaller.fenceInversions).toBe(1)
    expect(smaller.violations).toEqual([
      { kind: 'fence-order', previous: s(0, 5, 0, 1), next: s(1, 4, 2, 3) },
    ])
  })

  it('reports a lost update and a missing section', () => {
    const report = checkHistory([s(0, 1, 0, 1), s(0, 2, 2, 3)], { expectedCount: 3, finalCount: 1 })
    expect(report.ok).toBe(false)
    expect(report.violations).toEqual([
      { kind: 'sections', expected: 3, actual: 2 },
      { kind: 'count', expected: 3, actual: 1 },
    ])
    expect(summarize(report)).toBe('2 sections, 0 overlaps, 0 fence inversions, sections 2/3, count 1/3')
  })

  it('reports an exit before its entry', () => {
    const report = checkHistory([s(0, 1, 10, 5)], { expectedCount: 1, finalCount: 1 })
    expect(report.violations).toEqual([{ kind: 'inverted-interval', section: s(0, 1, 10, 5) }])
  })

  it('does not modify its input', () => {
    const history = Object.freeze([s(1, 2, 10, 20), s(0, 1, 0, 10)])
    checkHistory(history, { expectedCount: 2, finalCount: 2 })
    expect(history.map((x) => x.fence)).toEqual([2, 1])
  })
})
