import { fileURLToPath } from 'node:url'
import { startWebApps, type WebApps } from '@lockwork/example-test-support'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { retryAfterSeconds } from '../src/app.js'

const mainFile = fileURLToPath(new URL('../src/main.ts', import.meta.url))

let web: WebApps
let apps: WebApps['apps'] = []
const effects = () => web.effects()

beforeAll(async () => {
  web = await startWebApps(mainFile, 3)
  apps = web.apps
}, 60_000)

afterAll(async () => {
  const exits = (await web.stop()).map((exit) => exit.code)
  // Each app closes Fastify, then its lockwork client, and exits 0.
  expect(exits).toEqual([0, 0, 0])
})

describe('retryAfterSeconds', () => {
  it('rounds the remaining time up to whole seconds, at least 1', () => {
    expect(retryAfterSeconds(29_001)).toBe(30)
    expect(retryAfterSeconds(29_000)).toBe(29)
    expect(retryAfterSeconds(1)).toBe(1)
    expect(retryAfterSeconds(0)).toBe(1)
    expect(retryAfterSeconds(undefined)).toBe(1)
  })
})

describe('the Fastify recipe, 3 app processes on one SQLite file', () => {
  it('60 concurrent export requests for one report → one export, 59 × 429 with Retry-After', async () => {
    const responses = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        fetch(`http://127.0.0.1:${apps[i % 3]?.port}/reports/7/export`, { method: 'POST' }),
      ),
    )
    const statuses = responses.map((r) => r.status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(1)
    expect(statuses.filter((s) => s === 429)).toHaveLength(59)
    for (const r of responses.filter((r) => r.status === 429)) {
      const retryAfter = Number(r.headers.get('retry-after'))
      expect(Number.isInteger(retryAfter)).toBe(true)
      expect(retryAfter).toBeGreaterThanOrEqual(1)
      expect(retryAfter).toBeLessThanOrEqual(30)
    }
    expect(effects().filter((line) => line.startsWith('export 7 '))).toHaveLength(1)
    // After the export ended the key stays held for the rest of holdFor: still 429, and the
    // header counts down what is left of the 30 s (rounded up), not a fixed value.
    const again = await fetch(`http://127.0.0.1:${apps[1]?.port}/reports/7/export`, { method: 'POST' })
    expect(again.status).toBe(429)
    const left = Number(again.headers.get('retry-after'))
    expect(left).toBeGreaterThanOrEqual(15)
    expect(left).toBeLessThanOrEqual(30)
    // Another report is not throttled by this one.
    const other = await fetch(`http://127.0.0.1:${apps[2]?.port}/reports/8/export`, { method: 'POST' })
    expect(other.status).toBe(200)
    expect(effects().filter((line) => line.startsWith('export '))).toHaveLength(2)
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
