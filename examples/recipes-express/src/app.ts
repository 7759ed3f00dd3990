import { appendFileSync } from 'node:fs'
import type { Lockwork } from '@lockwork/core'
import express, { type Express } from 'express'

/** What a charge request resolves to when another request for the same order holds its key. */
const DUPLICATE = Symbol('duplicate')

/** Where the app records side effects, so a test can count them across processes. */
export interface RecipeAppOptions {
  /** A file each charge and each rates computation appends one line to. */
  readonly effectsLog: string
}

/**
 * An Express app with two lockwork recipes:
 * - `POST /orders/:id/charge`: `once` as request de-duplication. The first
 *   request for an order charges it; a duplicate sent while the key is held
 *   (the charge running, then `holdFor` after it) gets `409 Conflict` with a
 *   `Retry-After` header taken from `peek`.
 * - `GET /rates`: `cached` behind a route; concurrent misses compute once.
 */
export function createRecipeApp(lw: Lockwork, options: RecipeAppOptions): Express {
  const charge = lw.once(
    { key: (orderId: string) => `charge:${orderId}`, holdFor: '30s', lockedValue: DUPLICATE },
    async (orderId: string) => {
      await new Promise((resolve) => setTimeout(resolve, 200)) // the payment provider's call
      appendFileSync(options.effectsLog, `charge ${orderId} ${process.pid}\n`)
      return { orderId, charged: true }
    },
  )
  const rates = lw.cached({ key: 'rates', ttl: '1m' }, async () => {
    await new Promise((resolve) => setTimeout(resolve, 200)) // the upstream API
    appendFileSync(options.effectsLog, `rates ${process.pid}\n`)
    return { eur: 1, usd: 1.08, computedBy: process.pid }
  })

  const app = express()
  app.post('/orders/:id/charge', async (req, res, next) => {
    try {
      const result = await charge(req.params.id)
      if (result !== DUPLICATE) {
        res.json(result)
        return
      }
      const holder = await charge.peek(req.params.id)
      const retryAfter = Math.max(1, Math.ceil((holder?.remainingMs ?? 1000) / 1000))
      res.status(409).set('Retry-After', String(retryAfter)).json({ error: 'duplicate request' })
    } catch (error) {
      next(error)
    }
  })
  app.get('/rates', async (_req, res, next) => {
    try {
      res.json(await rates())
    } catch (error) {
      next(error)
    }
  })
  return app
}
