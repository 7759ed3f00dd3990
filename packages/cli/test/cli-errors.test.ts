import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from './cli-process.js'

const work = mkdtempSync(join(tmpdir(), 'lockwork-cli-work-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

describe('lockwork errors', () => {
  it('names an unreachable store and exits 3; an unknown URL or bad flag exits 2', async () => {
    const [redis, postgres, sqlite, unknown, noForce] = await Promise.all([
      runCli(['locks', 'redis://127.0.0.1:1']),
      runCli(['locks', 'postgres://postgres@127.0.0.1:1/test']),
      runCli(['locks', `sqlite:${join(work, 'missing.sqlite')}`]),
      runCli(['locks', 'mysql://localhost/db']),
      runCli(['exec', 'sqlite:x', 'key', '--ttl', 'soon', '--', 'true']),
    ])
    expect(redis.code).toBe(3)
    expect(redis.stderr).toContain('127.0.0.1:1')
    expect(postgres.code).toBe(3)
    expect(postgres.stderr).toContain('127.0.0.1:1')
    expect(sqlite.code).toBe(3)
    expect(sqlite.stderr).toContain('missing.sqlite')
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('unknown store URL')
    expect(noForce.code).toBe(2)
    expect(noForce.stderr).toContain('--ttl')
  }, 60_000)
})
