import { randomUUID } from 'node:crypto'
import { createLockwork, type Lockwork } from '@lockwork/core'
import { afterAll, describe, expect, it } from 'vitest'
import {
  availableBackends,
  type BackendTarget,
  freshTarget,
  openBackend,
  randomPrefix,
  SHARED_BACKENDS,
} from '../src/backends.js'
import { nowUs, sleep } from '../src/clock.js'
import { FencedStore, StaleFenceError } from '../src/fenced-store.js'
import type { HolderWorkerConfig, LostMessage } from '../src/holder-worker.js'
import { figure, spread } from '../src/report.js'
import { startWorker, type WorkerProcess } from '../src/worker-process.js'

const available = await availableBackends(SHARED_BACKENDS, 'reliability process faults')

const KILL_ROUNDS = 20
const KILL_PARALLEL = 10
const KILL_TTL_MS = 1_000
const PAUSE_TTL_MS = 1_000

interface Acquired {
  readonly type: 'acquired'
  readonly fence: number
  readonly owner: string
  readonly at: number
}

function holder(config: HolderWorkerConfig): WorkerProcess {
  return startWorker('holder-worker.ts', [JSON.stringify(config)])
}

/**
 * One batch of SIGKILL rounds at once: a child per round holds its own key
 * (auto-extended), is killed, and we measure until we hold the key. The kills
 * wait until every child of the batch holds its key: a child still starting
 * (tsx compiling its modules) would otherwise take the CPU from its siblings
 * right when their first auto-extension is due.
 */
async function killBatch(target: BackendTarget, lw: Lockwork, rounds: number): Promise<number[]> {
  const holders = Array.from({ length: rounds }, () => {
    const key = `sigkill:${randomUUID()}`
    return { key, child: holder({ mode: 'hold', target, prefix: lw.prefix, key, ttlMs: KILL_TTL_MS }) }
  })
  try {
    const acquired = await Promise.all(holders.map(({ child }) => child.nextOfType<Acquired>('acquired')))
    // Let at least one auto-extension happen, so the kills land mid-lease.
    await sleep(KILL_TTL_MS / 2)
    return await Promise.all(
      holders.map(async ({ key, child }, i) => {
        expect(await lw.tryAcquire(key, { ttl: KILL_TTL_MS })).toBeNull()
        const killedAt = performance.now()
        child.child.kill('SIGKILL')
        const lock = await lw.acquire(key, { ttl: KILL_TTL_MS, wait: KILL_TTL_MS + 5_000 })
        const freeAfter = performance.now() - killedAt
        expect(lock.fence).toBeGreaterThan(acquired[i]!.fence)
        expect((await child.exited).signal).toBe('SIGKILL')
        await lock.release()
        return freeAfter
      }),
    )
  } finally {
    await Promise.all(holders.map(({ child }) => child.kill()))
  }
}

const killFigures: string[] = []
const pauseFigures: string[] = []
afterAll(() => {
  if (killFigures.length > 0) figure('SIGKILL time-to-free', killFigures.join('; '))
  if (pauseFigures.length > 0) figure('SIGSTOP', pauseFigures.join('; '))
})

