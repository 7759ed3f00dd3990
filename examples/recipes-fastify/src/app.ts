import { appendFileSync } from 'node:fs'
import type { Duration, Lockwork } from '@lockwork/core'
import Fastify, { type FastifyInstance } from 'fastify'

/** What an export request resolves to when its report's key is held (running, or inside `holdFor`). */
const THROTTLED = Symbol('throttled')

/** Where the app records side effects, so a test can count them across processes. */
export interface RecipeAppOptions {
  /** A file each report export and each rates computation appends one line to. */
  readonly effectsLog: string
  /** How long one report is refused after an export started. Default `'30s'`. */
  readonly holdFor?: Duration
}

/**
 * `Retry-After` in whole seconds from a lock's remaining time: rounded up,
 * and at least 1 (a key about to expire still asks for a second, never 0).
 */
export function retryAfterSeconds(remainingMs: number | undefined): number {
  return Math.max(1, Math.ceil((remainingMs ?? 1000) / 1000))
}

/**
 * A Fastify app with two lockwork recipes:
 * - `POST /reports/:id/export`: `once` with `holdFor` as a per-report
 *   throttle and request de-duplication across processes. The first request
 *   exports the report; any other request for that report while its key is
 *   held (the export running, then `holdFor` after it started) gets
 *   `429 Too Many Requests` with a `Retry-After` header taken from `peek`.
 * - `GET /rates`: `cached` behind a route; concurrent misses compute once.
 */
export function createRecipeApp(lw: Lockwork, options: RecipeAppOptions): FastifyInstance {
  const exportReport = lw.once(
    {
      key: (reportId: string) => `export:${reportId}`,
      holdFor: options.holdFor ?? '30s',
      lockedValue: THROTTLED,
    },
    async (reportId: string) => {
      await new Promise((resolve) => setTimeout(resolve, 200)) // render and upload the report
      appendFileSync(options.effectsLog, `export ${reportId} ${process.pid}\n`)
      return { reportId, exported: true, exportedBy: process.pid }
    },
  )
  const rates = lw.cached({ key: 'rates', ttl: '1m' }, async () => {
    await new Promise((resolve) => setTimeout(resolve, 200)) // the upstream API
    appendFileSync(options.effectsLog, `rates ${process.pid}\n`)
    return { eur: 1, usd: 1.08, computedBy: process.pid }
  })

  const app = Fastify()
  app.post<{ Params: { id: string } }>('/reports/:id/export', async (request, reply) => {
    const result = await exportReport(request.params.id)
    if (result !== THROTTLED) return result
    const holder = await exportReport.peek(request.params.id)
    return reply
      .code(429)
      .header('retry-after', String(retryAfterSeconds(holder?.remainingMs)))
      .send({ error: 'an export of this report is running or has just run' })
  })
  app.get('/rates', async () => rates())
  return app
}
