import { createMemoryBackend, MemoryStore } from '@lockwork/memory'
import { describe, expect, it, vi } from 'vitest'
import { createLockwork, type EveryTick, InvalidArgumentError, type Lockwork } from '../src/index.js'

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function clients(n: number): Lockwork[] {
  const store = new MemoryStore()
  return Array.from({ length: n }, () =>
    createLockwork({ backend: createMemoryBackend({ store }), prefix: 'p:' }),
  )
}

/** Waits until just after a multiple of `ms` since the epoch, so a test's ticks are predictable. */
async function alignTo(ms: number, offset = 20): Promise<void> {
  const now = Date.now()
  await delay(Math.ceil(now / ms) * ms + offset - now)
}

describe('every', () => {
  it('3 replicas run each interval tick exactly once, never overlapping', async () => {
    const replicas = clients(3)
    const ticks: number[] = []
    let inside = 0
    let overlaps = 0
    await alignTo(200)
    const started = Date.now()
    const jobs = replicas.map((lw) =>
      // maxLateness of a whole period: a loaded test machine may fire a timer 140 ms late (the default here).
      lw.every('sessions', { interval: 200, jitter: 0.2, maxLateness: 200 }, async (_signal, tick) => {
        inside++
        if (inside > 1) overlaps++
        ticks.push(tick.scheduledAt)
        await delay(30)
        inside--
      }),
    )
    await delay(1_000)
    await Promise.all(jobs.map((job) => job.stop()))
    const expected = Math.floor(Date.now() / 200) - Math.floor(started / 200)
    expect(overlaps).toBe(0)
    expect(new Set(ticks).size).toBe(ticks.length)
    // Never more runs than ticks. A loaded machine may fire a tick later than maxLateness, and
    // that tick is skipped by design, so fewer runs than ticks is allowed, but not none.
    expect(ticks.length).toBeLessThanOrEqual(expected + 1)
    expect(ticks.length).toBeGreaterThanOrEqual(Math.min(2, expected))
    for (const at of ticks) expect(at % 200).toBe(0)
  })

  it('runOnStart tries the current tick; a tick already run elsewhere is not run again', async () => {
    const [a, b] = clients(2)
    const runs: string[] = []
    await alignTo(1_000, 50)
    const first = a!.every('boot', { interval: 1_000, runOnStart: true }, () => void runs.push('a'))
    await delay(30)
    const second = b!.every('boot', { interval: 1_000, runOnStart: true }, () => void runs.push('b'))
    await delay(30)
    await Promise.all([first.stop(), second.stop()])
    expect(runs).toEqual(['a'])
  })

  it('skips a tick while the previous run is still going, and stop() aborts and awaits the run', async () => {
    const [lw] = clients(1)
    let starts = 0
    let aborted = false
    await alignTo(100)
    const job = lw!.every('long', { interval: 100 }, async (signal) => {
      starts++
      await new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => {
          aborted = true
          setTimeout(resolve, 30)
        })
      })
    })
    await delay(450)
    expect(job.running).toBe(true)
    const stopping = job.stop()
    await stopping
    expect(aborted).toBe(true)
    expect(job.running).toBe(false)
    expect(starts).toBe(1)
    await job.stop() // idempotent
  })

  it('a run longer than the interval blocks the next ticks on every replica (the run lock)', async () => {
    const [a, b] = clients(2)
    let inside = 0
    let overlaps = 0
    let runs = 0
    const body = async () => {
      runs++
      inside++
      if (inside > 1) overlaps++
      await delay(250)
      inside--
    }
    await alignTo(100)
    const jobs = [a!.every('slow', { interval: 100 }, body), b!.every('slow', { interval: 100 }, body)]
    await delay(700)
    await Promise.all(jobs.map((job) => job.stop()))
    expect(overlaps).toBe(0)
    expect(runs).toBeGreaterThanOrEqual(2)
    expect(runs).toBeLessThanOrEqual(3)
  })

  it('a replica whose event loop was blocked past maxLateness skips the tick and reports it to onLate; the other replica ran it once', async () => {
    const [a, b] = clients(2)
    const runs: Array<[string, number]> = []
    const late: Array<[number, number]> = []
    await alignTo(200, 100)
    const blocked = a!.every(
      'late',
      {
        interval: 200,
        maxLateness: 50,
        onLate: (tick, lateMs) => void late.push([tick.scheduledAt, lateMs]),
      },
      (_signal, tick) => void runs.push(['a', tick.scheduledAt]),
    )
    // b runs in another "process": its timers are not blocked; simulate by starting it after the block.
    const until = Date.now() + 250
    while (Date.now() < until) {
      // Block this event loop past the next tick (due in ~100 ms) plus maxLateness.
    }
    const other = b!.every(
      'late',
      { interval: 200 },
      (_signal, tick) => void runs.push(['b', tick.scheduledAt]),
    )
    await delay(500)
    await Promise.all([blocked.stop(), other.stop()])
    expect(late.length).toBeGreaterThanOrEqual(1)
    expect(late[0]![1]).toBeGreaterThan(50)
    const missed = late[0]![0]
    expect(runs.filter(([, at]) => at === missed).map(([who]) => who)).not.toContain('a')
    const perTick = new Map<number, number>()
    for (const [, at] of runs) perTick.set(at, (perTick.get(at) ?? 0) + 1)
    expect([...perTick.values()].filter((n) => n > 1)).toEqual([])
  })

  it('reports failures to onError and keeps ticking; the default logs with console.error', async () => {
    const [lw] = clients(1)
    const errors: Array<[unknown, EveryTick]> = []
    let n = 0
    await alignTo(100)
    const job = lw!.every(
      'failing',
      {
        interval: 100,
        onError: (error, tick) => {
          errors.push([error, tick])
          throw new Error('onError itself failing is ignored')
        },
      },
      () => {
        throw new Error(`fail ${++n}`)
      },
    )
    // Two failed ticks in a row, however late a loaded machine runs them.
    await vi.waitFor(() => expect(errors.length).toBeGreaterThanOrEqual(2), { timeout: 10_000, interval: 20 })
    await job.stop()
    expect(errors.length).toBeGreaterThanOrEqual(2)
    expect((errors[0]![0] as Error).message).toBe('fail 1')
    expect(errors[0]![1].name).toBe('failing')
  })

  it('runs cron schedules (croner, seconds field) once per occurrence across replicas', async () => {
    const replicas = clients(2)
    const ticks: number[] = []
    await alignTo(1_000, 50)
    const jobs = replicas.map((lw) =>
      lw.every('cron', { cron: '* * * * * *' }, (_signal, tick) => void ticks.push(tick.scheduledAt)),
    )
    await delay(2_100)
    await Promise.all(jobs.map((job) => job.stop()))
    expect(ticks.length).toBeGreaterThanOrEqual(2)
    expect(ticks.length).toBeLessThanOrEqual(3)
    expect(new Set(ticks).size).toBe(ticks.length)
    for (const at of ticks) expect(at % 1_000).toBe(0)
  })

  it('validates the name and options before starting', () => {
    const [lw] = clients(1)
    const job = () => undefined
    expect(() => lw!.every('', { interval: 100 }, job)).toThrow(/invalid name/)
    expect(() => lw!.every('n', {}, job)).toThrow(/exactly one of interval and cron/)
    expect(() => lw!.every('n', { interval: 100, cron: '* * * * *' }, job)).toThrow(InvalidArgumentError)
    expect(() => lw!.every('n', { interval: -5 }, job)).toThrow(/options\.interval/)
    expect(() => lw!.every('n', { cron: 'every day' }, job)).toThrow(/options\.cron/)
    expect(() => lw!.every('n', { cron: '* * * * *', timezone: 'Mars/Olympus' }, job)).toThrow(
      /options\.timezone/,
    )
    expect(() => lw!.every('n', { interval: 100, jitter: 2 }, job)).toThrow(/options\.jitter/)
    // @ts-expect-error not a duration: refused at compile time, and at run time
    expect(() => lw!.every('n', { interval: 100, holdFor: 'x' }, job)).toThrow(/options\.holdFor/)
    expect(() => lw!.every('n', { interval: 100, onError: 1 as never }, job)).toThrow(/options\.onError/)
    expect(() => lw!.every('n', { interval: 100 }, null as never)).toThrow(/invalid job/)
  })
})
