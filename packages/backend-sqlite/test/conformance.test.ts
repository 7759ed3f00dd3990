import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runConformance } from '@lockwork/conformance'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSqliteBackend } from '../src/index.js'

const dir = mkdtempSync(join(tmpdir(), 'lockwork-sqlite-conformance-'))
const path = join(dir, 'locks.sqlite')
// The same directory under a second name. Instances in one process share an
// in-process wake-up channel per path; the first instance (the one most cases
// wait through) opens the file through this other name, so it shares the file
// but not the channel: it sees the other instances' releases only by polling,
// as another process would.
const alias = `${dir}-alias`
symlinkSync(dir, alias)
let created = 0

runConformance({
  name: 'sqlite',
  // Each call opens its own connection to one file, as separate processes would.
  createBackend: () => createSqliteBackend({ path: created++ === 0 ? join(alias, 'locks.sqlite') : path }),
  teardown: () => {
    rmSync(alias, { force: true })
    rmSync(dir, { recursive: true, force: true })
  },
  // Releases reach the waiters of the other instances through the in-process channel, not a poll.
  capabilities: { wakeUpWithinMs: 5 },
  describe,
  it,
  expect,
  beforeAll,
  afterAll,
})
