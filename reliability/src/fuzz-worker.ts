/**
 * A contention-fuzz worker process. Run by the tests as
 * `node --import tsx --conditions=@lockwork/source fuzz-worker.ts '<json FuzzWorkerConfig>'`.
 *
 * Protocol (JSON lines): prints `{"type":"ready"}` once connected, waits for
 * `{"type":"go"}` on stdin (so all workers start together), runs its
 * sections, prints `{"type":"done","sections":[[fence,enter,exit],...],"ms":n}`
 * and exits. Any failure prints `{"type":"error","message":...}` and exits 1.
 */
import { createLockwork } from '@lockwork/core'
import { type BackendTarget, openBackend } from './backends.js'
import { type FuzzPlan, fileCounter, runSections } from './fuzz.js'
import { emit, messages, runWorkerMain } from './worker-process.js'

/** The single argument of a fuzz worker. */
export interface FuzzWorkerConfig extends FuzzPlan {
  readonly target: BackendTarget
  /** The lockwork prefix. */
  readonly prefix: string
  /** The file holding the shared counter. */
  readonly counterFile: string
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as FuzzWorkerConfig
  const backend = openBackend(config.target)
  const lw = createLockwork({ backend, prefix: config.prefix })
  try {
    await lw.peek(config.key) // connect (and create tables) before the start line
    emit({ type: 'ready' })
    for await (const message of messages()) {
      if ((message as { type?: unknown }).type === 'go') break
    }
    const started = performance.now()
    const sections = await runSections(lw, fileCounter(config.counterFile), config)
    emit({ type: 'done', sections, ms: performance.now() - started })
  } finally {
    await backend.close()
  }
}

runWorkerMain(main)
