/**
 * A lock-holding worker process for the fault tests. Run by the tests as
 * `node --import tsx --conditions=@lockwork/source holder-worker.ts '<json HolderWorkerConfig>'`.
 *
 * It acquires `key` (auto-extended), prints `{"type":"acquired","fence":n,"owner":s,"at":µs}`
 * and then, by `mode`:
 *
 * - `hold`: idles until killed (the SIGKILL test).
 * - `work`: acts on the protected resource every `actEveryMs`: before each
 *   act it checks `lock.signal`; while held it prints
 *   `{"type":"act","fence":n,"at":µs,"remainingMs":n}` (a write the parent applies to a
 *   fenced store), and once the signal has aborted it prints
 *   `{"type":"lost","name":..,"code":..,"reason":..,"at":µs}` and stops
 *   acting. On `{"type":"write-anyway"}` from stdin it prints one more act
 *   with its (stale) fence regardless, as a write already in flight would.
 *   Also prints `{"type":"aborted",...}` from the signal's abort event.
 *
 * Times are {@link nowUs} microseconds (the machine's monotonic clock).
 */
import { createLockwork, LockLostError } from '@lockwork/core'
import { type BackendTarget, openBackend } from './backends.js'
import { nowUs, sleep } from './clock.js'
import { emit, messages } from './worker-process.js'

/** The single argument of a holder worker. */
export interface HolderWorkerConfig {
  readonly mode: 'hold' | 'work'
  readonly target: BackendTarget
  readonly prefix: string
  readonly key: string
  readonly ttlMs: number
  /** `work` mode: the pause between two acts, in ms. */
  readonly actEveryMs?: number
}

/** A `lost` or `aborted` message. */
export interface LostMessage {
  readonly type: 'lost' | 'aborted'
  readonly name: string
  readonly code: string
  readonly reason: string
  readonly at: number
}

function describeLoss(type: LostMessage['type'], reason: unknown): LostMessage {
  const lost = reason instanceof LockLostError
  return {
    type,
    name: reason instanceof Error ? reason.name : typeof reason,
    code: lost ? reason.code : '',
    reason: lost ? reason.reason : String(reason),
    at: nowUs(),
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as HolderWorkerConfig
  const lw = createLockwork({ backend: openBackend(config.target), prefix: config.prefix })
  const lock = await lw.acquire(config.key, { ttl: config.ttlMs, wait: '30s', autoExtend: true })
  emit({ type: 'acquired', fence: lock.fence, owner: lock.owner, at: nowUs() })
  if (config.mode === 'hold') {
    setInterval(() => {}, 60_000)
    return
  }
  const signal = lock.signal
  signal.addEventListener('abort', () => emit(describeLoss('aborted', signal.reason)), { once: true })
  void (async () => {
    for await (const message of messages()) {
      if ((message as { type?: unknown }).type === 'write-anyway') {
        emit({ type: 'act', fence: lock.fence, at: nowUs(), forced: true })
      }
    }
  })()
  const every = config.actEveryMs ?? 20
  for (;;) {
    await sleep(every)
    if (lock.signal.aborted) {
      emit(describeLoss('lost', lock.signal.reason))
      break
    }
    emit({ type: 'act', fence: lock.fence, at: nowUs(), remainingMs: lock.remainingMs })
  }
  setInterval(() => {}, 60_000)
}

main().catch((error: unknown) => {
  emit({ type: 'error', message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) })
  process.exit(1)
})
