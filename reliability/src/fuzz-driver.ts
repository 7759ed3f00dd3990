/**
 * Runs a contention fuzz: several workers (processes, or async tasks for the
 * memory backend) each running critical sections on one key, then returns
 * the merged history and the counter for {@link checkHistory}.
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLockwork } from '@lockwork/core'
import { MemoryStore } from '@lockwork/memory'
import { type BackendTarget, openBackend, randomPrefix } from './backends.js'
import { type FuzzPlan, memoryCounter, runSections, type SectionTuple, toSections } from './fuzz.js'
import type { FuzzWorkerConfig } from './fuzz-worker.js'
import type { Section } from './history-checker.js'
import { startWorker, type WorkerProcess } from './worker-process.js'

/** Options of {@link runFuzz}. */
export interface FuzzRun extends Omit<FuzzPlan, 'key'> {
  /** How many workers contend. */
  readonly workers: number
}

/** What {@link runFuzz} observed. */
export interface FuzzResult {
  readonly history: Section[]
  /** The shared counter after every worker finished. */
  readonly finalCount: number
  /** Wall time from the start signal to the last worker's end, in ms. */
  readonly ms: number
}

/**
 * Runs `run.workers` workers on `target`. For `memory` the workers are async
 * tasks in this process (separate clients over one store); for every other
 * backend each is a separate Node.js process with its own connection, all
 * released together once every one is connected.
 */
export async function runFuzz(target: BackendTarget, run: FuzzRun): Promise<FuzzResult> {
  const key = `fuzz:${randomUUID()}`
  const plan: FuzzPlan = { ...run, key }
  const prefix = randomPrefix('fuzz')
  if (target.name === 'memory') {
    const store = new MemoryStore()
    const counter = memoryCounter()
    const started = performance.now()
    const results = await Promise.all(
      Array.from({ length: run.workers }, () =>
        runSections(createLockwork({ backend: openBackend(target, store), prefix }), counter, plan),
      ),
    )
    const ms = performance.now() - started
    return {
      history: results.flatMap((tuples, worker) => toSections(worker, tuples)),
      finalCount: counter.value,
      ms,
    }
  }

  const dir = mkdtempSync(join(tmpdir(), 'lockwork-fuzz-'))
  const counterFile = join(dir, 'counter')
  writeFileSync(counterFile, '0')
  const config: FuzzWorkerConfig = { ...plan, target, prefix, counterFile }
  const workers: WorkerProcess[] = []
  try {
    for (let i = 0; i < run.workers; i++)
      workers.push(startWorker('fuzz-worker.ts', [JSON.stringify(config)]))
    await Promise.all(workers.map((worker) => worker.nextOfType('ready')))
    const started = performance.now()
    for (const worker of workers) worker.send({ type: 'go' })
    const done = await Promise.all(
      workers.map((worker) => worker.nextOfType<{ type: 'done'; sections: SectionTuple[] }>('done')),
    )
    const ms = performance.now() - started
    const finalCount = Number(readFileSync(counterFile, 'utf8'))
    return { history: done.flatMap((reply, worker) => toSections(worker, reply.sections)), finalCount, ms }
  } finally {
    await Promise.all(workers.map((worker) => worker.kill()))
    rmSync(dir, { recursive: true, force: true })
  }
}
