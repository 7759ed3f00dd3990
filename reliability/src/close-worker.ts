/**
 * A worker that uses a lockwork client the way an application does and then
 * ends it, to measure that the process exits. Run by the tests as
 * `node --import tsx --conditions=@lockwork/source close-worker.ts '<json CloseWorkerConfig>'`.
 *
 * It holds one lock (auto-extended, never released by itself), waits for a
 * second one that it frees itself (so wake-up connections are open), reads a
 * `cached` value and runs an `every` job, then by `mode`:
 *
 * - `client`: `await lw.close()`;
 * - `backend`: closes only the backend under the running job (`lw.backend.close()`).
 *
 * It prints `{"type":"closed","closeMs":n}` when that call resolved and
 * `{"type":"exit","exitMs":n}` as the process exits (both measured from the call).
 */
import { createLockwork } from '@lockwork/core'
import { type BackendTarget, openBackend } from './backends.js'
import { sleep } from './clock.js'
import { emit } from './worker-process.js'

/** The single argument of a close worker. */
export interface CloseWorkerConfig {
  readonly mode: 'client' | 'backend'
  readonly target: BackendTarget
  readonly prefix: string
}

const config = JSON.parse(process.argv[2] ?? '{}') as CloseWorkerConfig
const lw = createLockwork({ backend: openBackend(config.target), prefix: config.prefix })

await lw.acquire('held', { ttl: '30s', autoExtend: true })
const busy = await lw.acquire('busy', { ttl: '30s' })
setTimeout(() => void busy.release(), 50)
const next = await lw.acquire('busy', { wait: '10s' })
await next.release()
await lw.cached({ key: 'value', ttl: '10s' }, async () => ({ at: new Date(0) }))()
lw.every('tick', { interval: 100, runOnStart: true }, async () => {
  await sleep(5)
})
await sleep(250)

const started = performance.now()
process.on('exit', () => emit({ type: 'exit', exitMs: performance.now() - started }))
if (config.mode === 'client') await lw.close()
else await lw.backend.close()
emit({ type: 'closed', closeMs: performance.now() - started })
