/**
 * A crowd on one key: 2,000 callers wait for the same key with `wait: 30s`
 * and hold it for 1 ms each. Every one must get through within its wait, one
 * at a time, on every backend: a release wakes one waiter per process, not
 * the whole crowd. Shared backends split the crowd over two processes.
 *
 * PostgreSQL runs in its `'fast'` commit mode here: a hand-off is at least a
 * release and an acquire, and in `'durable'` mode each waits for a WAL flush,
 * which a busy disk stretches from ~2 ms to 7 ms and more (2,000 hand-offs
 * took 8–29 s on the shared test machine, depending on its load). This test
 * is about waiting; `pnpm bench` reports the durable crowd.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import {
  availableBackends,
  freshTarget,
  openBackend,
  randomPrefix,
  SHARED_BACKENDS,
} from '../src/backends.js'
import { type CrowdPlan, type CrowdResult, type LoopsResult, runCrowd } from '../src/crowd.js'
import type { CrowdWorkerConfig } from '../src/crowd-worker.js'
import { checkHistory } from '../src/history-checker.js'
import { figure } from '../src/report.js'
import { startWorker, type WorkerProcess } from '../src/worker-process.js'

const WAITERS = 2_000
const SECTION_MS = 1
const WAIT_MS = 30_000
const PROCESSES = 2

const available = await availableBackends(SHARED_BACKENDS, 'reliability crowd')
const workers: WorkerProcess[] = []

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.kill()))
})

/** Checks a crowd's outcome and prints its figures. */
function verify(name: string, results: readonly CrowdResult[], totalMs: number): void {
  const done = results.reduce((sum, r) => sum + r.done, 0)
  const timedOut = results.reduce((sum, r) => sum + r.timedOut, 0)
  const acquires = results.reduce((sum, r) => sum + r.acquireCalls, 0)
  const waits = results.reduce((sum, r) => sum + r.waitCalls, 0)
  const longest = Math.max(...results.map((r) => r.longestWaitMs))
  const report = checkHistory(
    results.flatMap((r) => r.sections),
    { expectedCount: WAITERS, finalCount: done },
  )
  figure(
    `crowd on ${name}`,
    `${WAITERS} waiters (${results.length} process${results.length > 1 ? 'es' : ''}) × ${SECTION_MS} ms sections, wait ${WAIT_MS / 1000} s: ` +
      `${done} got through, ${timedOut} timed out in ${(totalMs / 1000).toFixed(1)} s ` +
      `(${Math.round(done / (totalMs / 1000))} hand-offs/s, longest wait ${(longest / 1000).toFixed(1)} s); ` +
      `per hand-off ${(acquires / Math.max(1, done)).toFixed(2)} acquire calls, ${(waits / Math.max(1, done)).toFixed(2)} wait calls (waitForRelease or waitForGrant)`,
  )
  expect(results.flatMap((r) => r.errors)).toEqual([])
  expect(timedOut).toBe(0)
  expect(done).toBe(WAITERS)
  expect(report.violations).toEqual([])
  expect(longest).toBeLessThan(WAIT_MS)
}

describe('a crowd of 2,000 waiters on one key, 1 ms sections, wait 30 s: everyone gets through', () => {
  const plan = (): CrowdPlan => ({
    prefix: randomPrefix('crowd'),
    key: `crowd:${randomUUID()}`,
    waiters: WAITERS,
    sectionMs: SECTION_MS,
    waitMs: WAIT_MS,
  })

  it('memory: one process', async () => {
    const backend = openBackend(freshTarget('memory'))
    const result = await runCrowd(backend, plan())
    await backend.close()
    verify('memory', [result], result.totalMs)
  })

  for (const name of SHARED_BACKENDS) {
    it.skipIf(!available[name])(`${name}: two processes`, async () => {
      const target =
        name === 'postgres' ? { ...freshTarget(name), durability: 'fast' as const } : freshTarget(name)
      const shared = plan()
      const started = Array.from({ length: PROCESSES }, (_, worker) => {
        const config: CrowdWorkerConfig = {
          target,
          plan: { ...shared, waiters: WAITERS / PROCESSES },
          worker,
        }
        const process = startWorker('crowd-worker.ts', [JSON.stringify(config)])
        workers.push(process)
        return process
      })
      await Promise.all(started.map((worker) => worker.nextOfType('ready')))
      const startedAt = performance.now()
      for (const worker of started) worker.send({ type: 'go' })
      const results = await Promise.all(
        started.map(
          async (worker) => (await worker.nextOfType<{ type: 'done'; result: CrowdResult }>('done')).result,
        ),
      )
      verify(name === 'postgres' ? 'postgres (fast commits)' : name, results, performance.now() - startedAt)
    })
  }
})

describe('sustained contention from two processes, 10 loops each, 1 ms sections: neither process starves', () => {
  for (const name of SHARED_BACKENDS) {
    it.skipIf(!available[name])(
      `${name}: each process gets at least a quarter of the hand-offs`,
      async () => {
        const target = freshTarget(name)
        const prefix = randomPrefix('loops')
        const started = Array.from({ length: PROCESSES }, (_, worker) => {
          const config: CrowdWorkerConfig = {
            target,
            plan: {
              prefix,
              key: 'shared',
              waiters: 10,
              sectionMs: SECTION_MS,
              waitMs: WAIT_MS,
            },
            worker,
            loopsForMs: 3_000,
          }
          const process = startWorker('crowd-worker.ts', [JSON.stringify(config)])
          workers.push(process)
          return process
        })
        await Promise.all(started.map((worker) => worker.nextOfType('ready')))
        for (const worker of started) worker.send({ type: 'go' })
        const results = await Promise.all(
          started.map(
            async (worker) => (await worker.nextOfType<{ type: 'done'; result: LoopsResult }>('done')).result,
          ),
        )
        const total = results.reduce((sum, r) => sum + r.sections, 0)
        const shares = results.map((r) => r.sections / Math.max(1, total))
        figure(
          `sustained contention on ${name}`,
          `2 processes × 10 loops for 3 s: ${results.map((r) => r.sections).join(' + ')} = ${total} sections; ` +
            `longest single wait ${results.map((r) => `${Math.round(r.longestWaitMs)} ms`).join(' / ')}`,
        )
        expect(total).toBeGreaterThan(50)
        expect(Math.min(...shares)).toBeGreaterThan(0.25)
      },
    )
  }
})
