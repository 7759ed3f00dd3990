/**
 * Many waiters sharing one `AbortSignal`: no `MaxListenersExceededWarning`
 * (Node prints one when an event target gets more than 10 listeners of one
 * type), whatever the backend, and one abort still ends every wait.
 */
import { randomUUID } from 'node:crypto'
import { createLockwork, type LockBackend } from '@lockwork/core'
import { afterAll, describe, expect, it } from 'vitest'
import { availableBackends, BACKEND_NAMES, freshTarget, openBackend, randomPrefix } from '../src/backends.js'
import { sleep } from '../src/clock.js'
import { figure } from '../src/report.js'

const WAITERS = 50

const available = await availableBackends(BACKEND_NAMES, 'reliability shared signal')
const opened: LockBackend[] = []

afterAll(async () => {
  await Promise.allSettled(opened.map((backend) => backend.close()))
})

/** A backend without `waitForRelease`, so the core waits with backoff sleeps. */
function withoutWakeUps(inner: LockBackend): LockBackend {
  return {
    name: `${inner.name} (no waitForRelease)`,
    acquire: (...args) => inner.acquire(...args),
    extend: (...args) => inner.extend(...args),
    release: (...args) => inner.release(...args),
    peek: (...args) => inner.peek(...args),
    getCached: (...args) => inner.getCached(...args),
    setCached: (...args) => inner.setCached(...args),
    deleteCached: (...args) => inner.deleteCached(...args),
    close: () => inner.close(),
  }
}

/** Runs `body` and returns the process warnings emitted meanwhile. */
async function warningsDuring(body: () => Promise<void>): Promise<Error[]> {
  const warnings: Error[] = []
  const onWarning = (warning: Error) => warnings.push(warning)
  process.on('warning', onWarning)
  try {
    await body()
    // Warnings are emitted on a later tick.
    await sleep(50)
  } finally {
    process.off('warning', onWarning)
  }
  return warnings
}

const cases = [
  ...BACKEND_NAMES.map((name) => ({ label: name, name, wakeUps: true })),
  { label: 'memory without waitForRelease', name: 'memory' as const, wakeUps: false },
]

describe(`${WAITERS} waiters sharing one AbortSignal`, () => {
  for (const { label, name, wakeUps } of cases) {
    it.skipIf(!available[name])(
      `${label}: no MaxListenersExceededWarning, and one abort ends every wait`,
      async () => {
        const raw = openBackend(freshTarget(name))
        opened.push(raw)
        const backend = wakeUps ? raw : withoutWakeUps(raw)
        const lw = createLockwork({ backend, prefix: randomPrefix('signal') })
        const key = `shared-signal:${randomUUID()}`
        const holder = await lw.acquire(key, { ttl: '30s' })
        const controller = new AbortController()
        let outcomes: PromiseSettledResult<unknown>[] = []
        const warnings = await warningsDuring(async () => {
          const waits = Array.from({ length: WAITERS }, () =>
            lw.acquire(key, { wait: '20s', signal: controller.signal }),
          )
          // Long enough for every waiter to be waiting (and the head to have tried more than once).
          await sleep(500)
          const reason = new Error('stop waiting')
          controller.abort(reason)
          outcomes = await Promise.allSettled(waits)
        })
        await holder.release()
        figure(`shared signal on ${label}`, `${WAITERS} waiters, ${warnings.length} process warnings`)
        expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([])
        expect(
          outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error).message : 'acquired')),
        ).toEqual(Array(WAITERS).fill('stop waiting'))
        // Nothing left behind: the key is free and can be taken at once.
        const after = await lw.acquire(key, { wait: 0 })
        await after.release()
      },
    )
  }
})
