import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLockwork } from '@lockwork/core'
import { readLines, startExample, stopProcess } from '@lockwork/example-test-support'
import { createSqliteBackend } from '@lockwork/sqlite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// The example's own folder: tsx reads its tsconfig.json there (legacy decorators for NestJS).
const exampleDir = fileURLToPath(new URL('../', import.meta.url))

let dir: string
let log: string
let db: string
const replicas: ChildProcess[] = []

async function startReplica(): Promise<ChildProcess> {
  const { child } = await startExample('src/main.ts', {
    cwd: exampleDir,
    ready: /ready/,
    env: { LOCKWORK_DB: db, EFFECTS_LOG: log },
    onSpawn: (spawned) => replicas.push(spawned),
  })
  return child
}

const stop = (child: ChildProcess) => stopProcess(child)

/** Every run in the log: the tick it ran for and the process that ran it. */
function runs(): Array<{ tick: number; pid: number }> {
  return readLines(log).map((line) => {
    const [, tick, pid] = line.split(' ')
    return { tick: Number(tick), pid: Number(pid) }
  })
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lockwork-nestjs-'))
  log = join(dir, 'effects.log')
  db = join(dir, 'locks.sqlite')
})

afterAll(async () => {
  for (const child of replicas)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

describe('the NestJS recipe, 3 replicas with an @ExclusiveCron job on one SQLite file', () => {
  it('each one-second tick runs exactly once across the replicas', async () => {
    const ready = await Promise.all([1, 2, 3].map(() => startReplica()))
    const allUpAt = Date.now()
    await new Promise((resolve) => setTimeout(resolve, 5_000))
    const stoppingAt = Date.now()
    // Nest's shutdown hooks stop the cron jobs and close the lockwork client, then the
    // process ends itself with the signal it got.
    const exits = await Promise.all(ready.map(stop))
    for (const exit of exits) expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true)

    const all = runs()
    // At most once, over the whole run: no tick appears twice, whichever replicas were up.
    const ticks = all.map((run) => run.tick)
    expect(new Set(ticks).size).toBe(ticks.length)
    for (const tick of ticks) expect(tick % 1000).toBe(0)
    // At least once while all three were up: every tick of that window ran (a margin at
    // each end for a replica's timer or a run under way at shutdown).
    const first = Math.ceil((allUpAt + 1_000) / 1000) * 1000
    const last = Math.floor((stoppingAt - 2_000) / 1000) * 1000
    expect(last).toBeGreaterThanOrEqual(first + 1000)
    const expected: number[] = []
    for (let tick = first; tick <= last; tick += 1000) expected.push(tick)
    expect(ticks.filter((tick) => tick >= first && tick <= last).sort((a, b) => a - b)).toEqual(expected)

    // The run lock went with the clients: nothing is left held for the job.
    const lw = createLockwork({ backend: createSqliteBackend({ path: db }), prefix: 'recipes:' })
    try {
      expect(await lw.peek('node-cron:run:report')).toBeNull()
    } finally {
      await lw.close()
    }
  }, 90_000)
})
