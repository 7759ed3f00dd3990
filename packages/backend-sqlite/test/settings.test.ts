import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BackendError, createLockwork, InvalidArgumentError } from '@lockwork/core'
import { afterAll, describe, expect, it } from 'vitest'
import { createSqliteBackend } from '../src/index.js'

const dir = mkdtempSync(join(tmpdir(), 'lockwork-sqlite-settings-'))

describe('sqlite backend: bad settings', () => {
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  it('refuses in-memory paths (two backends would both hold one key) with InvalidArgumentError naming options.path', () => {
    for (const path of [
      ':memory:',
      '',
      'file::memory:',
      'file::memory:?cache=shared',
      'file:locks?mode=memory',
    ]) {
      let error: unknown
      try {
        createSqliteBackend({ path })
      } catch (e) {
        error = e
      }
      expect(error, path).toBeInstanceOf(InvalidArgumentError)
      expect((error as InvalidArgumentError).argument).toBe('options.path')
    }
  })

  it('a file in a missing directory fails with a BackendError naming the path, with the driver error as cause', async () => {
    const path = join(dir, 'missing', 'locks.sqlite')
    const lw = createLockwork({ backend: createSqliteBackend({ path }) })
    const error = await lw.acquire('k').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendError)
    expect((error as BackendError).message).toContain(path)
    expect((error as BackendError).cause).toBeInstanceOf(Error)
    await lw.close()
  })

  it('a path SQLite cannot open as a file (a directory) fails with a BackendError naming the path', async () => {
    const lw = createLockwork({ backend: createSqliteBackend({ path: dir }) })
    const error = await lw.acquire('k').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendError)
    expect((error as BackendError).message).toContain(dir)
    expect((error as BackendError).cause).toBeInstanceOf(Error)
    await lw.close()
  })
})
