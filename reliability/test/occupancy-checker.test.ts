import { describe, expect, it } from 'vitest'
import { checkOccupancy, type Holding, summarizeOccupancy } from '../src/occupancy-checker.js'

const h = (
  worker: number,
  fence: number,
  permits: number,
  enter: number,
  exit: number,
  requested = enter,
): Holding => ({
  worker,
  fence,
  permits,
  requested,
  enter,
  exit,
})

describe('occupancy checker (hand-made histories)', () => {
  it('accepts holders up to the limit at once, in any input order, with touching ends', () => {
    const history = [h(2, 3, 1, 10, 30), h(0, 1, 2, 0, 10), h(1, 2, 2, 5, 20), h(3, 4, 2, 20, 40, 12)]
    const report = checkOccupancy(history, { limit: 4 })
    expect(report.violations).toEqual([])
    expect(report.ok).toBe(true)
    expect(report.maxInUse).toBe(4)
    expect(report.maxHolders).toBe(2)
    expect(summarizeOccupancy(report, 4)).toBe(
      '4 holdings (0 killed), at most 4/4 permits by 2 holders, 0 violations',
    )
  })

  it('reports the instant more permits than the limit are held, with the holders', () => {
    const report = checkOccupancy([h(0, 1, 2, 0, 10), h(1, 2, 1, 2, 8), h(2, 3, 2, 5, 9)], { limit: 4 })
    expect(report.ok).toBe(false)
    expect(report.maxInUse).toBe(5)
    expect(report.violations).toEqual([
      {
        kind: 'over-limit',
        at: 5,
        inUse: 5,
        holders: [h(0, 1, 2, 0, 10), h(1, 2, 1, 2, 8), h(2, 3, 2, 5, 9)],
      },
    ])
  })

  it('counts a holding no longer than its lease end, and not at all when that came before its entry', () => {
    // Worker 0's lease ended at 1,000 µs but it stalled until 5,000 µs (or was killed then).
    const stalled = { ...h(0, 1, 1, 0, 5_000), killed: true }
    const next = h(1, 2, 1, 2_000, 3_000, 1_500)
    expect(checkOccupancy([stalled, next], { limit: 1 }).ok).toBe(false)
    const report = checkOccupancy([{ ...stalled, leaseEnd: 1_000 }, next], { limit: 1 })
    expect(report.violations).toEqual([])
    expect(report.killed).toBe(1)
    const late = { ...h(2, 3, 1, 2_500, 2_600, 2_400), leaseEnd: 2_400 }
    const counted = checkOccupancy([{ ...stalled, leaseEnd: 1_000 }, next, late], { limit: 1 })
    expect(counted.violations).toEqual([])
    expect(counted.maxHolders).toBe(1)
  })

  it('reports a fence handed out twice', () => {
    // Overlapping requests, so only the duplicate is wrong (not the order).
    const report = checkOccupancy([h(0, 7, 1, 10, 11, 0), h(1, 7, 1, 12, 13, 1)], { limit: 2 })
    expect(report.violations).toEqual([
      { kind: 'duplicate-fence', first: h(0, 7, 1, 10, 11, 0), second: h(1, 7, 1, 12, 13, 1) },
    ])
  })

  it('reports a smaller fence for a holding requested after another had entered', () => {
    const report = checkOccupancy([h(0, 5, 1, 0, 10), h(1, 4, 1, 20, 30, 15)], { limit: 2 })
    expect(report.violations).toEqual([
      { kind: 'fence-order', earlier: h(0, 5, 1, 0, 10), later: h(1, 4, 1, 20, 30, 15) },
    ])
  })

  it('accepts fences out of entry order among overlapping requests (replies race each other)', () => {
    // Both requested before either entered: either may have reached the server first.
    const report = checkOccupancy([h(0, 2, 1, 10, 20, 0), h(1, 1, 1, 12, 22, 1)], { limit: 2 })
    expect(report.ok).toBe(true)
  })

  it('ignores fences when told to, and reports inverted intervals', () => {
    expect(checkOccupancy([h(0, 1, 1, 0, 1), h(1, 1, 1, 2, 3)], { limit: 1, fences: false }).ok).toBe(true)
    const inverted = checkOccupancy([h(0, 1, 1, 5, 4)], { limit: 1 })
    expect(inverted.violations).toEqual([{ kind: 'inverted-interval', holding: h(0, 1, 1, 5, 4) }])
  })
})
