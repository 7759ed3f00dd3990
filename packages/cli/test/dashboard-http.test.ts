// The dashboard's HTTP rules, without a browser: what /api/state answers, and
// every way a release is refused or done.
import { mkdtempSync, rmSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLockwork, type Lockwork } from '@lockwork/core'
import { createSqliteBackend } from '@lockwork/sqlite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CliError } from '../src/cli-error.js'
import { displayUrl } from '../src/commands/dashboard.js'
import { type Dashboard, hostAllowed, startDashboard } from '../src/dashboard/server.js'
import { runCli, until } from './cli-process.js'

interface Reply {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly text: string
  // biome-ignore lint/suspicious/noExplicitAny: test replies are read field by field
  readonly json: any
}

/** One HTTP request with full control of the headers (fetch would set Host and Origin itself). */
function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk
      })
      res.on('end', () => {
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
      })
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

const dir = mkdtempSync(join(tmpdir(), 'lockwork-dashboard-http-'))
const path = join(dir, 'locks.sqlite')

describe('the dashboard server', () => {
  let holderLw: Lockwork
  let viewLw: Lockwork
  let readOnly: Dashboard
  let releasing: Dashboard
  let token: string
  const log: string[] = []

  beforeAll(async () => {
    holderLw = createLockwork({
      backend: createSqliteBackend({ path }),
      prefix: 'app',
      label: 'worker@pod-9',
    })
    viewLw = createLockwork({ backend: createSqliteBackend({ path }), prefix: 'app' })
    const common = { lw: viewLw, host: '127.0.0.1', port: 0, store: `sqlite:${path}` }
    readOnly = await startDashboard({ ...common, allowRelease: false })
    releasing = await startDashboard({ ...common, allowRelease: true, log: (line) => log.push(line) })
    const page = await send(releasing.url)
    token = /name="lockwork-release-token" content="([0-9a-f]+)"/.exec(page.text)?.[1] ?? ''
  })

  afterAll(async () => {
    await readOnly.close()
    await releasing.close()
    await holderLw.close()
    await viewLw.close()
    rmSync(dir, { recursive: true, force: true })
  })

  /** A release request from the page, with any header overridden. */
  const release = (body: unknown, headers: Record<string, string> = {}) =>
    send(`${releasing.url}api/release`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-lockwork-token': token, ...headers },
      body: JSON.stringify(body),
    })

  it('serves the page with a nonce CSP; the release token is in the page only with --allow-release', async () => {
    const [page, readOnlyPage] = await Promise.all([send(releasing.url), send(readOnly.url)])
    expect(page.status).toBe(200)
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8')
    const csp = String(page.headers['content-security-policy'])
    const nonce = /script-src 'nonce-([0-9a-f]{32})'/.exec(csp)?.[1]
    expect(nonce).toBeDefined()
    expect(csp).toContain("default-src 'none'")
    expect(page.text).toContain(`<script nonce="${nonce}">`)
    expect(token).toMatch(/^[0-9a-f]{64}$/)
    expect(readOnlyPage.text).toContain('name="lockwork-release-token" content=""')
    expect(readOnlyPage.text).not.toContain(token)
  })

  it('answers the state: locks with holder labels (never owner tokens), cache entries and totals', async () => {
    const lock = await holderLw.acquire('orders:7', { ttl: '30s' })
    await holderLw.cached(
      { key: (id: string) => `report:${id}`, ttl: '60s' },
      async (id) => `report ${id}`,
    )('1')
    const first = await send(`${readOnly.url}api/state`)
    expect(first.status).toBe(200)
    expect(first.json).toMatchObject({
      store: `sqlite:${path}`,
      prefix: 'app',
      allowRelease: false,
      locksTruncated: false,
      cache: { count: 1, truncated: false },
    })
    expect(first.json.locks).toEqual([
      {
        key: 'orders:7',
        holder: expect.stringMatching(/^worker@pod-9 host=\S+ pid=\d+$/),
        fence: lock.fence,
        remainingMs: expect.any(Number),
        scaleMs: expect.any(Number),
      },
    ])
    expect(first.text).not.toContain(lock.owner.slice(0, 36))
    expect(first.json.cache.entries).toEqual([
      {
        key: 'report:1',
        size: expect.any(Number),
        remainingMs: expect.any(Number),
        scaleMs: expect.any(Number),
      },
    ])
    expect(first.json.cache.totalSize).toBe(first.json.cache.entries[0].size)
    expect(first.json.jobs).toEqual([])
    // The bar's scale is the longest remaining time seen for this holder: it stays while the lease runs down.
    await new Promise((resolve) => setTimeout(resolve, 50))
    const second = await send(`${readOnly.url}api/state`)
    expect(second.json.locks[0].scaleMs).toBe(first.json.locks[0].scaleMs)
    expect(second.json.locks[0].remainingMs).toBeLessThan(second.json.locks[0].scaleMs)
    await lock.release()
  })

  it('answers the every() jobs with their runs, oldest first, and who handled each', async () => {
    let calls = 0
    const job = holderLw.every(
      'digest',
      { interval: '1s', runOnStart: true, onError: () => {} },
      async () => {
        calls++
        if (calls === 2) throw new Error('smtp <down>')
      },
    )
    // A loaded machine may get to a tick late and skip it: count the runs.
    const ran = (runs: readonly { outcome: string }[]) => runs.filter((run) => run.outcome !== 'skipped')
    try {
      await until('two runs to be recorded', async () => {
        const [summary] = await viewLw.jobs()
        return ran(summary?.runs ?? []).length >= 2
      })
      const state = await send(`${readOnly.url}api/state`)
      expect(state.json.jobs).toHaveLength(1)
      const [row] = state.json.jobs
      expect(row).toMatchObject({ name: 'digest', schedule: 'every 1s' })
      expect(ran(row.runs).slice(0, 2)).toEqual([
        {
          scheduledAt: expect.any(Number),
          startedAt: expect.any(Number),
          durationMs: expect.any(Number),
          outcome: 'ran',
          holder: expect.stringMatching(/^worker@pod-9 host=/),
        },
        expect.objectContaining({ outcome: 'failed', error: expect.stringContaining('smtp <down>') }),
      ])
      const times = row.runs.map((run: { scheduledAt: number }) => run.scheduledAt)
      expect(times).toEqual([...times].sort((a, b) => a - b))
    } finally {
      await job.stop()
    }
  })

  it('serves only a Host that is an IP address or localhost (no DNS rebinding)', async () => {
    const port = new URL(readOnly.url).port
    const at = (host: string) => send(`${readOnly.url}api/state`, { headers: { host } })
    const [evil, local, loopback6] = await Promise.all([
      at(`evil.example:${port}`),
      at(`localhost:${port}`),
      at(`[::1]:${port}`),
    ])
    expect(evil.status).toBe(403)
    expect(local.status).toBe(200)
    expect(loopback6.status).toBe(200)
    expect(hostAllowed(undefined, '127.0.0.1')).toBe(false)
    expect(hostAllowed('127.0.0.1.evil.example', '127.0.0.1')).toBe(false)
    expect(hostAllowed('dash.internal:80', 'dash.internal')).toBe(true)
  })

  it('refuses every release on a read-only dashboard (403), with or without a token', async () => {
    const lock = await holderLw.acquire('orders:8', { ttl: '30s' })
    const refused = await send(`${readOnly.url}api/release`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-lockwork-token': token },
      body: JSON.stringify({ key: 'orders:8', fence: lock.fence }),
    })
    expect(refused.status).toBe(403)
    expect(refused.json.error).toContain('--allow-release')
    expect(await viewLw.isLocked('orders:8')).toBe(true)
    await lock.release()
  })

  it('refuses a release without the token, as a form, or from another site (403)', async () => {
    const lock = await holderLw.acquire('orders:9', { ttl: '30s' })
    const body = { key: 'orders:9', fence: lock.fence }
    const replies = await Promise.all([
      release(body, { 'x-lockwork-token': '' }),
      release(body, { 'x-lockwork-token': 'f'.repeat(64) }),
      release(body, { 'content-type': 'text/plain' }),
      release(body, { 'content-type': 'application/x-www-form-urlencoded' }),
      release(body, { origin: 'http://evil.example' }),
      release(body, { 'sec-fetch-site': 'cross-site' }),
    ])
    expect(replies.map((reply) => reply.status)).toEqual([403, 403, 403, 403, 403, 403])
    expect(await viewLw.isLocked('orders:9')).toBe(true)
    expect(log).toEqual([])
    await lock.release()
  })

  it('releases only the holder the page showed (its fence), and says why not otherwise', async () => {
    const lock = await holderLw.acquire('orders:10', { ttl: '30s' })
    const [stale, badBody, notJson, badKey] = await Promise.all([
      release({ key: 'orders:10', fence: lock.fence - 1 }),
      release({ key: 'orders:10' }),
      send(`${releasing.url}api/release`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-lockwork-token': token },
        body: '{',
      }),
      release({ key: '', fence: 1 }),
    ])
    expect(stale.status).toBe(409)
    expect(stale.json.error).toContain(`fence ${lock.fence}`)
    expect([badBody.status, notJson.status, badKey.status]).toEqual([400, 400, 400])
    expect(await viewLw.isLocked('orders:10')).toBe(true)

    const done = await release(
      { key: 'orders:10', fence: lock.fence },
      { origin: new URL(releasing.url).origin },
    )
    expect(done.status).toBe(200)
    expect(done.json).toEqual({ released: true, key: 'orders:10', fence: lock.fence })
    expect(await viewLw.isLocked('orders:10')).toBe(false)
    expect(log).toEqual([
      expect.stringMatching(/^released orders:10 \(fence \d+, held by worker@pod-9 host=/),
    ])
    const again = await release({ key: 'orders:10', fence: lock.fence })
    expect(again.status).toBe(409)
    expect(again.json.error).toBe('orders:10 is free')
  })

  it('answers 404 and 405 for other paths and methods, and 503 when the store fails', async () => {
    const [missing, getRelease, postState] = await Promise.all([
      send(`${readOnly.url}nope`),
      send(`${releasing.url}api/release`),
      send(`${readOnly.url}api/state`, { method: 'POST' }),
    ])
    expect([missing.status, getRelease.status, postState.status]).toEqual([404, 405, 405])

    const closing = createLockwork({ backend: createSqliteBackend({ path }) })
    const broken = await startDashboard({
      lw: closing,
      host: '127.0.0.1',
      port: 0,
      store: 'sqlite:x',
      allowRelease: false,
    })
    await closing.close()
    const failed = await send(`${broken.url}api/state`)
    await broken.close()
    expect(failed.status).toBe(503)
    expect(failed.json.error).toMatch(/closed/)
  })

  it('reports a port in use, or an address not on this machine, as a usage error', async () => {
    const port = Number(new URL(readOnly.url).port)
    const error = await startDashboard({
      lw: viewLw,
      host: '127.0.0.1',
      port,
      store: 'x',
      allowRelease: false,
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CliError)
    expect((error as CliError).exitCode).toBe(2)
    expect((error as CliError).message).toContain(`cannot listen on 127.0.0.1:${port}`)
    const elsewhere = await startDashboard({
      lw: viewLw,
      host: '192.0.2.1',
      port: 0,
      store: 'x',
      allowRelease: false,
    }).catch((e: unknown) => e)
    expect(elsewhere).toBeInstanceOf(CliError)
    expect((elsewhere as CliError).exitCode).toBe(2)
  })
})

describe('lockwork dashboard', () => {
  it('hides a password in the store URL it shows', () => {
    expect(displayUrl('redis://:s3cret@10.0.0.5:6379/2')).toBe('redis://:***@10.0.0.5:6379/2')
    expect(displayUrl('postgres://app:s3cret@db/prod')).toBe('postgres://app:***@db/prod')
    expect(displayUrl('postgres://app@db/prod')).toBe('postgres://app@db/prod')
    expect(displayUrl('sqlite:///var/lib/a:b@c.sqlite')).toBe('sqlite:///var/lib/a:b@c.sqlite')
  })

  it('exits 2 for a bad --port and 3 for a store that is not there', async () => {
    const [badPort, noStore] = await Promise.all([
      runCli(['dashboard', `sqlite:${path}`, '--port', '70000']),
      runCli(['dashboard', `sqlite:${join(dir, 'missing.sqlite')}`]),
    ])
    expect(badPort.code).toBe(2)
    expect(badPort.stderr).toContain('--port')
    expect(noStore.code).toBe(3)
    expect(noStore.stderr).toContain('no SQLite database at')
  })
})
