import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { createLockwork, InvalidArgumentError } from '@lockwork/core'
import { createMemoryBackend } from '@lockwork/memory'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lockworkCoordinator } from '../src/index.js'

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
const workerFile = fileURLToPath(new URL('./fixtures/cron-worker.ts', import.meta.url))

interface Replica {
  readonly child: ChildProcess
  /** Resolves with the first stdout line starting with `prefix`. */
  readonly line: (prefix: string) => Promise<string>
  readonly exited: Promise<number | null>
}

function startReplica(args: readonly string[]): Replica {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@lockwork/source', workerFile, ...args],
    { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] },
  )
  let out = ''
  const waiters: Array<() => void> = []
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => {
    out += chunk
    for (const wake of waiters.splice(0)) wake()
  })
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  const line = async (prefix: string): Promise<string> => {
    for (;;) {
      const found = out.split('\n').find((l) => l.startsWith(prefix))
      if (found !== undefined) return found
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`replica exited before "${prefix}"`)
      await new Promise<void>((resolve) => {
        waiters.push(resolve)
        setTimeout(resolve, 200)
      })
    }
  }
  return { child, line, exited }
}

interface Entry {
  readonly kind: 'start' | 'end'
  readonly worker: string
  readonly tick: number
  readonly at: number
}

function readLog(path: string): Entry[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [kind, worker = '', tick = '', at = ''] = line.split(' ')
      return { kind: kind === 'end' ? 'end' : 'start', worker, tick: Date.parse(tick), at: Number(at) }
    })
}

/** Every run's [start, end] interval, by tick; `end` is Infinity for a run that never ended. */
function runsOf(
  entries: readonly Entry[],
): Array<{ tick: number; worker: string; start: number; end: number }> {
  return entries
    .filter((e) => e.kind === 'start')
    .map((s) => ({
      tick: s.tick,
      worker: s.worker,
      start: s.at,
      end:
        entries.find((e) => e.kind === 'end' && e.tick === s.tick && e.worker === s.worker)?.at ?? Infinity,
    }))
}

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lockwork-node-cron-'))
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

describe('lockworkCoordinator with node-cron, 3 processes on one SQLite file', () => {
  it('a per-second task: each tick runs exactly once across the 3, runs never overlap', async () => {
    const db = join(dir, 'ticks.sqlite')
    const log = join(dir, 'ticks.log')
    const replicas = ['a', 'b', 'c'].map((id) => startReplica([db, log, id, 'normal']))
    await Promise.all(replicas.map((r) => r.line('ready')))
    const from = Date.now()
    await sleep(7_000)
    const to = Date.now()
    for (const r of replicas) r.child.stdin?.end()
    expect(await Promise.all(replicas.map((r) => r.exited))).toEqual([0, 0, 0])

    const runs = runsOf(readLog(log))
    // Every whole second after all 3 were scheduled, up to a second before they stopped.
    const expected: number[] = []
    for (let t = Math.ceil((from + 1) / 1000) * 1000; t <= to - 1_000; t += 1000) expected.push(t)
    const ran = runs.map((r) => r.tick)
    console.info(
      `node-cron: ${runs.length} runs over ${expected.length} ticks, by worker ${JSON.stringify(
        Object.fromEntries(['a', 'b', 'c'].map((w) => [w, runs.filter((r) => r.worker === w).length])),
      )}`,
    )
    expect(expected.length).toBeGreaterThanOrEqual(5)
    for (const tick of expected) expect(ran.filter((t) => t === tick)).toHaveLength(1)
    expect(new Set(ran).size).toBe(ran.length)
    const ordered = [...runs].sort((x, y) => x.start - y.start)
    for (let i = 1; i < ordered.length; i++) {
      expect(ordered[i]?.start).toBeGreaterThanOrEqual(ordered[i - 1]?.end ?? Infinity)
    }
  }, 60_000)

  it('a replica killed mid-run: its tick is not run again, later ticks wait out the run lease, then run once each', async () => {
    const db = join(dir, 'crash.sqlite')
    const log = join(dir, 'crash.log')
    const replicas = ['a', 'b', 'c'].map((id) => startReplica([db, log, id, 'crash']))
    await Promise.all(replicas.map((r) => r.line('ready')))
    const running = await Promise.race(
      replicas.map(async (r) => ({ r, tick: Date.parse((await r.line('running ')).slice(8)) })),
    )
    running.r.child.kill('SIGKILL')
    const killedAt = Date.now()
    await running.r.exited
    await sleep(6_000)
    const survivors = replicas.filter((r) => r !== running.r)
    for (const r of survivors) r.child.stdin?.end()
    expect(await Promise.all(survivors.map((r) => r.exited))).toEqual([0, 0])

    const runs = runsOf(readLog(log))
    const ran = runs.map((r) => r.tick)
    // The killed run's tick started once and never ended; no one ran it again.
    expect(runs.filter((r) => r.tick === running.tick)).toEqual([expect.objectContaining({ end: Infinity })])
    expect(new Set(ran).size).toBe(ran.length)
    // The run lock (ttl 2 s) outlives the killed process: no run starts before it expires ...
    const after = runs.filter((r) => r.tick !== running.tick)
    for (const r of after) expect(r.start).toBeGreaterThanOrEqual(killedAt)
    // ... then the task runs again, once per tick.
    console.info(
      `node-cron crash: first run after the kill ${Math.min(...after.map((r) => r.start)) - killedAt} ms later`,
    )
    expect(after.length).toBeGreaterThanOrEqual(2)
  }, 60_000)
})

