import { beforeAll, describe, expect, it } from 'vitest'
import { type CliRun, fixture, runCli } from './run-cli.js'

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
    ]) {
      expect(good.output).toMatch(new RegExp(`^  ${section} +[1-9]\\d* +0 +0$`, 'm'))
    }
    expect(good.output).toMatch(/^ {2}total +\d+ +0 +0$/m)
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
    const missing = await runCli(['./no/such/adapter.mjs'])
    expect(missing.code).toBe(2)
    expect(missing.output).toContain('no such file')
    expect(missing.output).toContain('Usage: lockwork-conformance <adapter-module>')
    const none = await runCli([])
    expect(none.code).toBe(2)
    const badTimeout = await runCli([fixture('memory-adapter.mjs'), '--timeout', 'soon'])
    expect(badTimeout.code).toBe(2)
    expect(badTimeout.output).toContain('--timeout')
    const help = await runCli(['--help'])
    expect(help.code).toBe(0)
    expect(help.output).toContain('createBackend()')
  }, 60_000)
})
