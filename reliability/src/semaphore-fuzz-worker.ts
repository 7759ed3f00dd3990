/**
 * A semaphore-fuzz worker process. Run by the tests as
 * `node --import tsx --conditions=@lockwork/source semaphore-fuzz-worker.ts '<json SemaphoreFuzzWorkerConfig>'`.
 *
 * It takes permits the way an application does, through the core, in one
 * loop per mode, concurrently: `semaphore`:
 * `lw.semaphore(name, { limit }).acquire({ permits })`; `rwlock`:
 * `lw.rwlock(name).read()` or `.write()`. Leases are never
 * extended (`autoExtend: false`), so each ends at its ttl at the latest.
 *
 * Protocol (JSON lines): prints `{"type":"ready"}` once connected, waits for
 * `{"type":"go"}` on stdin, then until `{"type":"stop"}` arrives repeats:
 * acquire, print `{"type":"enter","mode","fence","permits","requested","at","leaseEnd"}` (for a
 * rwlock `permits` is 1 for a reader and `writerWeight` for a writer), hold,
 * print `{"type":"exit","mode","fence","at"}`, release. Then prints
 * `{"type":"done","holdings":n,"overran":n}` and exits (`overran`: releases
 * that found the lease gone because the holding outlived its ttl, a stall).
 * The parent may SIGKILL it at any moment, typically while it holds. Any
 * failure prints `{"type":"error","message":...}` and exits 1. Times are
 * `nowUs` microseconds.
 */
import { createLockwork, type Lock, type Lockwork } from '@lockwork/core'
import { type BackendTarget, openBackend } from './backends.js'
import { nowUs, sleep, yieldTurn } from './clock.js'
import { emit, messages, runWorkerMain } from './worker-process.js'

/** What one loop of a worker takes. */
export type FuzzMode = 'semaphore' | 'rwlock'

/** The single argument of a semaphore-fuzz worker. */
export interface SemaphoreFuzzWorkerConfig {
  readonly target: BackendTarget
  /** The lockwork prefix. */
  readonly prefix: string
  /** The semaphore's and the reader-writer lock's names (each is a namespace of its own). */
  readonly name: string
  /** What the worker takes, each in its own loop, concurrently: semaphore permits, rwlock reads and writes. */
  readonly modes: readonly FuzzMode[]
  /** semaphore: the limit the worker asks with. */
  readonly limit: number
  /** semaphore: the permit counts it picks from, in turn (starting at its own offset). */
  readonly permits: readonly number[]
  /** rwlock: every `writeEvery`-th holding is a write, the others reads. */
  readonly writeEvery: number
  /** rwlock: the weight a writer is recorded with (more than all readers together can hold). */
  readonly writerWeight: number
  /** The lease of each acquisition, in ms. */
  readonly ttlMs: number
  /** The longest time spent holding, in ms (each hold is uniform in 0..holdMs, after one yield). */
  readonly holdMs: number
  /** Which worker this is (for its offset in the rotation). */
  readonly worker: number
}

/** Takes the `turn`-th holding: the handle and the weight it is recorded with. */
function acquirer(
  lw: Lockwork,
  config: SemaphoreFuzzWorkerConfig,
  mode: FuzzMode,
): (turn: number) => Promise<[Lock, number]> {
  const lease = { ttl: config.ttlMs, wait: '60s', autoExtend: false } as const
  if (mode === 'semaphore') {
    const semaphore = lw.semaphore(config.name, { limit: config.limit })
    return async (turn) => {
      const permits = config.permits[turn % config.permits.length] as number
      return [await semaphore.acquire({ ...lease, permits }), permits]
    }
  }
  const rwlock = lw.rwlock(config.name)
  return async (turn) =>
    turn % config.writeEvery === 0
      ? [await rwlock.write(lease), config.writerWeight]
      : [await rwlock.read(lease), 1]
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as SemaphoreFuzzWorkerConfig
  const backend = openBackend(config.target)
  const lw = createLockwork({ backend, prefix: config.prefix })
  try {
    await lw.peek(config.name) // connect (and create tables) before the start line
    emit({ type: 'ready' })
    // `go` starts the run, `stop` ends it (after the holdings in progress).
    const incoming = messages()
    for (;;) {
      const next = await incoming.next()
      if (next.done) return
      if ((next.value as { type?: unknown }).type === 'go') break
    }
    let stopped = false
    void (async () => {
      for (;;) {
        const next = await incoming.next()
        if (next.done || (next.value as { type?: unknown }).type === 'stop') break
      }
      stopped = true
    })()
    let holdings = 0
    let overran = 0
    const loop = async (mode: FuzzMode) => {
      const take = acquirer(lw, config, mode)
      for (let turn = config.worker; !stopped; turn++) {
        const requested = nowUs()
        const [handle, permits] = await take(turn)
        const at = nowUs()
        // The handle's deadline is conservative: counted from when its successful attempt was sent.
        const leaseEnd = at + handle.remainingMs * 1000
        emit({ type: 'enter', mode, fence: handle.fence, permits, requested, at, leaseEnd })
        await yieldTurn()
        const hold = Math.random() * config.holdMs
        if (hold >= 1) await sleep(hold)
        emit({ type: 'exit', mode, fence: handle.fence, at: nowUs() })
        const leftMs = handle.remainingMs
        if (!(await handle.release())) {
          // Only a holding near or past its lease's end (a stalled process) may find it gone.
          if (leftMs > config.ttlMs / 2)
            throw new Error(`${mode} release of fence ${handle.fence} answered false with ${leftMs} ms left`)
          overran++
        }
        holdings++
      }
    }
    await Promise.all(config.modes.map(loop))
    emit({ type: 'done', holdings, overran })
  } finally {
    await lw.close()
  }
}

runWorkerMain(main)
