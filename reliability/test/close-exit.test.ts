import { createLockwork } from '@lockwork/core'
import { describe, expect, it } from 'vitest'
import {
  availableBackends,
  freshTarget,
  openBackend,
  randomPrefix,
  SHARED_BACKENDS,
} from '../src/backends.js'
import type { CloseWorkerConfig } from '../src/close-worker.js'
import { startWorker } from '../src/worker-process.js'

const available = await availableBackends(SHARED_BACKENDS, 'reliability close and exit')

interface Timed {
  readonly type: 'closed' | 'exit'
  readonly closeMs?: number
  readonly exitMs?: number
}

/** Runs a close worker to its end; resolves its messages, exit code and stderr. */
async function runWorker(config: CloseWorkerConfig) {
  const worker = startWorker('close-worker.ts', [JSON.stringify(config)])
  const killer = setTimeout(() => void worker.kill(), 30_000)
  const closed = await worker.nextOfType<Timed>('closed')
  const exit = await worker.nextOfType<Timed>('exit')
  const ended = await worker.exited
  clearTimeout(killer)
  return { closeMs: closed.closeMs ?? Number.NaN, exitMs: exit.exitMs ?? Number.NaN, ...ended }
}

for (const name of SHARED_BACKENDS) {
  describe.skipIf(!available[name])(`${name}: a process ends after close`, () => {
    it('exits within 1 s of lw.close(), having released its locks and stopped its job, printing nothing', async () => {
      const target = freshTarget(name)
      const prefix = randomPrefix('close')
      const result = await runWorker({ mode: 'client', target, prefix })
      console.log(
        `${name}: close() ${result.closeMs.toFixed(0)} ms, exit ${result.exitMs.toFixed(0)} ms after close()`,
      )
      expect(result.code).toBe(0)
      expect(result.stderr).toBe('')
      expect(result.exitMs).toBeLessThan(1_000)
      const lw = createLockwork({ backend: openBackend(target), prefix })
      try {
        // The auto-extended lock the worker never released itself is free now, not in 30 s.
        expect(await lw.isLocked('held')).toBe(false)
      } finally {
        await lw.close()
      }
    })

    it('an every job whose backend is closed under it reports once and lets the process exit', async () => {
      const result = await runWorker({
        mode: 'backend',
        target: freshTarget(name),
        prefix: randomPrefix('close'),
      })
      console.log(`${name}: backend closed under a job: exit ${result.exitMs.toFixed(0)} ms after`)
      expect(result.code).toBe(0)
      expect(result.exitMs).toBeLessThan(2_000)
      const reports = result.stderr.split('\n').filter((line) => line.includes('lockwork: every("tick")'))
      expect(reports).toHaveLength(1)
      expect(result.stderr).toMatch(/stopped: its backend is closed/)
    })
  })
}
