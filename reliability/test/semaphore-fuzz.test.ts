import { afterAll, describe, expect, it } from 'vitest'
import { availableBackends, freshTarget, SHARED_BACKENDS } from '../src/backends.js'
import { checkOccupancy, summarizeOccupancy } from '../src/occupancy-checker.js'
import { figure } from '../src/report.js'
import { hasSemaphores, runSemaphoreFuzz, writerWeight } from '../src/semaphore-fuzz-driver.js'

// The memory backend is left out: its state lives in one process, and these runs need several.
const available = await availableBackends(SHARED_BACKENDS, 'reliability semaphore fuzz')
const capable: Record<string, boolean> = {}
for (const name of SHARED_BACKENDS) {
  capable[name] = available[name] && (await hasSemaphores(freshTarget(name)))
  if (available[name] && !capable[name])
    console.warn(
      `⚠️  SKIPPING the semaphore and rwlock fuzz on ${name}: its backend has no semaphore capability (acquirePermits and the rest) yet.`,
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
  describe.skipIf(!capable[name])(`${name}: semaphore and rwlock fuzz`, () => {
    it(`lw.semaphore: ${WORKERS} worker processes taking 1–3 of ${LIMIT} permits for 3 s, 3 holders SIGKILLed: never over the limit, fences in real-time order, the killed holders' permits come back`, async () => {
      const started = performance.now()
      const result = await runSemaphoreFuzz(freshTarget(name), {
        mode: 'semaphore',
        workers: WORKERS,
        limit: LIMIT,
        permits: PERMITS,
        ttlMs: TTL_MS,
        holdMs: 4,
        durationMs: 3_000,
        kills: 3,
        killEveryMs: 700,
      })
      const report = checkOccupancy(result.history, { limit: LIMIT })
      const seconds = (performance.now() - started) / 1000
      timings.push(`${name} semaphore ${seconds.toFixed(1)} s`)
      figure(
        `${name} semaphore fuzz`,
        `${summarizeOccupancy(report, LIMIT)}, ${result.kills} kills, ${result.overran} overran their lease, every permit free again ${Math.round(result.freedAfterMs)} ms after the end, ${seconds.toFixed(1)} s (${(result.startupMs / 1000).toFixed(1)} s starting workers)`,
      )
      expect(report.violations.slice(0, 3)).toEqual([])
      // Negative control: the same history checked against a limit one lower must be flagged.
      const lower = checkOccupancy(result.history, { limit: LIMIT - 1 })
      expect(lower.violations.some((v) => v.kind === 'over-limit')).toBe(true)
      // Holders really overlapped, and really were killed while holding.
      expect(report.maxHolders).toBeGreaterThan(1)
      expect(result.kills).toBe(3)
      expect(report.killed).toBe(result.kills)
      expect(report.holdings).toBeGreaterThan(50)
    })

    it(`lw.rwlock: ${WORKERS} worker processes reading and writing (1 in 4) for 2.5 s, 2 holders SIGKILLed: readers overlap, a writer is alone, fences in real-time order`, async () => {
      const started = performance.now()
      const run = {
        mode: 'rwlock',
        workers: WORKERS,
        writeEvery: 4,
        ttlMs: TTL_MS,
        holdMs: 4,
        durationMs: 2_500,
        kills: 2,
        killEveryMs: 800,
      } as const
      const result = await runSemaphoreFuzz(freshTarget(name), run)
      // A writer weighs more than all readers together: a writer with anyone else exceeds the limit.
      const limit = writerWeight(run)
      const report = checkOccupancy(result.history, { limit })
      const writes = result.history.filter((h) => h.permits === limit).length
      const seconds = (performance.now() - started) / 1000
      timings.push(`${name} rwlock ${seconds.toFixed(1)} s`)
      figure(
        `${name} rwlock fuzz`,
        `${report.holdings} holdings (${writes} writes, ${report.killed} killed), at most ${report.maxHolders} holders at once, ${report.violations.length} violations, ${result.kills} kills, write side free again ${Math.round(result.freedAfterMs)} ms after the end, ${seconds.toFixed(1)} s (${(result.startupMs / 1000).toFixed(1)} s starting workers)`,
      )
      expect(report.violations.slice(0, 3)).toEqual([])
      expect(report.maxHolders).toBeGreaterThan(1) // readers overlapped
      expect(writes).toBeGreaterThan(2)
      expect(result.kills).toBe(2)
      // Negative control: the same history with every holding counted as a writer must be flagged
      // (readers did overlap).
      const asWriters = result.history.map((h) => ({ ...h, permits: limit }))
      expect(checkOccupancy(asWriters, { limit, fences: false }).ok).toBe(false)
    })
  })
}