for (const name of SHARED_BACKENDS) {
  describe.skipIf(!available[name])(`${name}: a holder process that dies or stalls`, () => {
    it(`SIGKILL: the lock is free within ttl + 1 s, ${KILL_ROUNDS} out of ${KILL_ROUNDS} (ttl ${KILL_TTL_MS} ms, auto-extended)`, async () => {
      const target = freshTarget(name)
      const backend = openBackend(target)
      const lw = createLockwork({ backend, prefix: randomPrefix('sigkill') })
      const times: number[] = []
      try {
        for (let round = 0; round < KILL_ROUNDS; round += KILL_PARALLEL) {
          const batch = Math.min(KILL_PARALLEL, KILL_ROUNDS - round)
          times.push(...(await killBatch(target, lw, batch)))
        }
      } finally {
        await backend.close()
      }
      killFigures.push(`${name} ${spread(times)}`)
      figure(`${name} SIGKILL time-to-free`, spread(times))
      expect(times).toHaveLength(KILL_ROUNDS)
      expect(times.filter((ms) => ms > KILL_TTL_MS + 1_000)).toEqual([])
    })

    describe('SIGSTOP past the ttl, then SIGCONT', () => {
      /** What one pause round observed. */
      interface PauseOutcome {
        readonly holderFence: number
        readonly rivalFence: number
        readonly rivalAfterMs: number
        readonly lost: LostMessage
        /** Acts the paused holder performed after it was resumed, before it saw the loss. */
        readonly actsAfterResume: number
        /** `lock.remainingMs` as each of those acts saw it. */
        readonly remainingAtLateActs: readonly number[]
        readonly store: FencedStore<string>
        readonly key: string
        readonly resumedAt: number
        readonly child: WorkerProcess
        readonly cleanup: () => Promise<void>
      }

      /**
       * A child holds `key` (auto-extended, ttl 1 s) and acts on a fenced
       * store every 20 ms, checking `lock.signal` before each act. We stop
       * it, take the key ourselves once its lease has run out, write with
       * our fence, resume it, and record what it does.
       */
      async function pauseRound(): Promise<PauseOutcome> {
        const target = freshTarget(name)
        const backend = openBackend(target)
        const lw = createLockwork({ backend, prefix: randomPrefix('sigstop') })
        const key = `sigstop:${randomUUID()}`
        const store = new FencedStore<string>()
        const child = holder({
          mode: 'work',
          target,
          prefix: lw.prefix,
          key,
          ttlMs: PAUSE_TTL_MS,
          actEveryMs: 20,
        })
        const acts: { fence: number; at: number; forced: boolean; remainingMs: number }[] = []
        const losses: LostMessage[] = []
        const acquired = await child.nextOfType<Acquired>('acquired')
        // The parent is the protected resource: every act is a fenced write.
        void (async () => {
          for (;;) {
            let message: { type: string; fence?: number; at?: number; forced?: boolean; remainingMs?: number }
            try {
              message = await child.next()
            } catch {
              return
            }
            if (message.type === 'act') {
              acts.push({
                fence: message.fence ?? 0,
                at: message.at ?? 0,
                forced: message.forced === true,
                remainingMs: message.remainingMs ?? -1,
              })
              try {
                store.write(key, 'paused holder', message.fence ?? 0)
              } catch (error) {
                if (!(error instanceof StaleFenceError)) throw error
              }
            } else if (message.type === 'lost' || message.type === 'aborted') {
              losses.push(message as LostMessage)
            }
          }
        })()
        while (acts.length < 3) await sleep(10)
        expect(store.peek(key)).toEqual({ value: 'paused holder', fence: acquired.fence })

        const stoppedAt = nowUs()
        child.child.kill('SIGSTOP')
        const started = performance.now()
        const rival = await lw.acquire(key, { ttl: '30s', wait: PAUSE_TTL_MS + 5_000 })
        const rivalAfterMs = performance.now() - started
        store.write(key, 'rival', rival.fence)

        const resumedAt = nowUs()
        child.child.kill('SIGCONT')
        const deadline = performance.now() + 5_000
        while (!losses.some((loss) => loss.type === 'lost') && performance.now() < deadline) await sleep(10)
        const lost = losses.find((loss) => loss.type === 'aborted') ?? losses[0]
        const lateActs = acts.filter((act) => act.at > stoppedAt && !act.forced)
        return {
          holderFence: acquired.fence,
          rivalFence: rival.fence,
          rivalAfterMs,
          lost: lost ?? { type: 'lost', name: 'none', code: '', reason: 'never reported', at: 0 },
          actsAfterResume: lateActs.length,
          remainingAtLateActs: lateActs.map((act) => act.remainingMs),
          store,
          key,
          resumedAt,
          child,
          cleanup: async () => {
            await child.kill()
            await rival.release()
            await backend.close()
          },
        }
      }

      it('the stalled holder’s signal aborts with LockLostError, and its stale-fenced write is refused by the fenced store', async () => {
        const outcome = await pauseRound()
        try {
          expect(outcome.rivalFence).toBeGreaterThan(outcome.holderFence)
          expect(outcome.rivalAfterMs).toBeLessThan(PAUSE_TTL_MS + 1_000)
          expect(outcome.lost).toMatchObject({ name: 'LockLostError', code: 'LOCKWORK_LOST' })
          expect(['expired', 'extend-failed', 'taken', 'released-elsewhere']).toContain(outcome.lost.reason)
          const abortedAfterResumeMs = (outcome.lost.at - outcome.resumedAt) / 1000
          expect(abortedAfterResumeMs).toBeLessThan(500)
          // A write that was already on its way when the holder stalled arrives now, with its old fence.
          const refusedBefore = outcome.store.rejected.length
          outcome.child.send({ type: 'write-anyway' })
          const until = performance.now() + 5_000
          while (outcome.store.rejected.length === refusedBefore && performance.now() < until) await sleep(10)
          expect(outcome.store.rejected.slice(refusedBefore)).toEqual([
            { key: outcome.key, fence: outcome.holderFence, highest: outcome.rivalFence },
          ])
          expect(outcome.store.peek(outcome.key)).toEqual({ value: 'rival', fence: outcome.rivalFence })
          pauseFigures.push(
            `${name}: rival took over ${Math.round(outcome.rivalAfterMs)} ms after the stop; holder's signal aborted (${outcome.lost.reason}) ${abortedAfterResumeMs.toFixed(1)} ms after SIGCONT; ${outcome.actsAfterResume} act(s) after resume, all refused by the fence`,
          )
          // `lock.remainingMs` says 0 at any act after the resume, too.
          expect(outcome.remainingAtLateActs.filter((ms) => ms !== 0)).toEqual([])
          // Every act of the stalled holder after the resume was refused by the fence.
          expect(outcome.store.rejected.length).toBe(refusedBefore + 1)
          expect(refusedBefore).toBe(outcome.actsAfterResume)
        } finally {
          await outcome.cleanup()
        }
      })

      // After a stall past its ttl, the handle checks its deadline synchronously in the
      // `signal` getter, so a holder that looks at `lock.signal.aborted` right before acting
      // stops, even though its own work timer fell due before the handle's expiry timer.
      it('the stalled holder’s signal is aborted before it can act again after SIGCONT', async () => {
        const outcome = await pauseRound()
        try {
          expect(outcome.actsAfterResume).toBe(0)
        } finally {
          await outcome.cleanup()
        }
      })
    })
  })
}
