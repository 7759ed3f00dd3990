/**
 * A replica campaigning for one leadership, for the leader fault tests. Run as
 * `node --import tsx --conditions=@lockwork/source lead-worker.ts '<json LeadWorkerConfig>'`.
 *
 * Prints `{"type":"ready"}` once campaigning, then `{"type":"start",...}` when
 * its term starts and `{"type":"end",...}` the moment the term's signal
 * aborts. Times are absolute µs (`performance.timeOrigin + performance.now()`),
 * comparable across processes on one machine.
 */
import { createLockwork } from '@lockwork/core'
import { type BackendTarget, openBackend } from './backends.js'
import { emit } from './worker-process.js'

/** The single argument of a leader replica. */
export interface LeadWorkerConfig {
  readonly target: BackendTarget
  readonly prefix: string
  readonly name: string
  readonly ttlMs: number
}

/** A message a leader replica prints. */
export type LeadWorkerMessage =
  | { readonly type: 'ready'; readonly pid: number }
  | { readonly type: 'start'; readonly pid: number; readonly fence: number; readonly atUs: number }
  | { readonly type: 'end'; readonly pid: number; readonly fence: number; readonly atUs: number }
  | { readonly type: 'failed'; readonly pid: number; readonly message: string }

const nowUs = (): number => (performance.timeOrigin + performance.now()) * 1000

function main(): void {
  const config = JSON.parse(process.argv[2] ?? '') as LeadWorkerConfig
  const lw = createLockwork({ backend: openBackend(config.target), prefix: config.prefix })
  const pid = process.pid
  lw.lead(
    config.name,
    (signal, term) => {
      emit({ type: 'start', pid, fence: term.fence, atUs: nowUs() })
      return new Promise<void>((resolve) => {
        signal.addEventListener(
          'abort',
          () => {
            emit({ type: 'end', pid, fence: term.fence, atUs: nowUs() })
            resolve()
          },
          { once: true },
        )
      })
    },
    {
      ttl: config.ttlMs,
      pause: 100,
      onError: (error) => emit({ type: 'failed', pid, message: String(error) }),
    },
  )
  emit({ type: 'ready', pid })
}

main()
