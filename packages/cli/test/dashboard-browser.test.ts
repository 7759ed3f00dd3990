// `lockwork dashboard` end to end: another process holds locks on a SQLite
// file, the `lockwork` binary serves the page, and a real headless Chromium
// reads it and clicks its buttons.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLockwork, type Lockwork } from '@lockwork/core'
import { createMemoryBackend } from '@lockwork/memory'
import { createSqliteBackend } from '@lockwork/sqlite'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDashboard as serveDashboard } from '../src/dashboard/server.js'
import { chromiumAvailable, launchChromium } from './browser.js'
import { until } from './cli-process.js'

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
const bin = fileURLToPath(new URL('../bin/lockwork.js', import.meta.url))
const holderScript = fileURLToPath(new URL('./hold-locks.ts', import.meta.url))

const XSS = '<img src=x onerror=alert(1)>'
const PREFIX = 'app'
const JOB = 'report:<b>nightly</b>'
/** The holder's label: user data too. */
const LABEL = 'billing@<i>pod-3</i>'

/** A child process with its stdout collected. */
interface Running {
  readonly child: ChildProcess
  stdout(): string
  stderr(): string
  readonly exited: Promise<number | null>
}

function run(args: readonly string[], stdin: 'pipe' | 'ignore' = 'ignore'): Running {
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: [stdin, 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk
  })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk
  })
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return { child, stdout: () => out, stderr: () => err, exited }
}

/** The `lockwork dashboard` binary on the store; resolves its page's URL once it listens. */
async function startDashboard(path: string, ...flags: string[]): Promise<{ process: Running; url: string }> {
  const dashboard = run([bin, 'dashboard', `sqlite:${path}`, '--prefix', PREFIX, '--port', '0', ...flags])
  let url: string | undefined
  await until('the dashboard to listen', () => {
    url = /http:\/\/127\.0\.0\.1:\d+\//.exec(dashboard.stdout())?.[0]
    if (dashboard.child.exitCode !== null) throw new Error(`the dashboard exited: ${dashboard.stderr()}`)
    return url !== undefined
  })
  return { process: dashboard, url: url as string }
}

/** The key cells of the page's lock rows. */
function lockKeys(page: Page): Promise<string[]> {
  return page.locator('#lock-rows tr td.key').allTextContents()
}

const available = chromiumAvailable()

