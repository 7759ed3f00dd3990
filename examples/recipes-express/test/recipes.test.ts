import { fileURLToPath } from 'node:url'
import { startWebApps, type WebApps } from '@lockwork/example-test-support'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const mainFile = fileURLToPath(new URL('../src/main.ts', import.meta.url))

let web: WebApps
let apps: WebApps['apps'] = []
const effects = () => web.effects()

beforeAll(async () => {
  web = await startWebApps(mainFile, 3)
  apps = web.apps
}, 60_000)

afterAll(async () => {
  await web.stop()
})

describe('the Express recipe, 3 app processes on one SQLite file', () => {
  it('60 concurrent charge requests for one order → one charge, 59 × 409 with Retry-After', async () => {
    const responses = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        fetch(`http://127.0.0.1:${apps[i % 3]?.port}/orders/42/charge`, { method: 'POST' }),
      ),
    )
    const statuses = responses.map((r) => r.status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(1)
    expect(statuses.filter((s) => s === 409)).toHaveLength(59)
    for (const r of responses.filter((r) => r.status === 409)) {
      const retryAfter = Number(r.headers.get('retry-after'))
      expect(retryAfter).toBeGreaterThanOrEqual(1)
      expect(retryAfter).toBeLessThanOrEqual(30)
    }
    expect(effects().filter((line) => line.startsWith('charge 42 '))).toHaveLength(1)
    // A retry within holdFor is still a duplicate: the charge ran once.
    const again = await fetch(`http://127.0.0.1:${apps[1]?.port}/orders/42/charge`, { method: 'POST' })
    expect(again.status).toBe(409)
  })

  it('60 concurrent GET /rates → computed once, every process serves the same value', async () => {
    const bodies = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const r = await fetch(`http://127.0.0.1:${apps[i % 3]?.port}/rates`)
        expect(r.status).toBe(200)
        return (await r.json()) as { computedBy: number }
      }),
    )
    expect(new Set(bodies.map((b) => b.computedBy)).size).toBe(1)
    expect(effects().filter((line) => line.startsWith('rates '))).toHaveLength(1)
  })
})
