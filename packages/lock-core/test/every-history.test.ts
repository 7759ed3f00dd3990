import { createMemoryBackend, MemoryStore } from '@lockwork/memory'
import { describe, expect, it } from 'vitest'
import {
  BackendError,
  createLockwork,
  InvalidArgumentError,
  type JobRun,
  type LockBackend,
  type Lockwork,
  MAX_INDEXED_JOBS,
  MAX_JOB_ERROR_LENGTH,
  MIN_JOB_HISTORY_RETENTION_MS,
} from '../src/index.js'
import { historyKey } from '../src/job-history.js'
import { JobHistoryWriter, mergeRuns } from '../src/job-history-writer.js'

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function clients(n: number, backend?: (store: MemoryStore) => LockBackend): Lockwork[] {
  const store = new MemoryStore()
  return Array.from({ length: n }, (_, i) =>
    createLockwork({
      backend: backend?.(store) ?? createMemoryBackend({ store }),
      prefix: 'p:',
      label: `replica-${i}`,
    }),
  )
}

/** Waits until just after a multiple of `ms` since the epoch, so a test's ticks are predictable. */
async function alignTo(ms: number, offset = 20): Promise<void> {
  const now = Date.now()
  await delay(Math.ceil(now / ms) * ms + offset - now)
}

