import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createConnection } from 'mysql2/promise'
import { describe, expect, it } from 'vitest'

/**
 * The whole conformance suite against the MySQL/MariaDB adapter, through the
 * `lockwork-conformance` runner, as its author would run it. Needs a server at
 * MYSQL_URL (default mysql://root@127.0.0.1:3306/test): skipped with a warning
 * when there is none, except under CI=true, where a missing server fails.
 */
const url = process.env.MYSQL_URL || 'mysql://root@127.0.0.1:3306/test'
const ci = process.env.CI === 'true'
const here = fileURLToPath(new URL('..', import.meta.url))
const cli = fileURLToPath(new URL('../../../conformance/src/cli.ts', import.meta.url))

async function reachable(): Promise<string | undefined> {
  try {
    const connection = await createConnection({ uri: url, connectTimeout: 3_000 })
    await connection.end()
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}

const problem = await reachable()
if (problem && !ci) {
  console.warn(`⚠ SKIPPED the MySQL adapter conformance run: no MySQL/MariaDB at ${url} (${problem})`)
}

describe.skipIf(problem !== undefined && !ci)('MySQL adapter through lockwork-conformance', () => {
  it('passes the whole suite: exit 0 and every section green', async () => {
    if (problem) throw new Error(`CI=true but MySQL/MariaDB is not reachable at ${url}: ${problem}`)
    const env: NodeJS.ProcessEnv = { ...process.env, MYSQL_URL: url, NO_COLOR: '1', FORCE_COLOR: '0' }
    for (const name of Object.keys(env)) if (name.startsWith('VITEST') || name === 'TEST') delete env[name]
    const run = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '--conditions=@lockwork/source',
          cli,
          './src/mysql-adapter.ts',
          '--reporter',
          'dot',
        ],
        { cwd: here, env, stdio: ['ignore', 'pipe', 'pipe'] },
      )
      let output = ''
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString()
      })
      child.stderr.on('data', (chunk: Buffer) => {
        output += chunk.toString()
      })
      child.on('error', reject)
      child.on('close', (code) => resolve({ code, output }))
    })
    // On failure, show the runner's own summary (which case, why) rather than the whole progress log.
    const summary = run.output.slice(Math.max(0, run.output.lastIndexOf('lockwork conformance:')))
    expect(run.code, summary || run.output.slice(-4_000)).toBe(0)
    for (const section of [
      'leases',
      'contention',
      'keys',
      'bad input',
      'cache store',
      'lock handle',
      'lifecycle',
      'semaphores',
      'reader-writer locks',
    ])
      expect(run.output).toMatch(new RegExp(`^  ${section} +[1-9]\\d* +0 +0$`, 'm'))
    // The adapter has no waitForRelease nor waitForPermits: those cases are reported as skipped, never as passed.
    expect(run.output).toMatch(/^ {2}waitForRelease +0 +0 +[1-9]\d*$/m)
    expect(run.output).toMatch(/^ {2}waitForPermits +0 +0 +[1-9]\d*$/m)
    expect(run.output).toMatch(/^ {2}total +\d+ +0 +[1-9]\d*$/m)
    expect(run.output).toMatch(/✓ mysql passes the lockwork conformance suite: \d+ cases in [\d.]+ s/)
  }, 180_000)
})
