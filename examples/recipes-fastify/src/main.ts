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
// Fastify's own hook: the lockwork client closes after the server stopped taking requests.
app.addHook('onClose', async () => {
  await lw.close()
})
await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' })
console.log(`listening ${(app.server.address() as AddressInfo).port}`)

const shutdown = (): void => {
  void app.close().then(() => process.exit(0))
}
process.once('SIGTERM', shutdown)
process.once('SIGINT', shutdown)