/** Polls `check` until it returns true; fails after `timeoutMs`. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await delay(20)
  }
}

describe('every history', () => {
  it('records each run with who ran it, when and for how long; lw.jobs() lists the job', async () => {
    const [lw] = clients(1)
    const ran: number[] = []
    await alignTo(100)
    const job = lw!.every('report', { interval: 100 }, async (_signal, tick) => {
      ran.push(tick.scheduledAt)
      await delay(20)
    })
    // The job is listed from its start, before any tick.
    await until('the job to be listed', async () => (await lw!.jobs()).length === 1)
    await until('two runs', () => ran.length >= 2)
    await job.stop()

    // A loaded machine may fire a timer past maxLateness: that tick is recorded as skipped (late).
    const runs = (await job.history()).filter((run) => run.outcome === 'ran')
    expect(runs.map((run) => run.scheduledAt)).toEqual([...ran].reverse())
    for (const run of runs) {
      expect(run.label.name).toBe('replica-0')
      expect(run.label.pid).toBe(process.pid)
      expect(run.startedAt).toBeGreaterThanOrEqual(run.scheduledAt)
      expect(run.durationMs).toBeGreaterThanOrEqual(15)
      expect(run.error).toBeUndefined()
    }
    const [summary] = await lw!.jobs()
    expect(summary).toMatchObject({ name: 'report', schedule: { kind: 'interval', intervalMs: 100 } })
    expect(summary?.lastRun).toEqual(summary?.runs[0])
    expect(summary?.runs.filter((run) => run.outcome === 'ran')).toEqual(runs)
    expect(summary?.nextRunAt).toBeGreaterThan(runs[0]!.scheduledAt)
    expect(summary?.running).toBeUndefined()
    expect(await lw!.jobHistory('report')).toEqual(summary?.runs)
    expect(await lw!.jobHistory('never-ran')).toEqual([])
    await lw!.close()
  })

  it('keeps the last `history` runs, newest first, in an entry that lives at least 7 days', async () => {
    const store = new MemoryStore()
    const backend = createMemoryBackend({ store })
    const lw = createLockwork({ backend, prefix: 'p:' })
    let runs = 0
    const job = lw.every(
      'often',
      { cron: '* * * * * *', timezone: 'UTC', history: 3, runOnStart: true },
      () => void runs++,
    )
    await until('5 runs', () => runs >= 5, 15_000)
    await job.stop()
    const history = await job.history()
    expect(history).toHaveLength(3)
    expect(history[0]!.scheduledAt).toBeGreaterThan(history[1]!.scheduledAt)
    expect(history[1]!.scheduledAt).toBeGreaterThan(history[2]!.scheduledAt)
    const [summary] = await lw.jobs()
    expect(summary?.schedule).toEqual({ kind: 'cron', cron: '* * * * * *', timezone: 'UTC' })
    const entry = await backend.getCached(historyKey('p:', 'often'))
    expect(entry?.remainingMs).toBeGreaterThan(MIN_JOB_HISTORY_RETENTION_MS - 60_000)
    expect(entry?.remainingMs).toBeLessThanOrEqual(MIN_JOB_HISTORY_RETENTION_MS)
    await lw.close()
  }, 30_000)

  it('records a failure with its message cut to a bounded length', async () => {
    const [lw] = clients(1)
    const errors: unknown[] = []
    const job = lw!.every('fails', { interval: 100, onError: (error) => void errors.push(error) }, () => {
      throw new TypeError(`boom ${'x'.repeat(5_000)}`)
    })
    await until('a recorded failure', async () => (await job.history()).length >= 1)
    await job.stop()
    const [run] = await job.history()
    expect(run?.outcome).toBe('failed')
    expect(run?.error?.startsWith('TypeError: boom xxx')).toBe(true)
    expect(run?.error?.length).toBeLessThanOrEqual(MAX_JOB_ERROR_LENGTH)
    expect(run?.durationMs).toBeGreaterThanOrEqual(0)
    expect(errors.length).toBeGreaterThanOrEqual(1)
    await lw!.close()
  })

  it('records a tick skipped because the previous run was still going; one entry per tick', async () => {
    const [a, b] = clients(2)
    await alignTo(100)
    const body = async () => {
      await delay(280)
    }
    const jobs = [a!.every('slow', { interval: 100 }, body), b!.every('slow', { interval: 100 }, body)]
    await until(
      'a skipped tick and two runs',
      async () => {
        const runs = await jobs[0]!.history()
        return (
          runs.some((run) => run.reason === 'running') && runs.filter((r) => r.outcome === 'ran').length >= 2
        )
      },
      15_000,
    )
    await Promise.all(jobs.map((job) => job.stop()))
    const runs = await a!.jobHistory('slow')
    expect(new Set(runs.map((run) => run.scheduledAt)).size).toBe(runs.length)
    const skipped = runs.filter((run) => run.outcome === 'skipped')
    expect(skipped.filter((run) => run.reason === 'running').length).toBeGreaterThanOrEqual(1)
    for (const run of skipped) {
      // 'late' only when a loaded machine fired the timer past maxLateness.
      expect(['running', 'late']).toContain(run.reason)
      expect(run.durationMs).toBeUndefined()
    }
    await Promise.all([a!.close(), b!.close()])
  }, 30_000)

  it('of two replicas only the one that ran a tick records it; no record is lost', async () => {
    const [a, b, c] = clients(3)
    const ran = new Map<number, string>()
    await alignTo(100)
    const jobs = [a!, b!, c!].map((lw) =>
      lw.every('shared', { interval: 100, jitter: 0.3, maxLateness: 100 }, (_signal, tick) => {
        ran.set(tick.scheduledAt, lw.label.name ?? '')
      }),
    )
    await delay(900)
    await Promise.all(jobs.map((job) => job.stop()))
    const runs = await a!.jobHistory('shared')
    expect(ran.size).toBeGreaterThanOrEqual(4)
    const recorded = runs.filter((run) => run.outcome === 'ran')
    expect(new Set(runs.map((run) => run.scheduledAt)).size).toBe(runs.length)
    expect(recorded.map((run) => [run.scheduledAt, run.label.name]).sort()).toEqual([...ran.entries()].sort())
    await Promise.all([a!.close(), b!.close(), c!.close()])
  })

  it('concurrent writers on one entry lose no run (the entry is written under a lock)', async () => {
    const backend = createMemoryBackend({ store: new MemoryStore() })
    const lw = createLockwork({ backend, prefix: 'p:' })
    const errors: unknown[] = []
    const writers = [0, 1, 2, 3].map(
      () =>
        new JobHistoryWriter({
          backend,
          prefix: 'p:',
          name: 'contended',
          label: lw.label,
          keep: 1000,
          schedule: { kind: 'interval', intervalMs: 1000 },
          report: (error) => void errors.push(error),
        }),
    )
    writers.forEach((writer, w) => {
      for (let i = 0; i < 10; i++) {
        const run: JobRun = { scheduledAt: w * 100 + i, startedAt: 0, outcome: 'ran', label: lw.label }
        writer.record(run, undefined, 1000)
      }
    })
    await Promise.all(writers.map((writer) => writer.flush()))
    expect(errors).toEqual([])
    expect((await lw.jobHistory('contended')).map((run) => run.scheduledAt).sort((x, y) => x - y)).toEqual(
      [0, 1, 2, 3].flatMap((w) => Array.from({ length: 10 }, (_, i) => w * 100 + i)),
    )
    await lw.close()
  })

  it('the index keeps at most MAX_INDEXED_JOBS names, dropping those written to longest ago', async () => {
    const backend = createMemoryBackend({ store: new MemoryStore() })
    const lw = createLockwork({ backend, prefix: 'p:' })
    const errors: unknown[] = []
    const total = MAX_INDEXED_JOBS + 5
    for (let start = 0; start < total; start += 50) {
      const batch = Array.from({ length: Math.min(50, total - start) }, (_, i) => {
        const writer = new JobHistoryWriter({
          backend,
          prefix: 'p:',
          name: `job-${String(start + i).padStart(4, '0')}`,
          label: lw.label,
          keep: 1,
          schedule: { kind: 'interval', intervalMs: 60_000 },
          report: (error) => void errors.push(error),
        })
        writer.record(undefined, Date.now() + 60_000, 60_000)
        return writer.flush()
      })
      await Promise.all(batch)
      // Distinct write times, so "longest ago" is well defined across batches.
      await delay(2)
    }
    expect(errors).toEqual([])
    const names = (await lw.jobs()).map((job) => job.name)
    expect(names).toHaveLength(MAX_INDEXED_JOBS)
    expect(names[names.length - 1]).toBe(`job-${total - 1}`)
    expect(names).not.toContain('job-0000')
    await lw.close()
  }, 60_000)

  it('mergeRuns: a run replaces a skip of the same tick, a skip never replaces a run', () => {
    const label = createLockwork({ backend: createMemoryBackend() }).label
    const skip: JobRun = { scheduledAt: 5, startedAt: 6, outcome: 'skipped', reason: 'late', label }
    const ran: JobRun = { scheduledAt: 5, startedAt: 5, outcome: 'ran', durationMs: 1, label }
    expect(mergeRuns([skip], ran, 10)).toEqual([ran])
    expect(mergeRuns([ran], skip, 10)).toEqual([ran])
    expect(mergeRuns([skip], { ...skip, reason: 'running' }, 10)).toEqual([skip])
  })

  it('a failing history store never delays or fails the tick; the failure goes to onError', async () => {
    const failing = (store: MemoryStore): LockBackend => {
      const inner = createMemoryBackend({ store })
      return {
        name: inner.name,
        acquire: (key, owner, ttlMs) => inner.acquire(key, owner, ttlMs),
        extend: (key, owner, ttlMs) => inner.extend(key, owner, ttlMs),
        release: (key, owner) => inner.release(key, owner),
        peek: (key) => inner.peek(key),
        getCached: (key) => inner.getCached(key),
        setCached: () => Promise.reject(new Error('disk full')),
        deleteCached: (key) => inner.deleteCached(key),
        close: () => inner.close(),
      }
    }
    const [lw] = clients(1, failing)
    const errors: unknown[] = []
    let runs = 0
    const job = lw!.every('resilient', { interval: 100, onError: (error) => void errors.push(error) }, () => {
      runs++
    })
    await until('three runs', () => runs >= 3)
    await job.stop()
    expect(errors.length).toBeGreaterThanOrEqual(1)
    expect(errors[0]).toBeInstanceOf(BackendError)
    expect((errors[0] as Error).message).toContain('could not record its history: disk full')
    expect(await lw!.jobs()).toEqual([])
    await lw!.close()
  })

  it('history: 0 records nothing; a bad history option is rejected', async () => {
    const [lw] = clients(1)
    let runs = 0
    const job = lw!.every('quiet', { interval: 50, history: 0 }, () => void runs++)
    await until('two runs', () => runs >= 2)
    await job.stop()
    expect(await lw!.jobs()).toEqual([])
    expect(await job.history()).toEqual([])
    for (const history of [-1, 1.5, 1001, '5']) {
      expect(() => lw!.every('bad', { interval: 50, history: history as number }, () => {})).toThrow(
        InvalidArgumentError,
      )
    }
    await lw!.close()
  })
})
