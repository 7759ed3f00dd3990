import { afterAll, describe, expect, it } from 'vitest'
import { availableBackends, BACKEND_NAMES, freshTarget } from '../src/backends.js'
import { runFuzz } from '../src/fuzz-driver.js'
import { checkHistory, type Section, summarize } from '../src/history-checker.js'
import { figure } from '../src/report.js'

const WORKERS = 4
const SECTIONS = 2_000
const available = await availableBackends(BACKEND_NAMES, 'reliability contention fuzz')

/** How often consecutive sections (in entry order) belong to different workers. */
function handOffs(history: readonly Section[]): number {
  const sorted = [...history].sort((a, b) => a.enter - b.enter)
  let count = 0
  for (let i = 1; i < sorted.length; i++) if (sorted[i]?.worker !== sorted[i - 1]?.worker) count++
  return count
}

const timings: string[] = []
afterAll(() => {
  if (timings.length > 0) figure('fuzz times', timings.join('; '))
})

for (const name of BACKEND_NAMES) {
  const where = name === 'memory' ? 'async workers in one process' : 'worker processes'
  describe.skipIf(!available[name])(`${name}: contention fuzz`, () => {
    it(`${WORKERS} ${where} × ${SECTIONS.toLocaleString('en')} read–yield–write sections: count ${(WORKERS * SECTIONS).toLocaleString('en')}, no overlap, fences increase in entry order`, async () => {
      const result = await runFuzz(freshTarget(name), {
        workers: WORKERS,
        sections: SECTIONS,
        ttlMs: 10_000,
        autoExtend: false,
        holdMs: 0,
        waitMs: 100_000,
      })
      const report = checkHistory(result.history, {
        expectedCount: WORKERS * SECTIONS,
        finalCount: result.finalCount,
      })
      const handoffs = handOffs(result.history)
      timings.push(`${name} ${(result.ms / 1000).toFixed(1)} s (${handoffs} hand-offs)`)
      figure(
        `${name} fuzz`,
        `${summarize(report)}, count ${result.finalCount}, ${handoffs} hand-offs between workers, ${(result.ms / 1000).toFixed(1)} s`,
      )
      expect(report.violations.slice(0, 5)).toEqual([])
      expect(result.finalCount).toBe(WORKERS * SECTIONS)
      expect(handoffs).toBeGreaterThan(WORKERS)
    })

    it('negative control: a ttl shorter than the section, without auto-extend, makes the checker report violations', async () => {
      const sections = 15
      const result = await runFuzz(freshTarget(name), {
        workers: WORKERS,
        sections,
        ttlMs: 20,
        autoExtend: false,
        holdMs: 60,
        waitMs: 30_000,
      })
      const report = checkHistory(result.history, {
        expectedCount: WORKERS * sections,
        finalCount: result.finalCount,
      })
      figure(`${name} negative control`, summarize(report))
      expect(report.ok).toBe(false)
      expect(report.overlaps).toBeGreaterThan(0)
      expect(result.finalCount).toBeLessThan(WORKERS * sections)
    })
  })
}
