/**
 * A replica running one `every` job, for the tick fault tests. Run as
 * `node --import tsx --conditions=@lockwork/source every-worker.ts '<json EveryWorkerConfig>'`.
 *
 * Prints `{"type":"ready"}` once the job is started, then
 * `{"type":"run","scheduledAt":ms,"at":ms}` for every tick it runs and
 * `{"type":"late","scheduledAt":ms,"lateMs":ms}` for every tick it skips as
 * too late. Times are wall-clock ms since the epoch, like `scheduledAt`.
 */
import { createLockwork } from '@lockwork/core'
import { type BackendTarget, openBackend } from './backends.js'
import { emit } from './worker-process.js'

/** The single argument of an `every` replica. */
export interface EveryWorkerConfig {
  readonly target: BackendTarget
  readonly prefix: string
  readonly name: string
  readonly intervalMs: number
}

/** A message an `every` replica prints. */
export type EveryWorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'run'; readonly scheduledAt: number; readonly at: number }
  | { readonly type: 'late'; readonly scheduledAt: number; readonly lateMs: number }
  | { readonly type: 'failed'; readonly scheduledAt: number; readonly message: string }

function main(): void {
  const config = JSON.parse(process.argv[2] ?? '') as EveryWorkerConfig
  const lw = createLockwork({ backend: openBackend(config.target), prefix: config.prefix })
  lw.every(
    config.name,
    {
      interval: config.intervalMs,
      onError: (error, tick) =>
        emit({ type: 'failed', scheduledAt: tick.scheduledAt, message: String(error) }),
      onLate: (tick, lateMs) => emit({ type: 'late', scheduledAt: tick.scheduledAt, lateMs }),
    },
    (_signal, tick) => emit({ type: 'run', scheduledAt: tick.scheduledAt, at: Date.now() }),
  )
  emit({ type: 'ready' })
}

main()
