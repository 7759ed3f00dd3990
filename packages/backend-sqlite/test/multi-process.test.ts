import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSqliteBackend } from '../src/index.js'
import { runTogether, runWorker, spawnWorker } from './fixtures/spawn-worker.js'

let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lockwork-sqlite-mp-'))
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

describe('sqlite: several processes on one file', () => {
  it('4 processes × 500 read-modify-write sections → exactly 2,000, fences increasing, no overlap', async () => {
    const work = mkdtempSync(join(dir, 'rmw-'))
    const db = join(work, 'locks.sqlite')
    writeFileSync(join(work, 'counter.json'), JSON.stringify({ count: 0, lastFence: 0 }))

    const started = performance.now()
    const results = await Promise.all(
      [1, 2, 3, 4].map(() => runWorker<{ violations: number }>(['rmw', db, work, '500'])),
    )
    const seconds = (performance.now() - started) / 1000

    const counter = JSON.parse(readFileSync(join(work, 'counter.json'), 'utf8')) as { count: number }
    const fences = readFileSync(join(work, 'fences.log'), 'utf8').trim().split('\n').map(Number)
    console.info(`rmw: count ${counter.count}, ${fences.length} sections in ${seconds.toFixed(1)} s`)

    expect(results.map((r) => r.violations)).toEqual([0, 0, 0, 0])
    expect(counter.count).toBe(2_000)
    expect(fences).toHaveLength(2_000)
    for (let i = 1; i < fences.length; i++) {
      if (!((fences[i] ?? 0) > (fences[i - 1] ?? 0))) {
        throw new Error(`fence ${fences[i]} entered after ${fences[i - 1]} (section ${i})`)
      }
    }
  }, 180_000)

  it('semaphore: 4 processes × 150 sections under a limit of 2 → never 3 inside, fences unique and rising per process', async () => {
    const work = mkdtempSync(join(dir, 'sem-'))
    const db = join(work, 'locks.sqlite')
    const results = await Promise.all(
      [1, 2, 3, 4].map(() =>
        runWorker<{ violations: number; fences: number[] }>(['semaphore', db, work, '150', '2']),
      ),
    )
    const all = results.flatMap((r) => r.fences)
    console.info(`semaphore: ${all.length} sections, highest fence ${Math.max(...all)}`)
    expect(results.map((r) => r.violations)).toEqual([0, 0, 0, 0])
    expect(new Set(all).size).toBe(600)
    for (const { fences } of results) {
      for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1] ?? 0)
    }
  }, 180_000)

  it('a release in another process wakes a parked waiter through the wake file, long before its next poll', async () => {
    const db = join(dir, 'wake.sqlite')
    const key = `wake:${randomUUID()}`
    const holder = spawnWorker(['holder', db, key])
    // Polls only as a last resort: after 3 s parked, the next one is 1–4 s away.
    const backend = createSqliteBackend({ path: db, pollMax: '1h' })
    let peeks = 0
    const peek = backend.peek.bind(backend)
    backend.peek = (k) => {
      peeks++
      return peek(k)
    }
    try {
      const latenciesMs: number[] = []
      for (let round = 0; round < 3; round++) {
        holder.child.stdin?.write('take\n')
        const { fence } = JSON.parse(await holder.nextLine()) as { fence: number }
        expect(fence).toBeGreaterThanOrEqual(1)
        peeks = 0
        const woke = backend
          .waitForRelease(key, 60_000)
          .then(() => performance.timeOrigin + performance.now())
        await new Promise((resolve) => setTimeout(resolve, 3_000))
        const idlePeeks = peeks
        holder.child.stdin?.write('release\n')
        const { releasedAt } = JSON.parse(await holder.nextLine()) as { releasedAt: number }
        const latencyMs = (await woke) - releasedAt / 1000
        latenciesMs.push(latencyMs)
        // The poll pause doubles from 1 ms: about a dozen looks in 3 s, none after the ramp.
        expect(idlePeeks).toBeLessThanOrEqual(15)
      }
      console.info(
        `wake file: woken ${latenciesMs.map((ms) => ms.toFixed(1)).join(', ')} ms after the release`,
      )
      for (const ms of latenciesMs) expect(ms).toBeLessThan(500)
      expect(existsSync(`${db}-wake`)).toBe(true)
    } finally {
      holder.child.stdin?.end()
      await holder.exited
      await backend.close()
    }
  }, 60_000)

  it('a holder killed with SIGKILL: another process takes the lock within ttl + 1 s', async () => {
    const db = join(dir, 'sigkill.sqlite')
    const ttlMs = 3_000
    const key = `victim:${randomUUID()}`
    const holder = spawnWorker(['hold', db, key, String(ttlMs)])
    const { fence } = JSON.parse(await holder.nextLine()) as { fence: number | null }
    expect(fence).toBeGreaterThanOrEqual(1)

    const backend = createSqliteBackend({ path: db })
    try {
      const owner = randomUUID()
      const refused = await backend.acquire(key, owner, ttlMs)
      expect(refused.acquired).toBe(false)

      const killedAt = performance.now()
      holder.child.kill('SIGKILL')
      expect((await holder.exited).signal).toBe('SIGKILL')

      let taken: number | undefined
      while (performance.now() - killedAt < ttlMs + 5_000) {
        const result = await backend.acquire(key, owner, ttlMs)
        if (result.acquired) {
          taken = result.fence
          break
        }
        await backend.waitForRelease(key, result.holder.remainingMs)
      }
      const takeoverMs = performance.now() - killedAt
      console.info(`sigkill: taken over ${takeoverMs.toFixed(0)} ms after the kill (ttl ${ttlMs} ms)`)
      expect(taken).toBeGreaterThan(fence ?? 0)
      expect(takeoverMs).toBeLessThanOrEqual(ttlMs + 1_000)
    } finally {
      holder.child.kill('SIGKILL')
      await backend.close()
    }
  }, 60_000)

  it('the event loop stays free (max delay < 50 ms on a quiet machine) while 4 processes contend with a write-lock hog', async () => {
    const db = join(dir, 'event-loop.sqlite')
    const durationMs = 4_000
    // Create the file and schema first, so start-up is not part of the race.
    const setup = createSqliteBackend({ path: db })
    await setup.peek('setup')
    await setup.close()

    type Result = {
      maxMs: number
      ops: number
      slowOps: number
      sqliteMaxMs: number
      slowest: string
      holds: number
    }
    const contend = ['contend', db, String(durationMs)]
    const round = async (): Promise<{ results: Result[]; holds: number; control: Result }> => {
      const all = await runTogether<Result>([
        contend,
        contend,
        contend,
        contend,
        ['hog', db, String(durationMs)],
        // The control: plain better-sqlite3 (5 s busy timeout) on the same file under the same hog.
        ['naive', db, String(durationMs - 1_000)],
      ])
      return { results: all.slice(0, 4), holds: all[4]!.holds, control: all[5]! }
    }

    // A process's event-loop delay also counts the time the OS did not run it
    // at all, which on a loaded shared machine exceeds 50 ms by itself (all
    // four processes then stall together, and even a 5 ms sleep inside SQLite
    // wakes late). So every round must show the backend never waits out the
    // hog's 300 ms hold inside SQLite, and one of up to five rounds must keep
    // every contender's event-loop delay under 50 ms end to end (100 ms when
    // every round ran on a machine so loaded that the OS stalled the processes
    // themselves: still a third of one hold, which a blocking call would wait out).
    const rounds: number[] = []
    for (let attempt = 1; attempt <= 5; attempt++) {
      const { results, holds, control } = await round()
      const maxMs = Math.max(...results.map((r) => r.maxMs))
      rounds.push(maxMs)
      console.info(
        `event loop, round ${attempt}: lockwork max delay ` +
          `${results.map((r) => r.maxMs.toFixed(1)).join(' / ')} ms, longest SQLite call ` +
          `${results.map((r) => r.sqliteMaxMs.toFixed(1)).join(' / ')} ms; ` +
          `${results.map((r) => `${r.ops} ops, ${r.slowOps} waited`).join('; ')}; ` +
          `hog held the write lock ${holds}× 300 ms; plain better-sqlite3: max delay ` +
          `${control.maxMs.toFixed(0)} ms, longest call ${control.sqliteMaxMs.toFixed(0)} ms`,
      )

      expect(holds).toBeGreaterThan(3)
      for (const result of results) {
        // Progress, not speed: at a load average of 30 a contender managed 48 operations in a round.
        expect(result.ops).toBeGreaterThan(10)
        expect(result.sqliteMaxMs, result.slowest).toBeLessThan(150)
      }
      // The contenders really waited for the hog, asynchronously, while the control stalled in SQLite.
      expect(results.reduce((sum, r) => sum + r.slowOps, 0)).toBeGreaterThan(0)
      expect(control.sqliteMaxMs).toBeGreaterThan(200)
      if (maxMs < 50) break
    }
    expect(Math.min(...rounds)).toBeLessThan(100)
  }, 240_000)
})
