import cluster, { type Worker } from 'node:cluster'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createBackend, describeStore } from './backends.js'
import { isWorkerMessage, type PrimaryMessage, type Scenario, type WorkerMessage } from './messages.js'
import { type Check, progress, renderScenario, type ScenarioResult, scenarioOk } from './report.js'
import { type DemoArgs, type DemoSettings, SETTINGS_ENV, TIMING } from './settings.js'

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)))

/** One run as the workers reported it. */
interface RunRecord {
  readonly scenario: Scenario
  readonly key: string
  readonly worker: number
  readonly start: number
  end: number | undefined
}

/** A response the driver got. */
interface Answer {
  readonly key: string
  readonly status: number
  readonly body: Record<string, unknown>
}

/**
 * The primary: forks the workers, drives each scenario with bursts of
 * concurrent requests, counts the runs the workers report, prints a table per
 * scenario and resolves the exit code (0 only when every count is right).
 */
export async function runPrimary(args: DemoArgs): Promise<number> {
  const say = progress()
  const demoStartedAt = performance.now()
  const tempDir = args.backend === 'sqlite' ? await mkdtemp(join(tmpdir(), 'lockwork-demo-')) : undefined
  const settings: DemoSettings = {
    backend: args.backend,
    sqlitePath: tempDir === undefined ? undefined : join(tempDir, 'locks.sqlite'),
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    prefix: `demo-${randomBytes(4).toString('hex')}:`,
  }
  const workers: Worker[] = []
  try {
    say(`lockwork demo: ${args.workers} node:cluster workers sharing ${describeStore(settings)}`)
    if (!(await reachable(settings, say))) return 2

    // --- the cluster ---------------------------------------------------------
    const runs = new Map<string, RunRecord>()
    const ready = new Map<number, number>()
    let shuttingDown = false
    let crashed: string | undefined
    const onMessage = (message: unknown) => {
      if (!isWorkerMessage(message)) return
      handleMessage(message as WorkerMessage)
    }
    const handleMessage = (message: WorkerMessage) => {
      if (message.type === 'ready') ready.set(message.worker, message.port)
      else if (message.type === 'log') say(`  worker ${message.worker}: ${message.text}`)
      else if (message.type === 'run') {
        if (message.phase === 'start') {
          runs.set(message.run, {
            scenario: message.scenario,
            key: message.key,
            worker: message.worker,
            start: message.at,
            end: undefined,
          })
        } else {
          const record = runs.get(message.run)
          if (record) record.end = message.at
        }
      }
    }
    say(`forking ${args.workers} workers (each opens its own backend instance)…`)
    for (let i = 0; i < args.workers; i++) {
      const worker = cluster.fork({ [SETTINGS_ENV]: JSON.stringify(settings) })
      worker.on('message', onMessage)
      worker.on('exit', (code, signal) => {
        if (!shuttingDown) crashed = `worker ${worker.id} exited early (code ${code}, signal ${signal})`
      })
      workers.push(worker)
    }
    await until(
      () => ready.size === args.workers || crashed !== undefined,
      60_000,
      'the workers did not start',
    )
    if (crashed !== undefined) throw new Error(crashed)
    const port = [...ready.values()][0]!
    const base = `http://127.0.0.1:${port}`
    say(`all ${args.workers} workers listen on ${base}`)

    const broadcast = (message: PrimaryMessage) => {
      for (const worker of workers) worker.send(message)
    }
    const runsOf = (scenario: Scenario) => [...runs.values()].filter((run) => run.scenario === scenario)
    const settle = (scenario: Scenario) =>
      until(
        () => runsOf(scenario).every((run) => run.end !== undefined),
        30_000,
        `${scenario} runs did not end`,
      )

    // --- every('expire-sessions') runs in the background through the whole demo ---
    const intervalMs = TIMING.sessionsIntervalMs
    await sleep(intervalMs - (Date.now() % intervalMs) + 100)
    const sessionsFrom = Date.now()
    broadcast({ type: 'every-start' })
    say(
      `every('expire-sessions', { interval: '${intervalMs / 1_000}s' }) started on all ${args.workers} workers`,
    )

    const results: ScenarioResult[] = []

    // --- GET /shot/:id: once + holdFor ---------------------------------------
    {
      const ids = ['1', '2', '3']
      const first = interleave(ids, 20)
      say(
        `GET /shot/:id — ${first.length} concurrent requests for shots ${ids.join(', ')} (a screenshot takes ${TIMING.shotMs / 1_000} s)`,
      )
      const answers = await burst(base, 'GET', first, (id) => `/shot/${id}`)
      say(`  → ${summarize(answers)}`)
      const second = interleave(ids, 10)
      say(`GET /shot/:id — ${second.length} more requests, inside the 60 s window`)
      const again = await burst(base, 'GET', second, (id) => `/shot/${id}`)
      say(`  → ${summarize(again)}`)
      await settle('shot')
      const all = [...answers, ...again]
      const throttled = all.filter((a) => a.status === 429)
      const retryOk = throttled.every((a) => {
        const retryIn = Number(a.body.retryIn)
        return (
          /^already running, retry in \d+ s$/.test(String(a.body.message)) && retryIn >= 1 && retryIn <= 60
        )
      })
      results.push({
        title: 'GET /shot/:id',
        helper: '`once` + `holdFor: 60s` (at most one screenshot per id per minute)',
        rowHeader: 'shot id',
        rows: ids.map((id) => ({
          label: id,
          requests: all.filter((a) => a.key === id).length,
          runs: runsOf('shot').filter((run) => run.key === id).length,
          expected: 1,
        })),
        checks: [
          {
            label: `${all.filter((a) => a.status === 200).length} answered 200 "taken" (expected ${ids.length}); the rest 429`,
            ok:
              all.filter((a) => a.status === 200).length === ids.length &&
              throttled.length === all.length - ids.length,
          },
          {
            label: `every 429 says "already running, retry in N s" with 1 ≤ N ≤ 60 (from \`peek\`; e.g. "${String(throttled[throttled.length - 1]?.body.message)}")`,
            ok: retryOk,
          },
          servedBy(all, args.workers),
        ],
      })
    }

    // --- POST /orders/:id/check: once, skip ----------------------------------
    {
      const orders = ['1001', '1002']
      const all: Answer[] = []
      for (const round of [1, 2]) {
        const batch = interleave(orders, 25)
        say(
          `POST /orders/:id/check — round ${round}: ${batch.length} concurrent spawns for orders ${orders.join(', ')} (a check takes ${TIMING.checkMs / 1_000} s)`,
        )
        const answers = await burst(base, 'POST', batch, (id) => `/orders/${id}/check`)
        say(`  → ${summarize(answers, (a) => String(a.body.status))}`)
        all.push(...answers)
        await settle('check')
      }
      const checks = runsOf('check')
      const overlaps = orders.reduce(
        (total, id) => total + countOverlaps(checks.filter((r) => r.key === id)),
        0,
      )
      const started = all.filter((a) => a.body.status === 'started').length
      results.push({
        title: 'POST /orders/:id/check',
        helper: '`once` with `onLocked: skip` (never two checks of one order at once)',
        rowHeader: 'order',
        rows: orders.map((id) => ({
          label: id,
          requests: all.filter((a) => a.key === id).length,
          runs: checks.filter((run) => run.key === id).length,
          expected: 2,
        })),
        checks: [
          {
            label: `${started} answers said "started", the others "already-running"`,
            ok: started === checks.length,
          },
          { label: `overlapping checks of one order: ${overlaps}`, ok: overlaps === 0 },
          servedBy(all, args.workers),
        ],
      })
    }

    // --- GET /price/:sym: cached ---------------------------------------------
    {
      const symbols = ['ACME', 'GLOBEX', 'INITECH']
      const cold = interleave(symbols, 50)
      say(
        `GET /price/:sym — ${cold.length} concurrent requests for cold ${symbols.join(', ')} (a price takes ${TIMING.priceMs} ms)`,
      )
      const answers = await burst(base, 'GET', cold, (sym) => `/price/${sym}`)
      say(`  → ${summarize(answers)}`)
      const warm = interleave(symbols, 20)
      say(`GET /price/:sym — ${warm.length} more requests, now cached`)
      const again = await burst(base, 'GET', warm, (sym) => `/price/${sym}`)
      say(`  → ${summarize(again)}`)
      await settle('price')
      const all = [...answers, ...again]
      const consistent = symbols.every((sym) => {
        const seen = new Set(
          all.filter((a) => a.key === sym).map((a) => `${a.body.price}@${a.body.computedAt}`),
        )
        return seen.size === 1
      })
      results.push({
        title: 'GET /price/:sym',
        helper: '`cached` (one computation for a burst of callers on every worker)',
        rowHeader: 'symbol',
        rows: symbols.map((sym) => ({
          label: sym,
          requests: all.filter((a) => a.key === sym).length,
          runs: runsOf('price').filter((run) => run.key === sym).length,
          expected: 1,
        })),
        checks: [
          { label: `all ${all.length} answered 200`, ok: all.every((a) => a.status === 200) },
          {
            label: 'every caller of a symbol got the same value (same price, same computedAt)',
            ok: consistent,
          },
          servedBy(all, args.workers),
        ],
      })
    }

    // --- POST /exports/:id: semaphore ------------------------------------------
    {
      const ids = Array.from({ length: 12 }, (_, i) => `e${i + 1}`)
      say(
        `POST /exports/:id — ${ids.length} concurrent exports (one takes ${TIMING.exportMs} ms; at most ${TIMING.exportLimit} at once)`,
      )
      const answers = await burst(base, 'POST', ids, (id) => `/exports/${id}`)
      say(`  → ${summarize(answers)}`)
      await settle('export')
      const exports = runsOf('export')
      const most = maxConcurrent(exports)
      const fences = new Set(answers.map((a) => a.body.fence))
      const failure = answers.find((a) => a.status !== 200)
      results.push({
        title: 'POST /exports/:id',
        helper: `\`semaphore\` with \`limit: ${TIMING.exportLimit}\` (at most ${TIMING.exportLimit} exports at once across ${args.workers} workers)`,
        rowHeader: 'exports',
        rows: [{ label: 'e1–e12', requests: answers.length, runs: exports.length, expected: ids.length }],
        checks: [
          {
            label: `all ${answers.length} answered 200${failure === undefined ? '' : ` (not: ${String(failure.body.error)})`}`,
            ok: failure === undefined,
          },
          {
            label: `never more than ${TIMING.exportLimit} exports at once, and ${TIMING.exportLimit} did run together (most seen: ${most})`,
            ok: most === TIMING.exportLimit,
          },
          {
            label: `every export got its own fence (${fences.size} distinct)`,
            ok: fences.size === ids.length,
          },
          servedBy(answers, args.workers),
        ],
      })
    }

    // --- stop halfway between two ticks, so the count has clean edges --------
    const earliest = Math.max(Date.now(), sessionsFrom + 4 * intervalMs)
    let stopAt = Math.floor(earliest / intervalMs) * intervalMs + intervalMs / 2
    if (stopAt < earliest) stopAt += intervalMs
    await sleep(stopAt - Date.now())
    const sessionsTo = Date.now()
    say(`shutting the workers down (every.stop() waits for a sweep in progress)…`)
    shuttingDown = true
    const exited = Promise.all(
      workers.map((worker) => new Promise((resolve) => worker.once('exit', resolve))),
    )
    broadcast({ type: 'shutdown' })
    await Promise.race([exited, sleep(15_000)])
    for (const worker of workers) if (!worker.isDead()) worker.kill()
    await settle('sessions')
    {
      const sweeps = runsOf('sessions')
      const expected = Math.floor(sessionsTo / intervalMs) - Math.floor(sessionsFrom / intervalMs)
      const ticks = new Set(sweeps.map((run) => run.key))
      const byWorker = new Set(sweeps.map((run) => run.worker))
      const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19)
      results.push({
        title: "every('expire-sessions')",
        helper: `\`every\` with \`interval: ${intervalMs / 1_000}s\` (once per tick across ${args.workers} workers)`,
        rowHeader: 'window',
        rows: [
          {
            label: `${clock(sessionsFrom)}–${clock(sessionsTo)}`,
            requests: undefined,
            runs: sweeps.length,
            expected,
          },
        ],
        checks: [
          { label: `no tick ran twice (${ticks.size} distinct ticks)`, ok: ticks.size === sweeps.length },
          { label: `overlapping sweeps: ${countOverlaps(sweeps)}`, ok: countOverlaps(sweeps) === 0 },
          {
            label: `ticks were taken by ${byWorker.size} different worker(s) (whoever claimed first)`,
            ok: true,
          },
        ],
      })
    }

    // --- the report ---------------------------------------------------------------
    const seconds = ((performance.now() - demoStartedAt) / 1_000).toFixed(1)
    const failed = results.filter((result) => !scenarioOk(result))
    process.stdout.write(
      `\n## lockwork demo on ${settings.backend} — ${args.workers} workers, ${seconds} s\n\n`,
    )
    for (const result of results) process.stdout.write(`${renderScenario(result)}\n\n`)
    if (crashed !== undefined) process.stdout.write(`✗ FAIL: ${crashed}\n`)
    if (failed.length === 0 && crashed === undefined) {
      process.stdout.write(`PASS: every count is right (${results.length} scenarios, ${seconds} s)\n`)
      return 0
    }
    process.stdout.write(`FAIL: ${failed.map((r) => r.title).join(', ') || 'a worker crashed'}\n`)
    return 1
  } catch (error) {
    say(`demo failed: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  } finally {
    for (const worker of workers) if (!worker.isDead()) worker.kill()
    if (tempDir !== undefined && !args.keep) await rm(tempDir, { recursive: true, force: true })
    else if (tempDir !== undefined) say(`kept ${tempDir}`)
  }
}

/** Checks the store answers before forking, so a missing server is one clear line. */
async function reachable(settings: DemoSettings, say: (text: string) => void): Promise<boolean> {
  const store = createBackend(settings)
  try {
    await withTimeout(store.backend.peek(`${settings.prefix}ping`), 5_000)
    return true
  } catch (error) {
    const hint =
      settings.backend === 'redis'
        ? 'start Redis (e.g. `docker run --rm -p 6379:6379 redis`) or set REDIS_URL'
        : settings.backend === 'postgres'
          ? 'start PostgreSQL (e.g. `docker run --rm -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test postgres`) or set DATABASE_URL'
          : 'check that the temporary directory is writable'
    say(`cannot reach ${describeStore(settings)}: ${error instanceof Error ? error.message : String(error)}`)
    say(`→ ${hint}`)
    return false
  } finally {
    await store.close().catch(() => undefined)
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Polls `done` every 20 ms until it holds; rejects with `message` after `timeoutMs`. */
async function until(done: () => boolean, timeoutMs: number, message: string): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`${message} within ${timeoutMs / 1_000} s`)
    await sleep(20)
  }
}

/** `keys` repeated `times` times, interleaved (a, b, c, a, b, c, …), so every key is hit at once. */
function interleave(keys: readonly string[], times: number): string[] {
  return Array.from({ length: times }, () => keys).flat()
}

/** Sends every request at once and collects the answers. */
async function burst(
  base: string,
  method: 'GET' | 'POST',
  keys: readonly string[],
  path: (key: string) => string,
): Promise<Answer[]> {
  return Promise.all(
    keys.map(async (key) => {
      const response = await fetch(base + path(key), { method })
      const body = (await response.json()) as Record<string, unknown>
      return { key, status: response.status, body }
    }),
  )
}

/** e.g. `3 × 200, 57 × 429 (served by 4 workers)`. */
function summarize(
  answers: readonly Answer[],
  label: (a: Answer) => string = (a) => String(a.status),
): string {
  const counts = new Map<string, number>()
  for (const answer of answers) counts.set(label(answer), (counts.get(label(answer)) ?? 0) + 1)
  const workers = new Set(answers.map((a) => a.body.worker)).size
  const parts = [...counts].map(([what, n]) => `${n} × ${what}`)
  return `${parts.join(', ')} (served by ${workers} workers)`
}

/** A line saying how many workers answered. */
function servedBy(answers: readonly Answer[], workers: number): Check {
  const served = new Set(answers.map((a) => a.body.worker)).size
  return { label: `requests were served by ${served} of ${workers} workers`, ok: served >= 2 }
}

/** The most runs that were in progress at one moment (an end and a start at the same ms do not overlap). */
function maxConcurrent(runs: readonly RunRecord[]): number {
  const events = runs.flatMap((run) => [
    { at: run.start, delta: 1 },
    { at: run.end ?? Number.POSITIVE_INFINITY, delta: -1 },
  ])
  events.sort((a, b) => a.at - b.at || a.delta - b.delta)
  let current = 0
  let most = 0
  for (const event of events) {
    current += event.delta
    most = Math.max(most, current)
  }
  return most
}

/** How many pairs of runs overlap in time. */
function countOverlaps(runs: readonly RunRecord[]): number {
  const sorted = [...runs].sort((a, b) => a.start - b.start)
  let overlaps = 0
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1]!
    if (previous.end === undefined || previous.end > sorted[i]!.start) overlaps++
  }
  return overlaps
}
