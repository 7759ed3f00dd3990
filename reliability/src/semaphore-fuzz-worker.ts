/**
 * A semaphore-fuzz worker process. Run by the tests as
 * `node --import tsx --conditions=@lockwork/source semaphore-fuzz-worker.ts '<json SemaphoreFuzzWorkerConfig>'`.
 *
 * It drives the backend's semaphore capability directly (`acquirePermits`,
 * then `waitForPermits` or a short backoff when refused; `releasePermits`).
 *
 * Protocol (JSON lines): prints `{"type":"ready"}` once connected, waits for
 * `{"type":"go","untilUs":n}` on stdin, then until `untilUs` (`nowUs`) repeats: pick a permit count,
 * acquire, print `{"type":"enter","fence","permits","requested","at"}`, hold,
 * print `{"type":"exit","fence","at"}`, release. Then prints
 * `{"type":"done","holdings":n,"overran":n}` and exits (`overran`: releases that
 * found the permits gone because the holding outlived its lease, a stall). The parent may SIGKILL it at any
 * moment, typically while it holds permits. Any failure prints
 * `{"type":"error","message":...}` and exits 1. Times are `nowUs` microseconds.
 */
import { randomUUID } from 'node:crypto'
import type { LockBackend } from '@lockwork/core'
import { type BackendTarget, openBackend } from './backends.js'
import { nowUs, sleep, yieldTurn } from './clock.js'
import { emit, messages } from './worker-process.js'

/** The single argument of a semaphore-fuzz worker. */
export interface SemaphoreFuzzWorkerConfig {
  readonly target: BackendTarget
  /** The semaphore's key, as the backend receives it. */
  readonly key: string
  /** The limit the worker asks with. */
  readonly limit: number
  /** The permit counts it picks from, in turn (starting at its own offset). */
  readonly permits: readonly number[]
  /** The lease of each acquisition, in ms (never extended). */
  readonly ttlMs: number
  /** The longest time spent holding, in ms (each hold is uniform in 0..holdMs, after one yield). */
  readonly holdMs: number
  /** Which worker this is (for the permit offset). */
  readonly worker: number
}

/** A capable backend: the semaphore methods are present. */
type SemaphoreBackend = LockBackend & Required<Pick<LockBackend, 'acquirePermits' | 'releasePermits'>>

/**
 * One acquisition, retried until it succeeds: after a refusal, waits with the
 * backend's `waitForPermits` where it has one, else 2–10 ms. Returns the
 * fence and the time the successful attempt was sent.
 */
async function acquire(
  backend: SemaphoreBackend,
  config: SemaphoreFuzzWorkerConfig,
  owner: string,
  permits: number,
): Promise<{ fence: number; requested: number }> {
  for (;;) {
    const requested = nowUs()
    const result = await backend.acquirePermits(config.key, owner, permits, config.limit, config.ttlMs)
    if (result.acquired) return { fence: result.fence, requested }
    if (backend.waitForPermits !== undefined)
      await backend.waitForPermits(config.key, permits, config.limit, 2_000)
    else await sleep(2 + Math.random() * 8)
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as SemaphoreFuzzWorkerConfig
  const backend = openBackend(config.target)
  if (backend.acquirePermits === undefined || backend.releasePermits === undefined)
    throw new Error(`${backend.name} has no semaphore capability`)
  const capable = backend as SemaphoreBackend
  try {
    await capable.peekPermits?.(config.key) // connect (and create tables) before the start line
    emit({ type: 'ready' })
    let untilUs = 0
    for await (const message of messages()) {
      const go = message as { type?: unknown; untilUs?: unknown }
      if (go.type === 'go') {
        untilUs = Number(go.untilUs)
        break
      }
    }
    let holdings = 0
    let overran = 0
    for (let i = config.worker; nowUs() < untilUs; i++) {
      const permits = config.permits[i % config.permits.length] as number
      const owner = randomUUID()
      const { fence, requested } = await acquire(capable, config, owner, permits)
      emit({ type: 'enter', fence, permits, requested, at: nowUs() })
      await yieldTurn()
      const hold = Math.random() * config.holdMs
      if (hold >= 1) await sleep(hold)
      emit({ type: 'exit', fence, at: nowUs() })
      if (!(await capable.releasePermits(config.key, owner))) {
        // Only a holding that outlived its lease (a stalled process) may find its permits gone.
        const heldMs = (nowUs() - requested) / 1000
        if (heldMs < config.ttlMs)
          throw new Error(`release of fence ${fence} answered false after ${heldMs.toFixed(0)} ms`)
        overran++
      }
      holdings++
    }
    emit({ type: 'done', holdings, overran })
  } finally {
    await backend.close()
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    emit({
      type: 'error',
      message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    })
    process.exit(1)
  },
)