describe('lockworkCoordinator: arguments', () => {
  it('refuses bad options at once, and a task without a name at its first tick', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    expect(() => lockworkCoordinator(lw, { ttl: '1x' as never })).toThrow(InvalidArgumentError)
    expect(() => lockworkCoordinator(lw, { holdFor: '10s', maxLateness: '10s' })).toThrow(/shorter/)
    const coordinator = lockworkCoordinator(lw)
    const tick = new Date().toISOString()
    await expect(
      coordinator.shouldRun(`0c1f3a52-7d4e-4b8a-9f1e-2a3b4c5d6e7f:${tick}`, 30_000),
    ).rejects.toThrow(/no name/)
    await expect(coordinator.shouldRun('report', 30_000)).rejects.toThrow(InvalidArgumentError)
    await expect(coordinator.shouldRun(`report:${tick}`, 30_000)).resolves.toBe(true)
    // The same tick again (a second replica, or a late one): refused while the claim lives.
    await expect(coordinator.shouldRun(`report:${tick}`, 30_000)).resolves.toBe(false)
    await coordinator.onComplete?.(`report:${tick}`)
    await expect(coordinator.shouldRun(`report:${tick}`, 30_000)).resolves.toBe(false)
    await lw.close()
  })

  it('skips a tick it reaches later than maxLateness, and reports it to onLate', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    const late: number[] = []
    const coordinator = lockworkCoordinator(lw, {
      maxLateness: '1s',
      onLate: (_tick, lateMs) => late.push(lateMs),
    })
    const tick = new Date(Date.now() - 5_000).toISOString()
    await expect(coordinator.shouldRun(`report:${tick}`, 30_000)).resolves.toBe(false)
    expect(late).toHaveLength(1)
    expect(late[0]).toBeGreaterThanOrEqual(5_000)
    await lw.close()
  })

  it('a run in progress makes the next tick skip (no overlap)', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    const coordinator = lockworkCoordinator(lw)
    const now = Math.floor(Date.now() / 1000) * 1000
    const first = `report:${new Date(now).toISOString()}`
    const second = `report:${new Date(now + 1000).toISOString()}`
    await expect(coordinator.shouldRun(first, 30_000)).resolves.toBe(true)
    await expect(coordinator.shouldRun(second, 30_000)).resolves.toBe(false)
    await coordinator.onComplete?.(first)
    const third = `report:${new Date(now + 2000).toISOString()}`
    // Scheduled in the future: not late, and the run lock is free again.
    await expect(coordinator.shouldRun(third, 30_000)).resolves.toBe(true)
    await coordinator.onComplete?.(third)
    await lw.close()
  })
})
