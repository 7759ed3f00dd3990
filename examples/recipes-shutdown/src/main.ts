/**
 * A worker process that holds locks and runs an `every` job, and shuts down
 * gracefully on SIGTERM. Environment: `LOCKWORK_DB` (default
 * `.lockwork.sqlite`), `EFFECTS_LOG` (default `effects.log`). Prints `ready`
 * once it holds the import lock and its heartbeat job is running.
 */
import { appendFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { createLockwork } from '@lockwork/core'
import { createSqliteBackend } from '@lockwork/sqlite'
import { handleShutdown } from './graceful-shutdown.js'

const effectsLog = process.env.EFFECTS_LOG ?? 'effects.log'
const log = (line: string): void => appendFileSync(effectsLog, `${line} ${process.pid}\n`)

const lw = createLockwork({
  backend: createSqliteBackend({ path: process.env.LOCKWORK_DB ?? '.lockwork.sqlite' }),
  prefix: 'recipes:',
  // Long leases on purpose: whoever takes these keys after this process must get them
  // because it released them, not because a minute went by.
  defaultTtl: '60s',
})

/** Sleeps `ms`, or less if `signal` aborts first; never throws. */
const pause = (ms: number, signal: AbortSignal): Promise<unknown> =>
  sleep(ms, undefined, { signal }).catch(() => undefined)

let importRun: Promise<void> | undefined
const stopping = handleShutdown(lw, {
  // Our own work first: the import sees `stopping` abort, finishes its batch and releases its lock.
  drain: async () => {
    await importRun
  },
})

// An `every` job whose runs last a while; lw.close() aborts the run in progress and waits for it.
let heartbeatStarted: () => void = () => {}
const heartbeatRunning = new Promise<void>((resolve) => {
  heartbeatStarted = resolve
})
lw.every('heartbeat', { interval: '500ms', runOnStart: true }, async (signal) => {
  log('heartbeat start')
  heartbeatStarted()
  await pause(30_000, signal)
  log(signal.aborted ? 'heartbeat aborted' : 'heartbeat done')
})

// A long job under a lock: batches until the process is asked to stop.
const importLock = await lw.acquire('import:daily', { wait: '5s' })
importRun = (async () => {
  let batches = 0
  try {
    const signal = AbortSignal.any([stopping, importLock.signal])
    while (!signal.aborted) {
      batches++
      await pause(100, signal) // one batch
    }
  } finally {
    await importLock.release()
    log(`import stopped after ${batches} batches`)
  }
})()

await heartbeatRunning
console.log('ready')
