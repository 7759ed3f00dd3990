/**
 * A pure checker for histories of a counting semaphore (or a reader–writer
 * lock modelled as one): how many permits were held at once, and whether
 * fences follow real-time order.
 */

/** One holding of permits as a worker recorded it. Times are `nowUs` microseconds. */
export interface Holding {
  /** Which worker held it. */
  readonly worker: number
  /** The fence of its acquisition. */
  readonly fence: number
  /** How many permits it held. */
  readonly permits: number
  /** Just before the acquisition was requested (the lease starts no earlier on the server). */
  readonly requested: number
  /**
   * When the lease ends at the earliest unless extended: the holder's own
   * conservative deadline, counted from when its successful attempt was
   * sent. Omit when holders extend their leases.
   */
  readonly leaseEnd?: number
  /** Just after the acquisition succeeded. */
  readonly enter: number
  /**
   * Just before the release, or, for a holder killed while holding, when its
   * process was seen to have exited.
   */
  readonly exit: number
  /** Whether the holder was killed while holding (it never released). */
  readonly killed?: boolean
}

/** One broken invariant. */
export type OccupancyViolation =
  | {
      readonly kind: 'over-limit'
      /** When the permits held at once exceeded the limit. */
      readonly at: number
      readonly inUse: number
      /** The holdings held at that instant. */
      readonly holders: readonly Holding[]
    }
  | { readonly kind: 'fence-order'; readonly earlier: Holding; readonly later: Holding }
  | { readonly kind: 'duplicate-fence'; readonly first: Holding; readonly second: Holding }
  | { readonly kind: 'inverted-interval'; readonly holding: Holding }

/** What {@link checkOccupancy} checks against. */
export interface OccupancyExpectations {
  /**
   * The most permits that may be held at once. A holding counts from `enter`
   * to `exit`, but no longer than its `leaseEnd`: a holder that overran its
   * lease (a stalled process, a killed one) no longer holds anything.
   */
  readonly limit: number
  /** Whether to check fences (off for a lock whose fences are not one counter). Default true. */
  readonly fences?: boolean
}

/** The outcome of {@link checkOccupancy}. */
export interface OccupancyReport {
  readonly ok: boolean
  readonly violations: readonly OccupancyViolation[]
  /** The most permits held at once. */
  readonly maxInUse: number
  /** The most holders at once. */
  readonly maxHolders: number
  /** How many holdings were checked, and how many of them ended with a kill. */
  readonly holdings: number
  readonly killed: number
}

/**
 * Checks a history of holdings:
 *
 * - at no instant do the holdings in force hold more than `limit` permits
 *   (touching ends are fine: an exit at the same microsecond as an entry
 *   counts first);
 * - no fence is handed out twice;
 * - fences follow real time: a holding that had entered before another was
 *   even requested has the smaller fence (one counter, linearizable);
 * - every holding has `requested <= enter <= exit`.
 *
 * Pure: it only reads its arguments.
 */
export function checkOccupancy(history: readonly Holding[], expect: OccupancyExpectations): OccupancyReport {
  const violations: OccupancyViolation[] = []
  const end = (h: Holding) => Math.min(h.exit, h.leaseEnd ?? Number.POSITIVE_INFINITY)
  for (const holding of history) {
    if (!(holding.requested <= holding.enter && holding.enter <= holding.exit))
      violations.push({ kind: 'inverted-interval', holding })
  }

  // Sweep over entries and ends; at equal times ends go first.
  const events: { at: number; delta: number; holding: Holding }[] = []
  for (const h of history) {
    // A holding whose lease had ended by the time it entered held nothing.
    if (end(h) <= h.enter) continue
    events.push({ at: h.enter, delta: h.permits, holding: h })
    events.push({ at: end(h), delta: -h.permits, holding: h })
  }
  events.sort((a, b) => a.at - b.at || a.delta - b.delta)
  const holding = new Set<Holding>()
  let inUse = 0
  let maxInUse = 0
  let maxHolders = 0
  for (const event of events) {
    inUse += event.delta
    if (event.delta > 0) holding.add(event.holding)
    else holding.delete(event.holding)
    maxInUse = Math.max(maxInUse, inUse)
    maxHolders = Math.max(maxHolders, holding.size)
    if (event.delta > 0 && inUse > expect.limit)
      violations.push({ kind: 'over-limit', at: event.at, inUse, holders: [...holding] })
  }

  if (expect.fences !== false) {
    const byFence = [...history].sort((a, b) => a.fence - b.fence)
    for (let i = 1; i < byFence.length; i++) {
      const first = byFence[i - 1] as Holding
      const second = byFence[i] as Holding
      if (first.fence === second.fence) violations.push({ kind: 'duplicate-fence', first, second })
    }
    // In order of request: every holding entered before this one was requested has a smaller fence.
    const byEnter = [...history].sort((a, b) => a.enter - b.enter)
    const byRequest = [...history].sort((a, b) => a.requested - b.requested)
    let next = 0
    let highest: Holding | undefined
    for (const later of byRequest) {
      for (; next < byEnter.length && (byEnter[next] as Holding).enter < later.requested; next++) {
        const entered = byEnter[next] as Holding
        if (highest === undefined || entered.fence > highest.fence) highest = entered
      }
      if (highest !== undefined && !(highest.fence < later.fence))
        violations.push({ kind: 'fence-order', earlier: highest, later })
    }
  }

  return {
    ok: violations.length === 0,
    violations,
    maxInUse,
    maxHolders,
    holdings: history.length,
    killed: history.filter((h) => h.killed === true).length,
  }
}

/** A one-line summary for test output, e.g. `900 holdings (3 killed), at most 4/4 permits by 3 holders, 0 violations`. */
export function summarizeOccupancy(report: OccupancyReport, limit: number): string {
  const kinds = new Map<string, number>()
  for (const v of report.violations) kinds.set(v.kind, (kinds.get(v.kind) ?? 0) + 1)
  const detail = [...kinds].map(([kind, count]) => `${count} ${kind}`).join(', ')
  return `${report.holdings} holdings (${report.killed} killed), at most ${report.maxInUse}/${limit} permits by ${report.maxHolders} holders, ${report.violations.length} violations${detail === '' ? '' : ` (${detail})`}`
}
