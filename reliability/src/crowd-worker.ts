/**
 * A crowd worker process. Run by the tests as
 * `node --import tsx --conditions=@lockwork/source crowd-worker.ts '<json CrowdWorkerConfig>'`.
 *
 * Opens the backend, prints `{"type":"ready"}`, waits for `{"type":"go"}` on
 * stdin, runs {@link runCrowd} and prints `{"type":"done","result":CrowdResult}`
 * (or, with `loopsForMs`, {@link runLoops} and a `LoopsResult`).
 */
import { type BackendTarget, openBackend } from './backends.js'
import { type CrowdPlan, runCrowd, runLoops } from './crowd.js'
import { emit, messages } from './worker-process.js'

/** The single argument of a crowd worker. */
export interface CrowdWorkerConfig {
  readonly target: BackendTarget
  readonly plan: CrowdPlan
  /** With a duration: sustained loops ({@link runLoops}) instead of one crowd. */
  readonly loopsForMs?: number
  /** The worker's number in the recorded sections. */
  readonly worker: number
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as CrowdWorkerConfig
  const backend = openBackend(config.target)
  // Open connections before the start, so the crowd measures waiting, not connecting.
  await backend.peek(`${config.plan.prefix}warm-up`)
  emit({ type: 'ready' })
  for await (const message of messages()) {
    if ((message as { type?: unknown }).type !== 'go') continue
    const result =
      config.loopsForMs === undefined
        ? await runCrowd(backend, config.plan, config.worker)
        : await runLoops(backend, { ...config.plan, durationMs: config.loopsForMs })
    emit({ type: 'done', result })
    break
  }
  await backend.close()
  process.exit(0)
}

main().catch((error: unknown) => {
  emit({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) })
  process.exit(1)
})
