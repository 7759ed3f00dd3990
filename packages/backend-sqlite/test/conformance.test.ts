import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runConformance } from '@lockwork/conformance'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSqliteBackend } from '../src/index.js'

const dir = mkdtempSync(join(tmpdir(), 'lockwork-sqlite-conformance-'))
const path = join(dir, 'locks.sqlite')

runConformance({
  name: 'sqlite',
  // Each call opens its own connection to one file, as separate processes would.
  createBackend: () => createSqliteBackend({ path }),
  teardown: () => rmSync(dir, { recursive: true, force: true }),
  describe,
  it,
  expect,
  beforeAll,
  afterAll,
})
