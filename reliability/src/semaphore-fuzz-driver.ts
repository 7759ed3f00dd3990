/**
 * Runs a semaphore fuzz: worker processes taking and releasing permits of one
 * semaphore for a fixed time while holders are SIGKILLed mid-holding and
 * replaced, then returns the merged history for {@link checkOccupancy}.
 */
import { randomUUID } from 'node:crypto'
import type { LockBackend } from '@lockwork/core'
import { type BackendTarget, openBackend } from './backends.js'
import { nowUs, sleep } from './clock.js'
import type { Holding } from './occupancy-checker.js'
import type { SemaphoreFuzzWorkerConfig } from './semaphore-fuzz-worker.js'
import { startWorker, type WorkerProcess } from './worker-process.js'

/** Options of {@link runSemaphoreFuzz}. */
export interface SemaphoreFuzzRun {
  /** How many worker processes contend at any time (a killed one is replaced). */
  readonly workers: number
  /** The limit every worker asks with. */
  readonly limit: number
  /** The permit counts workers pick from. */
  readonly permits: readonly number[]
  /** The lease of each acquisition, in ms. */
  readonly ttlMs: number
  /** The longest hold, in ms. */
  readonly holdMs: number
  /** How long workers keep taking permits, in ms. */
  readonly durationMs: number
  /** SIGKILL a worker that holds permits this often, in ms; none when omitted. */
  readonly killEveryMs?: number
}

/** What {@link runSemaphoreFuzz} observed. */
export interface SemaphoreFuzzResult {
  /** Every holding: released ones, and those whose worker was killed while holding. */
  readonly history: Holding[]
  /** How many workers were killed. */
  readonly kills: number
  /** Holdings that outlived their lease (a stalled process) and found their permits gone at release. */
  readonly overran: number
  /** After the run: how long until every permit was free again (the killed holders' leases ran out), in ms. */
  readonly freedAfterMs: number
  /** Permits still in use when the wait for that ended (0 when all came back). */
  readonly leftInUse: number
  /** How long the first workers took to start and connect, in ms. */
  readonly startupMs: number
}

interface Running {
  readonly worker: WorkerProcess
  /** Holdings entered and not yet exited, by fence. */
  readonly open: Map<number, Omit<Holding, 'exit'>>
  /** Set just before the driver kills it. */
  readonly state: { killed: boolean }
  readonly ready: Promise<void>
  /** Settles when the worker is done (or was killed); rejects when it failed. */
  readonly finished: Promise<number>
}

type WorkerMessage =
  | { type: 'ready' }
  | { type: 'enter'; fence: number; permits: number; requested: number; at: number }
  | { type: 'exit'; fence: number; at: number }
  | { type: 'done'; holdings: number; overran: number }
  | { type: 'error'; message: string }

/**
 * Runs `run.workers` worker processes on one semaphore of `target` for
 * `run.durationMs`. Every `killEveryMs` one worker that holds permits at that
 * moment is SIGKILLed (its holding ends when its exit is seen) and a new
 * worker takes its place. Afterwards waits (up to ttl + 5 s) until the
 * killed holders' permits are free again. The backend must have the
 * semaphore capability.
 */
export async function runSemaphoreFuzz(
  target: BackendTarget,
  run: SemaphoreFuzzRun,
): Promise<SemaphoreFuzzResult> {
  const key = `rel-semaphore-${randomUUID()}`
  const history: Holding[] = []
  const running = new Set<Running>()
  const all: Running[] = []
  let overran = 0
  let ids = 0
  let untilUs = 0

  const start = (): Running => {
    const id = ids++
    const config: SemaphoreFuzzWorkerConfig = {
      target,
      key,
      limit: run.limit,
      permits: run.permits,
      ttlMs: run.ttlMs,
      holdMs: run.holdMs,
      worker: id,
    }
    const worker = startWorker('semaphore-fuzz-worker.ts', [JSON.stringify(config)])
    let markReady = () => {}
    const ready = new Promise<void>((resolve) => {
      markReady = resolve
    })
    const open = new Map<number, Omit<Holding, 'exit'>>()
    const state = { killed: false }
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
            for (const holding of open.values()) history.push({ ...holding, exit: at, killed: true })
            open.clear()
            return 0
          }
          switch (message.type) {
            case 'ready':
              markReady()
              break
            case 'enter':
              open.set(message.fence, {
                worker: id,
                fence: message.fence,
                permits: message.permits,
                requested: message.requested,
                enter: message.at,
              })
              break
            case 'exit': {
              const holding = open.get(message.fence)
              if (holding === undefined)
                throw new Error(`worker ${id} exited fence ${message.fence} it never entered`)
              open.delete(message.fence)
              history.push({ ...holding, exit: message.at })
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

  const observer = openBackend(target)
  let kills = 0
  try {
    const spawned = performance.now()
    for (let i = 0; i < run.workers; i++) start()
    await Promise.race([
      Promise.all(all.map((r) => r.ready)),
      Promise.all(all.map((r) => r.finished)), // a worker that failed before ready
    ])
    const startupMs = performance.now() - spawned
    untilUs = nowUs() + run.durationMs * 1000
    for (const r of all) r.worker.send({ type: 'go', untilUs })
    if (run.killEveryMs !== undefined) {
      while (nowUs() + run.killEveryMs * 1000 < untilUs) {
        await sleep(run.killEveryMs)
        // The next worker seen holding permits (on a loaded machine there may be none at this instant).
        let victim: Running | undefined
        while (victim === undefined && nowUs() < untilUs) {
          const holders = [...running].filter((r) => r.open.size > 0)
          victim = holders[Math.floor(Math.random() * holders.length)]
          if (victim === undefined) await sleep(2)
        }
        if (victim === undefined) break
        victim.state.killed = true
        running.delete(victim)
        await victim.worker.kill()
        kills++
        const replacement = start()
        void replacement.ready.then(() => replacement.worker.send({ type: 'go', untilUs }))
      }
    }
    await Promise.all(all.map((r) => r.finished))
    // The killed holders' permits come back when their leases run out.
    const started = performance.now()
    let leftInUse = await inUse(observer, key)
    while (leftInUse > 0 && performance.now() - started < run.ttlMs + 5_000) {
      await sleep(20)
      leftInUse = await inUse(observer, key)
    }
    return { history, kills, overran, freedAfterMs: performance.now() - started, leftInUse, startupMs }
  } finally {
    await Promise.all(all.map((r) => r.worker.kill()))
    await observer.close()
  }
}

async function inUse(backend: LockBackend, key: string): Promise<number> {
  if (backend.peekPermits === undefined) throw new Error(`${backend.name} has no peekPermits`)
  return (await backend.peekPermits(key)).inUse
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
