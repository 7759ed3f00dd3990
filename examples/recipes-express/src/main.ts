/**
 * Runs the recipe app on one SQLite file, so several of these processes on
 * one machine share locks and cache. Environment: `PORT` (default 3000; 0
 * picks a free port), `LOCKWORK_DB` (default `.lockwork.sqlite`),
 * `EFFECTS_LOG` (default `effects.log`). Prints `listening <port>`.
 */
import type { AddressInfo } from 'node:net'
import { createLockwork } from '@lockwork/core'
import { createSqliteBackend } from '@lockwork/sqlite'
import { createRecipeApp } from './app.js'

const lw = createLockwork({
  backend: createSqliteBackend({ path: process.env.LOCKWORK_DB ?? '.lockwork.sqlite' }),
  prefix: 'recipes:',
})
const app = createRecipeApp(lw, { effectsLog: process.env.EFFECTS_LOG ?? 'effects.log' })
const server = app.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`listening ${(server.address() as AddressInfo).port}`)
})

const shutdown = (): void => {
  server.close(() => void lw.close().then(() => process.exit(0)))
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
