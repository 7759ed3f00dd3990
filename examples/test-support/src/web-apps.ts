import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type ExampleProcess,
  type ProcessExit,
  readLines,
  startExample,
  stopProcess,
} from './example-process.js'

/** A web app example run as several processes on one SQLite file. */
export interface WebApps {
  /** Each process and the port it listens on, in start order. */
  readonly apps: ReadonlyArray<{ readonly child: ExampleProcess['child']; readonly port: number }>
  /** The lines the apps wrote to their shared effects log (one per side effect). */
  effects(): string[]
  /** SIGTERMs every process, waits for each to exit, deletes the temp folder; resolves with how each ended. */
  stop(): Promise<ProcessExit[]>
}

/**
 * Starts `count` processes of a web app example (`mainFile`), each told
 * `PORT=0`, one shared SQLite file (`LOCKWORK_DB`) and one shared effects log
 * (`EFFECTS_LOG`) in a new temp folder, and resolves once each has printed
 * `listening <port>`.
 */
export async function startWebApps(mainFile: string, count: number): Promise<WebApps> {
  const dir = mkdtempSync(join(tmpdir(), 'lockwork-recipe-'))
  const log = join(dir, 'effects.log')
  const env = { PORT: '0', LOCKWORK_DB: join(dir, 'locks.sqlite'), EFFECTS_LOG: log }
  const started = await Promise.all(
    Array.from({ length: count }, () => startExample(mainFile, { ready: /listening (\d+)/, env })),
  )
  const apps = started.map(({ child, ready }) => ({ child, port: Number(ready[1]) }))
  return {
    apps,
    effects: () => readLines(log),
    stop: async () => {
      const exits = await Promise.all(apps.map(({ child }) => stopProcess(child)))
      rmSync(dir, { recursive: true, force: true })
      return exits
    },
  }
}
