import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseDemoArgs } from '../src/settings.js'

/** The repository root, where `pnpm demo` runs. */
const root = fileURLToPath(new URL('../../..', import.meta.url))

/** Runs the demo as `pnpm demo` does (tsx with the source condition) and collects its output. */
function runDemo(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@lockwork/source', 'examples/webapp/src/main.ts', ...args],
      { cwd: root, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] },
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
}

describe('pnpm demo', () => {
  it('runs every scenario on the SQLite default with 4 workers and exits 0 with every count right', async () => {
    const { code, output } = await runDemo([])
    if (code !== 0) console.error(output)
    expect(code).toBe(0)
    expect(output).toMatch(/PASS: every count is right \(5 scenarios/)
    for (const title of [
      'GET /shot/:id',
      'POST /orders/:id/check',
      'GET /price/:sym',
      'POST /exports/:id',
      "every('expire-sessions')",
    ]) {
      expect(output).toContain(`### ${title}`)
    }
    expect(output).not.toMatch(/✗/)
  }, 120_000)

  it('rejects an unknown backend with the usage text and exit code 2', async () => {
    const { code, output } = await runDemo(['--', '--backend', 'mysql'])
    expect(code).toBe(2)
    expect(output).toMatch(/unknown backend "mysql"/)
    expect(output).toMatch(/Usage: pnpm demo/)
  }, 60_000)

  it('parses the command line, ignoring a leading --', () => {
    expect(parseDemoArgs([])).toEqual({ backend: 'sqlite', workers: 4, keep: false, help: false })
    expect(parseDemoArgs(['--', '--backend', 'redis']).backend).toBe('redis')
    expect(parseDemoArgs(['--backend=postgres', '--workers', '3']).workers).toBe(3)
    expect(() => parseDemoArgs(['--workers', '1'])).toThrow(/--workers/)
    expect(() => parseDemoArgs(['--nope'])).toThrow()
  })
})
