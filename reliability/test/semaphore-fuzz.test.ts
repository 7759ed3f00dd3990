import { afterAll, describe, expect, it } from 'vitest'
import { availableBackends, freshTarget, SHARED_BACKENDS } from '../src/backends.js'
import { checkOccupancy, summarizeOccupancy } from '../src/occupancy-checker.js'
import { figure } from '../src/report.js'
import {
  hasSemaphores,
  runSemaphoreFuzz,
  type SemaphoreFuzzRun,
  writerWeight,
} from '../src/semaphore-fuzz-driver.js'

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

const LIMIT = 4
const RUN: SemaphoreFuzzRun = {
  modes: ['semaphore', 'rwlock'],
  workers: 5,
  limit: LIMIT,
  permits: [1, 2, 1, 3],
  writeEvery: 4,
  ttlMs: 1_000,
  holdMs: 4,
  durationMs: 3_000,
  kills: 3,
  killEveryMs: 700,
}
/** A writer weighs more than all readers together: a writer with anyone else exceeds this. */
const RW_LIMIT = writerWeight(RUN)

const timings: string[] = []
afterAll(() => {
  if (timings.length > 0) figure('semaphore fuzz times', timings.join('; '))
})

for (const name of SHARED_BACKENDS) {
  describe.skipIf(!capable[name])(`${name}: semaphore and rwlock fuzz`, () => {
    it(`${RUN.workers} worker processes, each taking 1–3 of ${LIMIT} permits of lw.semaphore and reading or writing (1 in 4) lw.rwlock for 3 s, 3 holders SIGKILLed: never over the limit, a writer alone, readers overlapping, fences in real-time order, everything free again after the killed holders' ttl`, async () => {
      const started = performance.now()
      const result = await runSemaphoreFuzz(freshTarget(name), RUN)
      const seconds = (performance.now() - started) / 1000
      timings.push(
        `${name} ${seconds.toFixed(1)} s (${(result.startupMs / 1000).toFixed(1)} s starting workers)`,
      )

      const semaphore = checkOccupancy(result.history.semaphore, { limit: LIMIT })
      const rwlock = checkOccupancy(result.history.rwlock, { limit: RW_LIMIT })
      const writes = result.history.rwlock.filter((h) => h.permits === RW_LIMIT).length
      figure(
        `${name} semaphore fuzz`,
        `semaphore: ${summarizeOccupancy(semaphore, LIMIT)}; rwlock: ${rwlock.holdings} holdings (${writes} writes, ${rwlock.killed} killed), at most ${rwlock.maxHolders} holders at once, ${rwlock.violations.length} violations; ${result.kills} kills, ${result.overran} overran their lease, everything free again ${Math.round(result.freedAfterMs)} ms after the end, ${seconds.toFixed(1)} s`,
      )
      expect(semaphore.violations.slice(0, 3)).toEqual([])
      expect(rwlock.violations.slice(0, 3)).toEqual([])

      // The run was a real test: holders overlapped, writers got in, holders were killed while holding.
      expect(semaphore.maxHolders).toBeGreaterThan(1)
      expect(semaphore.holdings).toBeGreaterThan(50)
      expect(rwlock.maxHolders).toBeGreaterThan(1) // readers overlapped
      expect(writes).toBeGreaterThan(2)
      expect(result.killsWhileHolding).toBe(3)
      expect(semaphore.killed + rwlock.killed).toBeGreaterThanOrEqual(3)

      // Negative controls on the same histories: a limit one lower, and every rwlock holding counted as a writer.
      expect(checkOccupancy(result.history.semaphore, { limit: LIMIT - 1 }).violations).toContainEqual(
        expect.objectContaining({ kind: 'over-limit' }),
      )
      const asWriters = result.history.rwlock.map((h) => ({ ...h, permits: RW_LIMIT }))
      expect(checkOccupancy(asWriters, { limit: RW_LIMIT, fences: false }).ok).toBe(false)
    })
  })
}
