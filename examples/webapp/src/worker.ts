import cluster from 'node:cluster'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createLockwork, type EveryJob, LockworkError, type Semaphore } from '@lockwork/core'
import { createBackend } from './backends.js'
import { isPrimaryMessage, type Scenario, type WorkerMessage } from './messages.js'
import { type DemoSettings, TIMING } from './settings.js'

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => {
      clearTimeout(timer)
      resolve()
    })
  })

/**
 * One worker of the web app: its own backend instance over the shared store,
 * the lockwork helpers, and an HTTP server sharing the cluster's port.
 *
 * - `GET /shot/:id` takes a slow screenshot at most once per 60 s per id
 *   (`once` + `holdFor`); other calls get 429 "already running, retry in N s" from `peek`.
 * - `POST /orders/:id/check` spawns an order check that never runs twice at
 *   once per order (`once`, skip), answering whether it started.
 * - `GET /price/:sym` computes an expensive price once for a burst of callers (`cached`).
 * - `POST /exports/:id` runs an export, at most 2 at once across every worker
 *   (`semaphore`); the others wait for a permit.
 * - `every('expire-sessions')` sweeps sessions once per tick across all workers.
 */
export async function runWorker(settings: DemoSettings): Promise<void> {
  const worker = cluster.worker?.id ?? 0
  const send = (message: WorkerMessage) => process.send?.(message)
  const log = (text: string) => send({ type: 'log', worker, text })
  const store = createBackend(settings)
  const lw = createLockwork({ backend: store.backend, prefix: settings.prefix })

  let sequence = 0
  /** Reports a run's start and end to the primary, which counts them. */
  const track = async <T>(scenario: Scenario, key: string, body: () => Promise<T>): Promise<T> => {
    const run = `${worker}.${++sequence}`
    send({ type: 'run', phase: 'start', scenario, key, run, worker, at: Date.now() })
    try {
      return await body()
    } finally {
      send({ type: 'run', phase: 'end', scenario, key, run, worker, at: Date.now() })
    }
  }

  // At most one screenshot per id per 60 s, across every worker.
  const shoot = lw.once({ key: (id: string) => `shot:${id}`, holdFor: TIMING.shotHoldForMs }, (id: string) =>
    track('shot', id, async () => {
      await sleep(TIMING.shotMs)
      log(`screenshot of shot ${id} taken`)
      return { file: `shot-${id}.png`, takenAt: new Date().toISOString() }
    }),
  )

  // One check per order at a time; spawning it again while it runs is a no-op.
  const checkOrder = lw.once(
    { key: (id: string) => `check_order:${id}` },
    (id: string, started: () => void) =>
      track('check', id, async () => {
        started()
        await sleep(TIMING.checkMs)
        log(`check of order ${id} done`)
        return 'ok'
      }),
  )

  // An expensive value, computed once for a burst of callers on every worker.
  const price = lw.cached({ key: (sym: string) => `price:${sym}`, ttl: TIMING.priceTtlMs }, (sym: string) =>
    track('price', sym, async () => {
      await sleep(TIMING.priceMs)
      const value = Math.round((50 + Math.random() * 100) * 100) / 100
      log(`price of ${sym} computed: ${value}`)
      return { sym, price: value, computedBy: worker, computedAt: new Date().toISOString() }
    }),
  )

  // At most 2 exports at once across every worker; the rest wait their turn.
  // Created on first use, so a backend without semaphores fails this route only, naming what it lacks.
  let exportSlots: Semaphore | undefined
  const runExport = (id: string) => {
    exportSlots ??= lw.semaphore('exports', { limit: TIMING.exportLimit })
    return exportSlots.withPermit(
      (permit) =>
        track('export', id, async () => {
          await sleep(TIMING.exportMs)
          log(`export ${id} written (fence ${permit.fence})`)
          return { id, status: 'exported', fence: permit.fence }
        }),
      { wait: '60s' },
    )
  }

  let sessions: EveryJob | undefined
  const startSessions = () => {
    sessions ??= lw.every(
      'expire-sessions',
      { interval: TIMING.sessionsIntervalMs, jitter: 0.1 },
      (signal, tick) =>
        track('sessions', String(tick.scheduledAt), async () => {
          await sleep(TIMING.sessionsJobMs, signal)
          log(`expire-sessions tick ${new Date(tick.scheduledAt).toISOString().slice(11, 19)} swept`)
        }),
    )
  }

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers })
    res.end(JSON.stringify({ ...(body as object), worker }))
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent)
    if (req.method === 'GET' && parts.length === 2 && parts[0] === 'shot') {
      const id = parts[1]!
      const shot = await shoot(id)
      if (shot !== undefined) return json(res, 200, { id, status: 'taken', ...shot })
      const holder = await shoot.peek(id)
      const retryIn = Math.ceil((holder?.remainingMs ?? 0) / 1_000)
      return json(
        res,
        429,
        { id, status: 'throttled', message: `already running, retry in ${retryIn} s`, retryIn },
        { 'retry-after': String(retryIn) },
      )
    }
    if (req.method === 'POST' && parts.length === 3 && parts[0] === 'orders' && parts[2] === 'check') {
      const id = parts[1]!
      let markStarted = () => {}
      const started = new Promise<'started'>((resolve) => {
        markStarted = () => resolve('started')
      })
      const run = checkOrder(id, markStarted)
      run.catch((error: unknown) => log(`check of order ${id} failed: ${String(error)}`))
      const outcome = await Promise.race([
        started,
        run.then((result) => (result === undefined ? ('already-running' as const) : ('started' as const))),
      ])
      return json(res, 202, { order: id, status: outcome })
    }
    if (req.method === 'POST' && parts.length === 2 && parts[0] === 'exports') {
      return json(res, 200, await runExport(parts[1]!))
    }
    if (req.method === 'GET' && parts.length === 2 && parts[0] === 'price') {
      return json(res, 200, await price(parts[1]!))
    }
    return json(res, 404, { error: `no route for ${req.method} ${url.pathname}` })
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const detail =
        error instanceof LockworkError ? error.message : error instanceof Error ? error.stack : error
      log(`${req.method} ${req.url} failed: ${String(detail)}`)
      if (!res.headersSent) json(res, 500, { error: String(error) })
      else res.end()
    })
  })

  const shutdown = async () => {
    await sessions?.stop()
    server.close()
    server.closeAllConnections()
    await store.close()
    // Exit once the primary has the message: nothing else is left to do.
    process.send?.({ type: 'stopped', worker } satisfies WorkerMessage, undefined, {}, () => process.exit(0))
  }

  process.on('message', (message: unknown) => {
    if (!isPrimaryMessage(message)) return
    if (message.type === 'every-start') startSessions()
    else
      shutdown().catch((error: unknown) => {
        console.error(`worker ${worker}: shutdown failed`, error)
        process.exit(1)
      })
  })

  // Port 0 in a cluster: the primary picks one port and every worker shares it.
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  send({ type: 'ready', worker, port: (server.address() as AddressInfo).port })
}
