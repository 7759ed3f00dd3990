import { randomUUID } from 'node:crypto'
import { createLockwork, type LockBackend, type Lockwork, type LockworkOptions } from '@lockwork/core'
import type { ConformanceOptions, ExpectFn, TestApi } from './conformance-options.js'

/** What every section of the suite gets: the injected test API and backend instances. */
export interface SuiteContext extends TestApi {
  readonly name: string
  readonly expect: ExpectFn
  /** The first backend instance (created before the first case). */
  backend(): LockBackend
  /** Another instance over the same store, closed after the suite. */
  newBackend(): Promise<LockBackend>
  /** A key no other case or run uses. */
  key(label: string): string
  /** A client over the first instance (or `backend`) with a random prefix unless one is given. */
  lockwork(options?: Partial<LockworkOptions>): Lockwork
  /** Whether the backend implements `waitForRelease`. */
  readonly hasWaitForRelease: () => boolean
  /** The backend's declared wake-up latency (`capabilities.wakeUpWithinMs`), if any. */
  readonly wakeUpWithinMs: number | undefined
  /** The backend's declared grant liveness bound (`capabilities.grantLivenessMs`), if any. */
  readonly grantLivenessMs: number | undefined
  /**
   * Marks the running case skipped (a capability the backend lacks), given
   * the arguments the test runner passed the case's body. With vitest the
   * case is reported as skipped; a runner without a runtime skip (jest,
   * mocha) reports it as passed.
   */
  readonly skip: (caseArgs: readonly unknown[], reason: string) => void
}

/** Builds the context and registers the hooks that create and close instances. */
export function createSuiteContext(options: ConformanceOptions): SuiteContext {
  const run = randomUUID().slice(0, 8)
  const instances: LockBackend[] = []
  let first: LockBackend | undefined
  let counter = 0

  const newBackend = async (): Promise<LockBackend> => {
    const backend = await options.createBackend()
    instances.push(backend)
    return backend
  }

  options.beforeAll(async () => {
    first = await newBackend()
  })
  options.afterAll(async () => {
    await Promise.allSettled(instances.map((backend) => backend.close()))
    await options.teardown?.()
  })

  const backend = (): LockBackend => {
    if (!first) throw new Error('the conformance suite used the backend before beforeAll ran')
    return first
  }

  return {
    name: options.name,
    describe: options.describe,
    it: options.it,
    expect: options.expect,
    beforeAll: options.beforeAll,
    afterAll: options.afterAll,
    backend,
    newBackend,
    key: (label) => `lwc:${run}:${++counter}:${label}`,
    lockwork: (overrides = {}) =>
      createLockwork({
        backend: backend(),
        prefix: `lwc:${run}:${++counter}:`,
        defaultWait: '5s',
        ...overrides,
      }),
    hasWaitForRelease: () =>
      options.capabilities?.waitForRelease ?? typeof backend().waitForRelease === 'function',
    wakeUpWithinMs: options.capabilities?.wakeUpWithinMs,
    grantLivenessMs: options.capabilities?.grantLivenessMs,
    skip: (caseArgs, reason) => {
      // vitest passes a test context (a function object) first; its skip() throws to end the case as skipped.
      const context = caseArgs[0] as { skip?: unknown } | null | undefined
      const skip = context?.skip
      if (typeof skip === 'function') (skip as (note: string) => void).call(context, reason)
    },
  }
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** The error a promise rejects with; fails when it resolves. */
export async function rejection(promise: Promise<unknown> | (() => Promise<unknown>)): Promise<unknown> {
  try {
    await (typeof promise === 'function' ? promise() : promise)
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection, but the promise resolved')
}

/** A random owner token, as the core makes them. */
export function owner(): string {
  return randomUUID()
}

/** Wraps a backend so a case can tell how many calls reached it. */
export function countingBackend(backend: LockBackend): { backend: LockBackend; calls: () => number } {
  let calls = 0
  const wrapped = new Proxy(backend, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (typeof value !== 'function' || property === 'close') return value
      return (...args: unknown[]) => {
        calls++
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { backend: wrapped, calls: () => calls }
}
