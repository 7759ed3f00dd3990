import { afterAll, describe, expect, it } from 'vitest'
import { availableBackends, freshTarget, SHARED_BACKENDS } from '../src/backends.js'
import { checkOccupancy, summarizeOccupancy } from '../src/occupancy-checker.js'
import { figure } from '../src/report.js'
import { hasSemaphores, runSemaphoreFuzz } from '../src/semaphore-fuzz-driver.js'

// The memory backend is left out: its state lives in one process, and these runs need several.
const available = await availableBackends(SHARED_BACKENDS, 'reliability semaphore fuzz')
const capable: Record<string, boolean> = {}
for (const name of SHARED_BACKENDS) {
  capable[name] = available[name] && (await hasSemaphores(freshTarget(name)))
  if (available[name] && !capable[name])
    console.warn(
      `⚠️  SKIPPING the semaphore fuzz on ${name}: its backend has no semaphore capability (acquirePermits and the rest) yet.`,
    )
}

const WORKERS = 5
const LIMIT = 4
const PERMITS = [1, 2, 1, 3]
const TTL_MS = 1_000

const timings: string[] = []
afterAll(() => {
  if (timings.length > 0) figure('semaphore fuzz times', timings.join('; '))
})

for (const name of SHARED_BACKENDS) {
  describe.skipIf(!capable[name])(`${name}: semaphore fuzz`, () => {
    it(`${WORKERS} worker processes taking 1–3 of ${LIMIT} permits for 5 s, a holder SIGKILLed every 0.9 s: never over the limit, fences in real-time order, the killed holders' permits come back (and the checker flags it against a limit one lower)`, async () => {
      const started = performance.now()
      const result = await runSemaphoreFuzz(freshTarget(name), {
        workers: WORKERS,
        limit: LIMIT,
        permits: PERMITS,
        ttlMs: TTL_MS,
        holdMs: 4,
        durationMs: 5_000,
        killEveryMs: 900,
      })
      const report = checkOccupancy(result.history, { limit: LIMIT, ttlMs: TTL_MS })
      const seconds = (performance.now() - started) / 1000
      timings.push(`${name} ${seconds.toFixed(1)} s`)
      figure(
        `${name} semaphore fuzz`,
        `${summarizeOccupancy(report, LIMIT)}, ${result.kills} kills, ${result.overran} overran their lease, permits all free ${Math.round(result.freedAfterMs)} ms after the end, ${seconds.toFixed(1)} s (${(result.startupMs / 1000).toFixed(1)} s starting workers)`,
      )
      expect(report.violations.slice(0, 3)).toEqual([])
      // Negative control: the same history checked against a limit one lower must be reported.
      const lower = checkOccupancy(result.history, { limit: LIMIT - 1, ttlMs: TTL_MS })
      expect(lower.violations.some((v) => v.kind === 'over-limit')).toBe(true)
      // Holders really overlapped, and really were killed while holding.
      expect(report.maxHolders).toBeGreaterThan(1)
      expect(report.maxInUse).toBe(LIMIT)
      expect(result.kills).toBeGreaterThanOrEqual(3)
      expect(report.killed).toBe(result.kills)
      expect(report.holdings).toBeGreaterThan(100)
      // A killed holder's permits came back at its ttl, not never.
      expect(result.leftInUse).toBe(0)
    })
  })
}
