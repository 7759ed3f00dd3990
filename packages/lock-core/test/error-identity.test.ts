import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as errors from '../src/errors.js'

type ErrorsModule = typeof errors

/** A physically separate copy of errors.ts, as a second installed copy of @lockwork/core would be. */
async function loadCopy(dir: string): Promise<ErrorsModule> {
  const file = join(dir, 'errors.ts')
  copyFileSync(new URL('../src/errors.ts', import.meta.url), file)
  return (await import(file)) as ErrorsModule
}

describe('error identity across two copies of @lockwork/core', () => {
  let dir: string
  let other: ErrorsModule

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lockwork-errors-copy-'))
    other = await loadCopy(dir)
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('really is a second copy: the classes differ', () => {
    expect(other.BackendError).not.toBe(errors.BackendError)
    expect(Object.getPrototypeOf(new other.BackendError('x', 'down'))).not.toBe(errors.BackendError.prototype)
  })

  it('an error from either copy is an instance of the same class of the other', () => {
    const cases = [
      [new other.BackendError('redis', 'down'), errors.BackendError],
      [new other.LockBusyError('k'), errors.LockBusyError],
      [new other.LockTimeoutError('k', 10), errors.LockTimeoutError],
      [new other.LockLostError('k', 'expired'), errors.LockLostError],
      [new other.InvalidArgumentError('key', 'bad'), errors.InvalidArgumentError],
      [new other.ComputeFailedError('k', 'boom'), errors.ComputeFailedError],
      [new errors.BackendError('redis', 'down'), other.BackendError],
    ] as const
    for (const [error, Class] of cases) {
      expect(error instanceof Class, `${error.name} instanceof the other ${Class.name}`).toBe(true)
      expect(error).toBeInstanceOf(errors.LockworkError)
      expect(error).toBeInstanceOf(other.LockworkError)
      expect(error).toBeInstanceOf(Error)
    }
  })

  it('the code still tells the classes apart', () => {
    const busy = new other.LockBusyError('k')
    expect(busy instanceof errors.BackendError).toBe(false)
    expect(busy instanceof errors.LockTimeoutError).toBe(false)
    expect(new errors.BackendError('x', 'y') instanceof other.LockLostError).toBe(false)
  })

  it('toBackendError keeps an error of the other copy as it is', () => {
    const lost = new other.LockLostError('k', 'taken')
    expect(errors.toBackendError('redis', 'extend', lost)).toBe(lost)
  })

  it('an unbranded error with a lockwork code is not a lockwork error', () => {
    const fake = Object.assign(new Error('x'), { code: 'LOCKWORK_BACKEND' })
    expect(fake instanceof errors.BackendError).toBe(false)
    expect(fake instanceof errors.LockworkError).toBe(false)
    expect((null as unknown as object) instanceof errors.LockworkError).toBe(false)
  })

  it('a subclass of your own matches only its own instances', () => {
    class MyBackendError extends errors.BackendError {}
    expect(new MyBackendError('mine', 'down')).toBeInstanceOf(MyBackendError)
    expect(new MyBackendError('mine', 'down')).toBeInstanceOf(other.BackendError)
    expect(new errors.BackendError('mine', 'down') instanceof MyBackendError).toBe(false)
    expect(new other.BackendError('mine', 'down') instanceof MyBackendError).toBe(false)
  })
})
