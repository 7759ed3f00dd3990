/**
 * Runs a semaphore fuzz: worker processes taking and releasing permits of one
 * semaphore and reads and writes of one reader-writer lock (each process runs
 * both, concurrently) for a fixed time while holders are SIGKILLed
 * mid-holding and replaced, then returns each merged history for
 * {@link checkOccupancy}.
 */
import { randomUUID } from 'node:crypto'
import { createLockwork } from '@lockwork/core'
import { type BackendTarget, openBackend, randomPrefix } from './backends.js'
import { nowUs, sleep } from './clock.js'
import type { Holding } from './occupancy-checker.js'
import type { FuzzMode, SemaphoreFuzzWorkerConfig } from './semaphore-fuzz-worker.js'
import { startWorker, type WorkerProcess } from './worker-process.js'

/** Options of {@link runSemaphoreFuzz}. */
export interface SemaphoreFuzzRun {
  /** `semaphore`: permits of `lw.semaphore`; `rwlock`: reads and writes of `lw.rwlock`; each worker runs one loop per mode. */
  readonly modes: readonly FuzzMode[]
  /** How many worker processes contend at any time (a killed one is replaced). */
  readonly workers: number
  /** semaphore: the limit every worker asks with. */
  readonly limit?: number
  /** semaphore: the permit counts workers pick from. */
  readonly permits?: readonly number[]
  /** rwlock: every `writeEvery`-th holding of a worker is a write. */
  readonly writeEvery?: number
  /** The lease of each acquisition, in ms. */
  readonly ttlMs: number
  /** The longest hold, in ms. */
  readonly holdMs: number
  /** How long workers keep taking permits at least, in ms (longer if the kills take longer). */
  readonly durationMs: number
  /** How many workers to SIGKILL while they hold permits, one after another. Default 0. */
  readonly kills?: number
  /** The pause before each kill, in ms (then the next worker seen holding is killed). Default 500. */
  readonly killEveryMs?: number
}

/** What {@link runSemaphoreFuzz} observed. */
export interface SemaphoreFuzzResult {
  /** Every holding per mode: released ones, and those whose worker was killed while holding. */
  readonly history: Record<FuzzMode, Holding[]>
  /** How many workers were killed (kills that found the worker between two holdings included). */
  readonly kills: number
  /** How many kills ended at least one holding in progress: `run.kills`, unless the attempts ran out. */
  readonly killsWhileHolding: number
  /** Holdings that outlived their lease (a stalled process) and found their permits gone at release. */
  readonly overran: number
  /**
   * After the run: how long until every permit and the write side could be
   * taken again, once the killed holders' leases ran out, in ms. The run
   * rejects with a `LockTimeoutError` if that takes longer than ttl + 5 s.
   */
  readonly freedAfterMs: number
  /** How long the first workers took to start and connect, in ms. */
  readonly startupMs: number
}

interface Running {
  readonly worker: WorkerProcess
  /** Holdings entered and not yet exited, by mode and fence. */
  readonly open: Map<string, Omit<Holding, 'exit'> & { mode: FuzzMode }>
  /** `killed`: set just before the driver kills it; `endedHoldings`: the holdings in progress the kill ended. */
  readonly state: { killed: boolean; endedHoldings: number }
  readonly ready: Promise<void>
  /** Settles when the worker is done (or was killed); rejects when it failed. */
  readonly finished: Promise<number>
}

type WorkerMessage =
  | { type: 'ready' }
  | {
      type: 'enter'
      mode: FuzzMode
      fence: number
      permits: number
      requested: number
      at: number
      leaseEnd: number
    }
  | { type: 'exit'; mode: FuzzMode; fence: number; at: number }
  | { type: 'done'; holdings: number; overran: number }
  | { type: 'error'; message: string }

/**
 * Runs `run.workers` worker processes on one semaphore and one rwlock of
 * `target` (as `run.modes` says) for at least `run.durationMs`. Every `killEveryMs`,
 * the next worker seen holding permits is SIGKILLed (its holding ends
 * when its exit is seen) and a new worker takes its place, until `run.kills`
 * kills have ended a holding in progress (at most 4 × `run.kills` kills); then every worker
 * is told to stop. Afterwards takes every permit and
 * the write side, waiting up to ttl + 5 s for the killed holders' leases to
 * run out. The backend must have the semaphore capability.
 */
