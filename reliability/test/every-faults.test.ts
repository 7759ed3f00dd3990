import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { availableBackends, freshTarget, randomPrefix, SHARED_BACKENDS } from '../src/backends.js'
import { sleep } from '../src/clock.js'
import type { EveryWorkerConfig, EveryWorkerMessage } from '../src/every-worker.js'
import { figure } from '../src/report.js'
import { startWorker, type WorkerProcess } from '../src/worker-process.js'

const available = await availableBackends(SHARED_BACKENDS, 'reliability every faults')

const INTERVAL_MS = 1_000
const REPLICAS = 3
const STOP_MS = 3_000

/** A replica process and everything it printed. */
interface Replica {
  readonly worker: WorkerProcess
  readonly messages: EveryWorkerMessage[]
}

function startReplica(config: EveryWorkerConfig): Replica {
  const worker = startWorker('every-worker.ts', [JSON.stringify(config)])
  const messages: EveryWorkerMessage[] = []
  void (async () => {
    for (;;) {
      try {
        messages.push(await worker.next<EveryWorkerMessage>())
      } catch {
        return
      }
    }
  })()
  return { worker, messages }
}

for (const name of SHARED_BACKENDS) {
  describe.skipIf(!available[name])(`${name}: every with a replica paused past its ticks`, () => {
    it(`${REPLICAS} replicas, interval ${INTERVAL_MS} ms, each of two replicas SIGSTOPped for ${STOP_MS} ms in turn: no tick runs twice`, async () => {
      const config: EveryWorkerConfig = {
        target: freshTarget(name),
        prefix: randomPrefix('every'),
        name: `job-${randomUUID()}`,
        intervalMs: INTERVAL_MS,
      }
      const replicas = Array.from({ length: REPLICAS }, () => startReplica(config))
      try {
        const deadline = performance.now() + 30_000
        while (!replicas.every((r) => r.messages.some((m) => m.type === 'ready'))) {
          if (performance.now() > deadline) throw new Error('replicas did not start')
          await sleep(20)
        }
        for (const paused of replicas.slice(0, 2)) {
          // Stop mid-period, so the tick due during the stop is long past when the replica wakes.
          await sleep(INTERVAL_MS * 1.5 - (Date.now() % INTERVAL_MS))
          paused.worker.child.kill('SIGSTOP')
          await sleep(STOP_MS)
          paused.worker.child.kill('SIGCONT')
          await sleep(INTERVAL_MS * 2)
        }
        await sleep(INTERVAL_MS)

        const runsPerTick = new Map<number, number>()
        for (const replica of replicas) {
          for (const message of replica.messages) {
            expect(message.type).not.toBe('failed')
            if (message.type === 'run')
              runsPerTick.set(message.scheduledAt, (runsPerTick.get(message.scheduledAt) ?? 0) + 1)
          }
        }
        const twice = [...runsPerTick].filter(([, runs]) => runs > 1)
        const late = replicas.flatMap((r) => r.messages.filter((m) => m.type === 'late'))
        figure(
          `${name} every with SIGSTOP`,
          `${runsPerTick.size} ticks run, ${twice.length} run twice, ${late.length} late tick(s) skipped (${late
            .map((m) => (m.type === 'late' ? `${m.lateMs} ms` : ''))
            .join(', ')})`,
        )
        expect(twice).toEqual([])
        // The ticks went on while a replica was stopped (about 12 s of ticks in all).
        expect(runsPerTick.size).toBeGreaterThanOrEqual(8)
        // Each paused replica woke up to a tick it was too late for, and said so.
        expect(late.length).toBeGreaterThanOrEqual(2)
      } finally {
        await Promise.all(replicas.map((r) => r.worker.kill()))
      }
    })
  })
}