describe.runIf(available)('lockwork dashboard in Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockwork-dashboard-'))
  const path = join(dir, 'locks.sqlite')
  let lw: Lockwork
  let holder: Running
  let browser: Browser
  let readOnly: { process: Running; url: string }
  let releasing: { process: Running; url: string }
  const dialogs: string[] = []

  beforeAll(async () => {
    lw = createLockwork({ backend: createSqliteBackend({ path }), prefix: PREFIX, label: 'test-runner' })
    // An entry for the cache table.
    await lw.cached({ key: (name: string) => `price:${name}`, ttl: '60s' }, async () => 'abc')('ACME')
    holder = run(
      [
        '--conditions=@lockwork/source',
        '--import',
        'tsx',
        holderScript,
        path,
        PREFIX,
        LABEL,
        'orders:42',
        XSS,
        'stuck:1',
      ],
      'pipe',
    )
    // An every() job whose second run fails, for the timeline. It keeps 600 ticks (10 min) of
    // history: with the default 20, the failed run left the history 20 s after it, before the
    // timeline test got to look when starting the processes and the earlier cases took that long.
    let calls = 0
    lw.every(JOB, { interval: '1s', runOnStart: true, history: 600, onError: () => {} }, async () => {
      calls++
      if (calls === 2) throw new Error('disk <full>')
    })
    const browserStarting = launchChromium()
    await until('the holder to hold its locks', () => holder.stdout().includes('"stuck:1"'))
    ;[readOnly, releasing, browser] = await Promise.all([
      startDashboard(path),
      startDashboard(path, '--allow-release'),
      browserStarting,
    ])
  })

  afterAll(async () => {
    await browser?.close()
    for (const dashboard of [readOnly, releasing]) dashboard?.process.child.kill('SIGTERM')
    holder?.child.stdin?.end()
    await Promise.all([readOnly?.process.exited, releasing?.process.exited, holder?.exited])
    await lw?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  async function open(url: string): Promise<Page> {
    const page = await browser.newPage()
    page.on('dialog', (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`)
      void (dialog.type() === 'confirm' ? dialog.accept() : dialog.dismiss())
    })
    await page.goto(url)
    return page
  }

  it('shows the held locks with their holder label, fence and a remaining-time bar; keys are text', async () => {
    const page = await open(readOnly.url)
    await until('the locks to show', async () => (await lockKeys(page)).length === 3, 10_000)
    expect(await lockKeys(page)).toEqual([XSS, 'orders:42', 'stuck:1'])

    const row = page.locator('#lock-rows tr', { has: page.locator('td.key', { hasText: 'orders:42' }) })
    const holderCell = await row.locator('td.holder').textContent()
    expect(holderCell).toMatch(/^billing@<i>pod-3<\/i> host=\S+ pid=\d+$/)
    expect(holderCell).toContain(`pid=${holder.child.pid}`)
    const held = JSON.parse(holder.stdout().split('\n')[0] ?? '') as { fence: number }
    expect(await row.locator('td.fence').textContent()).toBe(String(held.fence))
    expect(await row.locator('td.remaining .time').textContent()).toMatch(/^\d+\.\ds$/)
    // The bar: remaining time against the longest seen for this holder (a 60 s lease taken moments ago).
    const style = (await row.locator('.fill').getAttribute('style')) ?? ''
    const width = Number(/width: ([\d.]+)%/.exec(style)?.[1])
    expect(width).toBeGreaterThan(50)
    expect(width).toBeLessThanOrEqual(100)

    // The key is user data: shown as its own text, never parsed as HTML.
    expect(await page.locator('img').count()).toBe(0)
    expect(await page.locator('i').count()).toBe(0)
    expect(await page.locator('#lock-rows td.key').first().innerHTML()).toBe(
      '&lt;img src=x onerror=alert(1)&gt;',
    )
    expect(dialogs).toEqual([])

    // The cache table and its totals.
    expect(await page.locator('#cache-rows td.key').allTextContents()).toEqual(['price:ACME'])
    expect(await page.locator('#cache-stats').textContent()).toMatch(/^\(1 entry, \d+ B\)$/)

    // Read-only: no buttons, and the release endpoint refuses, also from the page itself.
    expect(await page.locator('#mode').textContent()).toBe('read-only')
    expect(await page.locator('button').count()).toBe(0)
    const refused = await page.evaluate(async () => {
      const response = await fetch('/api/release', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-lockwork-token': '' },
        body: JSON.stringify({ key: 'orders:42', fence: 1 }),
      })
      return response.status
    })
    expect(refused).toBe(403)
    expect(await lw.isLocked('orders:42')).toBe(true)
    await page.close()
  })

  it('drops a lock from the page once its holder releases it', async () => {
    const page = await open(readOnly.url)
    await until('the lock to show', async () => (await lockKeys(page)).includes('orders:42'), 10_000)
    holder.child.stdin?.write('release orders:42\n')
    await until('the holder to release', () => holder.stdout().includes('"released","key":"orders:42"'))
    await until(
      'the lock to leave the page',
      async () => !(await lockKeys(page)).includes('orders:42'),
      10_000,
    )
    expect(await lockKeys(page)).toEqual([XSS, 'stuck:1'])
    await page.close()
  })

  it('with --allow-release, the Release button frees the lock so another acquire succeeds', async () => {
    const page = await open(releasing.url)
    await until('the lock to show', async () => (await lockKeys(page)).includes('stuck:1'), 10_000)
    expect(await page.locator('#mode').textContent()).toBe('release allowed')
    expect(await lw.tryAcquire('stuck:1')).toBeNull()

    const row = page.locator('#lock-rows tr', { has: page.locator('td.key', { hasText: 'stuck:1' }) })
    await row.locator('button.release').click()
    await until('the lock to leave the page', async () => !(await lockKeys(page)).includes('stuck:1'), 10_000)
    expect(dialogs.at(-1)).toMatch(
      /^confirm: Release stuck:1 \(fence \d+, held by billing@<i>pod-3<\/i> host=/,
    )
    expect(await page.locator('#release-result').textContent()).toBe('Released stuck:1.')

    const mine = await lw.tryAcquire('stuck:1')
    expect(mine).not.toBeNull()
    await mine?.release()
    await until('the dashboard to log the release', () =>
      releasing.process.stdout().includes('released stuck:1'),
    )
    await page.close()
  })

  it('shows every() jobs with their recent runs on a timeline, coloured by outcome', async () => {
    const page = await open(readOnly.url)
    const count = (selector: string) => page.locator(selector).count()
    await until(
      'a run that ran and one that failed on the timeline',
      async () =>
        (await count('#job-rows .runs .run.failed')) >= 1 && (await count('#job-rows .runs .run.ran')) >= 1,
      10_000,
    )
    expect(await page.locator('#job-rows td.name').allTextContents()).toEqual([JOB])
    expect(await page.locator('#job-rows td.schedule').textContent()).toBe('every 1s')
    expect(await page.locator('b').count()).toBe(0)
    const failed = await page.locator('#job-rows .run.failed').first().getAttribute('title')
    expect(failed).toContain('failed: Error: disk <full>')
    expect(failed).toContain('on test-runner host=')
    expect(await page.locator('#job-rows td.last').textContent()).toMatch(/ ago on test-runner host=/)
    expect(dialogs.filter((dialog) => dialog.startsWith('alert'))).toEqual([])
    await page.close()
  })

  it('shows how many callers wait for a lock where the store counts them (memory)', async () => {
    const memory = createLockwork({ backend: createMemoryBackend(), label: 'queue-worker' })
    const dashboard = await serveDashboard({
      lw: memory,
      host: '127.0.0.1',
      port: 0,
      store: 'memory',
      allowRelease: false,
    })
    const lock = await memory.acquire('queue:1', { ttl: '30s' })
    const waiter = memory.acquire('queue:1', { ttl: '30s', wait: '20s' })
    try {
      const page = await open(dashboard.url)
      await until(
        'the waiter to show',
        async () => (await page.locator('#lock-rows td.waiting').allTextContents()).join() === '1',
        10_000,
      )
      expect(await page.locator('#lock-head th').allTextContents()).toEqual([
        'Key',
        'Holder',
        'Fence',
        'Expires in',
        'Waiting',
      ])
      await page.close()
    } finally {
      await lock.release()
      await (await waiter).release()
      await dashboard.close()
      await memory.close()
    }
  })

  it('stops on SIGTERM with exit code 0', async () => {
    readOnly.process.child.kill('SIGTERM')
    expect(await readOnly.process.exited).toBe(0)
  })
})