export async function runSemaphoreFuzz(
  target: BackendTarget,
  run: SemaphoreFuzzRun,
): Promise<SemaphoreFuzzResult> {
  const name = `fuzz:${randomUUID()}`
  const prefix = randomPrefix('semfuzz')
  const history: Record<FuzzMode, Holding[]> = { semaphore: [], rwlock: [] }
  const running = new Set<Running>()
  const all: Running[] = []
  let overran = 0
  let ids = 0

  const start = (): Running => {
    const id = ids++
    const config: SemaphoreFuzzWorkerConfig = {
      target,
      prefix,
      name,
      modes: run.modes,
      limit: run.limit ?? 1,
      permits: run.permits ?? [1],
      writeEvery: run.writeEvery ?? 4,
      writerWeight: writerWeight(run),
      ttlMs: run.ttlMs,
      holdMs: run.holdMs,
      worker: id,
    }
    const worker = startWorker('semaphore-fuzz-worker.ts', [JSON.stringify(config)])
    let markReady = () => {}
    const ready = new Promise<void>((resolve) => {
      markReady = resolve
    })
    const open = new Map<string, Omit<Holding, 'exit'> & { mode: FuzzMode }>()
    const state = { killed: false, endedHoldings: 0 }
    const entry: Running = {
      worker,
      open,
      state,
      ready,
      finished: (async () => {
        for (;;) {
          let message: WorkerMessage
          try {
            message = await worker.next<WorkerMessage>()
          } catch (error) {
            if (!state.killed) throw error
            // Killed: whatever it held ends now (its lease lives on until its ttl).
            const at = nowUs()
            state.endedHoldings = open.size
            for (const { mode, ...holding } of open.values())
              history[mode].push({ ...holding, exit: at, killed: true })
            open.clear()
            return 0
          }
          switch (message.type) {
            case 'ready':
              markReady()
              break
            case 'enter':
              open.set(`${message.mode}:${message.fence}`, {
                mode: message.mode,
                worker: id,
                fence: message.fence,
                permits: message.permits,
                requested: message.requested,
                enter: message.at,
                leaseEnd: message.leaseEnd,
              })
              break
            case 'exit': {
              const opened = open.get(`${message.mode}:${message.fence}`)
              if (opened === undefined)
                throw new Error(`worker ${id} exited ${message.mode} fence ${message.fence} it never entered`)
              open.delete(`${message.mode}:${message.fence}`)
              const { mode, ...holding } = opened
              history[mode].push({ ...holding, exit: message.at })
              break
            }
            case 'done':
              overran += message.overran
              return message.holdings
            case 'error':
              throw new Error(`semaphore worker ${id} failed: ${message.message}`)
          }
        }
      })(),
    }
    // A failure surfaces through `finished`; until someone awaits it, do not crash the run.
    entry.finished.catch(() => {})
    running.add(entry)
    all.push(entry)
    return entry
  }

  const observer = createLockwork({ backend: openBackend(target), prefix })
  let kills = 0
  let killsWhileHolding = 0
  try {
    const spawned = performance.now()
    for (let i = 0; i < run.workers; i++) start()
    await Promise.race([
      Promise.all(all.map((r) => r.ready)),
      Promise.all(all.map((r) => r.finished)), // a worker that failed before ready
    ])
    const startupMs = performance.now() - spawned
    const go = performance.now()
    for (const r of all) r.worker.send({ type: 'go' })
    const replacementsGoing: Promise<void>[] = []
    // A worker seen holding may have released by the time the signal lands (its holdings last a few ms):
    // such a kill does not count, and another follows, up to 4 attempts per kill asked for.
    const wanted = run.kills ?? 0
    while (killsWhileHolding < wanted && kills < wanted * 4) {
      await sleep(run.killEveryMs ?? 500)
      // The next worker seen holding permits (on a loaded machine there may be none at this instant).
      let victim: Running | undefined
      for (;;) {
        const holders = [...running].filter((r) => r.open.size > 0)
        victim = holders[Math.floor(Math.random() * holders.length)]
        if (victim !== undefined) break
        await Promise.race([sleep(2), ...[...running].map((r) => r.finished)])
      }
      victim.state.killed = true
      running.delete(victim)
      await victim.worker.kill()
      kills++
      await victim.finished
      if (victim.state.endedHoldings > 0) killsWhileHolding++
      const replacement = start()
      replacementsGoing.push(replacement.ready.then(() => replacement.worker.send({ type: 'go' })))
    }
    await sleep(Math.max(0, run.durationMs - (performance.now() - go)))
    // Every replacement has started before the stop, so none misses it.
    await Promise.race([Promise.all(replacementsGoing), Promise.all(all.map((r) => r.finished))])
    for (const r of running) r.worker.send({ type: 'stop' })
    await Promise.all(all.map((r) => r.finished))
    // Everything (every permit, the write side) can be taken again once the killed holders' leases ran out.
    const started = performance.now()
    const wait = run.ttlMs + 5_000
    const everything = await Promise.all(
      run.modes.map((mode) =>
        mode === 'semaphore'
          ? observer.semaphore(name, { limit: run.limit ?? 1 }).acquire({ permits: run.limit ?? 1, wait })
          : observer.rwlock(name).write({ wait }),
      ),
    )
    const freedAfterMs = performance.now() - started
    await Promise.all(everything.map((handle) => handle.release()))
    return { history, kills, killsWhileHolding, overran, freedAfterMs, startupMs }
  } finally {
    await Promise.all(all.map((r) => r.worker.kill()))
    await observer.close()
  }
}

/**
 * The weight a writer is recorded with, and the limit to check a rwlock
 * history against: more than every worker reading at once (one more, for a
 * killed reader whose end is seen a moment after its replacement started),
 * so a writer together with anyone else exceeds it.
 */
export function writerWeight(run: Pick<SemaphoreFuzzRun, 'workers'>): number {
  return run.workers + 1
}

/** Whether `target`'s backend has the semaphore capability (all four methods). */
export async function hasSemaphores(target: BackendTarget): Promise<boolean> {
  const backend = openBackend(target)
  try {
    return (
      typeof backend.acquirePermits === 'function' &&
      typeof backend.extendPermits === 'function' &&
      typeof backend.releasePermits === 'function' &&
      typeof backend.peekPermits === 'function'
    )
  } finally {
    await backend.close()
  }
}
