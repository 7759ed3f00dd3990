import { randomUUID } from 'node:crypto'
import { BackendError } from '@lockwork/core'
import { afterAll, describe, expect, it } from 'vitest'
import { createPostgresBackend } from '../src/index.js'
import { databaseUrl, dropObjects, postgresAvailable, randomTable } from './postgres-available.js'

const available = await postgresAvailable()

/** Settles `promise` within `ms`, or reports that it did not. */
function within<T>(
  promise: Promise<T>,
  ms: number,
): Promise<{ settled: boolean; value?: T; error?: unknown }> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ settled: false }), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve({ settled: true, value })
      },
      (error: unknown) => {
        clearTimeout(timer)
        resolve({ settled: true, error })
      },
    )
  })
}

describe.skipIf(!available)('postgres backend: close() with calls in flight', () => {
  const tables: string[] = []
  const newTable = (): string => {
    const table = randomTable('close')
    tables.push(table)
    return table
  }
  afterAll(async () => {
    for (const table of tables) await dropObjects(table)
  })

  it('an acquire sent before the schema was ready settles at once when close() comes in between (it used to hang forever)', async () => {
    const table = newTable()
    const backend = createPostgresBackend({ connectionString: databaseUrl, table })
    const acquiring = within(backend.acquire(`k-${randomUUID()}`, 'owner', 5_000), 3_000)
    await backend.close()
    const outcome = await acquiring
    expect(outcome.settled).toBe(true)
    if (outcome.error !== undefined) expect(outcome.error).toBeInstanceOf(BackendError)
  })

  it('calls already sent on a ready backend get their answers before close() ends the pool', async () => {
    const table = newTable()
    const backend = createPostgresBackend({ connectionString: databaseUrl, table })
    const key = `k-${randomUUID()}`
    await backend.peek(key)
    // The calls are sent at once and open up to 8 new connections before they are answered: a
    // generous bound for a loaded machine (a call that never settles is the failure this catches).
    const calls = Array.from({ length: 8 }, (_, i) =>
      within(backend.acquire(`${key}-${i}`, 'owner', 5_000), 15_000),
    )
    await backend.close()
    for (const outcome of await Promise.all(calls)) {
      expect(outcome.settled).toBe(true)
      if (outcome.error !== undefined) expect(outcome.error).toBeInstanceOf(BackendError)
    }
  })
})
