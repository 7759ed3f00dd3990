import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { BIN, type CliRun, fixture, runCli } from './run-cli.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/**
 * `lockwork-conformance` end to end: a correct adapter passes with a summary
 * per section; a deliberately broken one (release without an owner check)
 * fails with exit code 1, naming the case and why.
 */
describe('lockwork-conformance runner', () => {
  let good: CliRun
  let broken: CliRun

  beforeAll(async () => {
    // The two full runs at once: each takes ~15 s, mostly waiting on timers.
    ;[good, broken] = await Promise.all([
      runCli([fixture('memory-adapter.mjs'), '--reporter', 'dot']),
      runCli([fixture('broken-release-adapter.mjs'), '--reporter', 'dot']),
    ])
  }, 180_000)

  it('passes a correct adapter: exit 0 and a summary per section', () => {
    expect(good.code, good.output.slice(Math.max(0, good.output.lastIndexOf('lockwork conformance:')))).toBe(
      0,
    )
    for (const section of [
      'leases',
      'contention',
      'keys',
      'bad input',
      'cache store',
      'waitForRelease',
      'waiting in the core',
      'lock handle',
      'lifecycle',
      'semaphores',
      'waitForPermits',
      'reader-writer locks',
      'lead',
    ]) {
      expect(good.output).toMatch(new RegExp(`^  ${section} +[1-9]\\d* +0 +0$`, 'm'))
    }
    // The fixture has no waitForGrant: that optional section is all skipped, and it is the only skip.
    const grant = good.output.match(/^ {2}waitForGrant \(grant-on-release\) +0 +0 +([1-9]\d*)$/m)
    expect(grant).not.toBeNull()
    expect(good.output).toMatch(new RegExp(`^ {2}total +\\d+ +0 +${grant?.[1]}$`, 'm'))
    expect(good.output).toMatch(
      /✓ memory-fixture passes the lockwork conformance suite: \d+ cases in [\d.]+ s/,
    )
  })

  it('fails an adapter that releases without checking the owner: exit 1, the case, and why', () => {
    expect(broken.code, broken.output).toBe(1)
    const summary = broken.output.slice(broken.output.lastIndexOf('lockwork conformance: broken-release'))
    expect(summary).toMatch(/^ {2}leases +\d+ +[1-9]\d* +0 +✗$/m)
    expect(summary).toMatch(/^ {2}lifecycle +\d+ +0 +0$/m)
    expect(summary).toContain('✗ leases › lets only the owner release or extend; a stranger changes nothing')
    expect(summary).toContain('AssertionError: expected true to be false')
    expect(summary).toMatch(
      /at lease-cases\.ts:\d+ {2}expect\(await b\.release\(key, stranger\)\)\.toBe\(false\)/,
    )
    expect(summary).toMatch(
      /✗ broken-release does not pass the lockwork conformance suite: \d+ of \d+ cases failed/,
    )
  })

  it('reports a module without createBackend as an error outside the cases, exit 1', async () => {
    const run = await runCli([fixture('no-factory-adapter.mjs')])
    expect(run.code, run.output).toBe(1)
    expect(run.output).toContain('must export a function createBackend()')
    expect(run.output).toContain('makeBackend')
    expect(run.output).toMatch(/✗ .*no-factory-adapter/)
  }, 60_000)

  it('exits 2 with the usage on a missing module or bad arguments', async () => {
    // Four runs that stop at the command line: side by side.
    const [missing, none, badTimeout, help] = await Promise.all([
      runCli(['./no/such/adapter.mjs']),
      runCli([]),
      runCli([fixture('memory-adapter.mjs'), '--timeout', 'soon']),
      runCli(['--help']),
    ])
    expect(missing.code).toBe(2)
    expect(missing.output).toContain('no such file')
    expect(missing.output).toContain('Usage: lockwork-conformance <adapter-module>')
    expect(none.code).toBe(2)
    expect(badTimeout.code).toBe(2)
    expect(badTimeout.output).toContain('--timeout')
    expect(help.code).toBe(0)
    expect(help.output).toContain('createBackend()')
  }, 60_000)

  it('reports cases ruled out by a missing capability as skipped, never passed', async () => {
    const run = await runCli([
      fixture('no-wake-adapter.mjs'),
      '--filter',
      'waitForRelease|waiting in the core',
    ])
    expect(run.code, run.output).toBe(0)
    expect(run.output).toMatch(/^ {2}waitForRelease +0 +0 +[1-9]\d*$/m)
    expect(run.output).toMatch(/^ {2}waiting in the core +[1-9]\d* +0 +0$/m)
    expect(run.output).toContain(
      '↓ waitForRelease › resolves at once when the key is free (skipped: the backend has no waitForRelease)',
    )
  }, 60_000)

  it('prints one line per case, named by section and title: no file path, no colour when piped', async () => {
    const run = await runCli([fixture('memory-adapter.mjs'), '--filter', 'waiting in the core'], {
      env: { NO_COLOR: undefined, FORCE_COLOR: undefined, CI: undefined },
    })
    expect(run.code, run.output).toBe(0)
    expect(run.output).toMatch(
      /^ {2}✓ waiting in the core › a waiter acquires soon after the holder releases \d+ ms$/m,
    )
    expect(run.output).not.toMatch(/runner-entry|conformance\/src|\.ts\b/)
    expect(run.output).not.toContain('\u001b[')
    const forced = await runCli([fixture('memory-adapter.mjs'), '--filter', 'waiting in the core'], {
      env: { NO_COLOR: undefined, FORCE_COLOR: '1' },
    })
    expect(forced.output).toContain('\u001b[32m✓\u001b[39m waiting in the core › ')
  }, 60_000)

  it('runs from a checkout without a build: node bin/lockwork-conformance.js and pnpm exec', async () => {
    const [direct, exec] = await Promise.all([
      runCli([fixture('memory-adapter.mjs'), '--filter', 'lifecycle'], {
        command: [process.execPath, BIN],
        cwd: ROOT,
      }),
      runCli(['--version'], { command: ['pnpm', 'exec', 'lockwork-conformance'], cwd: ROOT }),
    ])
    expect(direct.code, direct.output).toBe(0)
    expect(direct.output).toMatch(/^ {2}lifecycle +[1-9]\d* +0 +0$/m)
    expect(exec.code, exec.output).toBe(0)
    expect(exec.output.trim()).toMatch(/^\d+\.\d+\.\d+/)
  }, 60_000)
})
