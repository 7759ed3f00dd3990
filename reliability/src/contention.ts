/**
 * A short in-process contention run over several separate backend instances
 * (separate connections), for checking mutual exclusion after a fault.
 */
import { randomUUID } from 'node:crypto'
import { createLockwork, type LockBackend } from '@lockwork/core'
import { memoryCounter, runSections, toSections } from './fuzz.js'
import { checkHistory, type HistoryReport } from './history-checker.js'

/**
 * Runs `sections` read–yield–write sections on each of `backends` (one
 * client each, same prefix, one random key) and checks the history.
 */
export async function contend(
  backends: readonly LockBackend[],
  prefix: string,
  sections: number,
): Promise<HistoryReport & { readonly finalCount: number }> {
  const key = `contend:${randomUUID()}`
  const counter = memoryCounter()
  const plan = { key, sections, ttlMs: 10_000, autoExtend: false, holdMs: 0, waitMs: 60_000 }
  const results = await Promise.all(
    backends.map((backend) => runSections(createLockwork({ backend, prefix }), counter, plan)),
  )
  const history = results.flatMap((tuples, worker) => toSections(worker, tuples))
  const report = checkHistory(history, {
    expectedCount: backends.length * sections,
    finalCount: counter.value,
  })
  return { ...report, finalCount: counter.value }
}
