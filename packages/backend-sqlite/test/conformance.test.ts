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
// but not the channel: it sees the other instances' releases as another
// process would, through the wake file next to the database (or, where that
// cannot be watched, by polling; this instance lets its polls grow to 1 s, so
// that a wake-up by polling would be plain to see in the latency cases).
const alias = `${dir}-alias`
symlinkSync(dir, alias)
let created = 0

runConformance({
  name: 'sqlite',
  // Each call opens its own connection to one file, as separate processes would.
  createBackend: () =>
    created++ === 0
      ? createSqliteBackend({ path: join(alias, 'locks.sqlite'), pollMax: '1s' })
      : createSqliteBackend({ path }),
  teardown: () => {
    rmSync(alias, { force: true })
    rmSync(dir, { recursive: true, force: true })
  },
  // Releases reach waiters through the in-process channel (about 0.1 ms) and, on the first
  // instance, through the watched wake file (about 0.5 ms when idle, tens of ms when the
  // machine is loaded); a wake-up by polling would take 100 ms or more here.
  capabilities: { wakeUpWithinMs: 50 },
  describe,
  it,
  expect,
  beforeAll,
  afterAll,
})
