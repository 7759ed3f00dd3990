import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLockwork, type Lockwork } from '@lockwork/core'
import { exitOf as exited, readLines, startExample } from '@lockwork/example-test-support'
import { createSqliteBackend } from '@lockwork/sqlite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const mainFile = fileURLToPath(new URL('../src/main.ts', import.meta.url))

let dir: string
let log: string
let db: string
let other: Lockwork
const children: ChildProcess[] = []

async function startWorker(): Promise<ChildProcess> {
  const { child } = await startExample(mainFile, {
    ready: /ready/,
    env: { LOCKWORK_DB: db, EFFECTS_LOG: log },
    onSpawn: (spawned) => children.push(spawned),
  })
  return child
}

function effects(pid: number | undefined): string[] {
  return readLines(log).filter((line) => line.endsWith(` ${pid}`))
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lockwork-shutdown-'))
  log = join(dir, 'effects.log')
  db = join(dir, 'locks.sqlite')
  other = createLockwork({ backend: createSqliteBackend({ path: db }), prefix: 'recipes:' })
})

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await Promise.all(children.map(exited))
  await other.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('graceful shutdown on SIGTERM', () => {
  it('the worker exits 0 promptly and another process takes its keys at once, not at ttl expiry', async () => {
    const worker = await startWorker()
    const held = await other.peek('import:daily')
    expect(held?.remainingMs).toBeGreaterThan(30_000) // a 60 s lease: expiry cannot explain what follows

    const sentAt = performance.now()
    worker.kill('SIGTERM')
    const [lock, exit] = await Promise.all([
      other.acquire('import:daily', { wait: '30s' }).then((l) => ({ l, ms: performance.now() - sentAt })),
      exited(worker).then((e) => ({ ...e, ms: performance.now() - sentAt })),
    ])
    expect(exit.code).toBe(0)
    expect(exit.ms).toBeLessThan(10_000)
    expect(lock.ms).toBeLessThan(10_000)
    await lock.l.release()
    const lines = effects(worker.pid)
    expect(lines.some((line) => line.startsWith('import stopped after '))).toBe(true)
    // lw.close() aborted the heartbeat run in progress (it would have slept 30 s) and waited for it.
    expect(lines.filter((line) => line.startsWith('heartbeat aborted'))).toHaveLength(1)
    expect(lines.some((line) => line.startsWith('heartbeat done'))).toBe(false)

    // The heartbeat's run lock (60 s lease) was released too: the job runs here within a few ticks.
    const startedAt = performance.now()
    const ranHere = await new Promise<number>((resolve) => {
      const job = other.every('heartbeat', { interval: '500ms', runOnStart: true }, () => {
        resolve(performance.now() - startedAt)
        void job.stop()
      })
    })
    expect(ranHere).toBeLessThan(10_000)
  })

  it('for contrast, a SIGKILLed worker leaves its lock held until the lease expires', async () => {
    const worker = await startWorker()
    worker.kill('SIGKILL')
    expect((await exited(worker)).signal).toBe('SIGKILL')
    const held = await other.peek('import:daily')
    expect(held?.remainingMs).toBeGreaterThan(30_000)
    expect(await other.tryAcquire('import:daily')).toBeNull()
    await other.forceRelease('import:daily')
  })
})
