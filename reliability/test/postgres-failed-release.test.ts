import { randomBytes } from 'node:crypto'
import { BackendError, createLockwork, type LockBackend, LockLostError } from '@lockwork/core'
import { createPostgresBackend } from '@lockwork/postgres'
import { Client } from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { backendAvailable, DATABASE_URL, openBackend, POSTGRES_TABLE, randomPrefix } from '../src/backends.js'
import { sleep } from '../src/clock.js'

const enabled = await backendAvailable('postgres', 'reliability release on a terminated connection')

/** `DATABASE_URL` with an `application_name`, so one client's connections can be found in `pg_stat_activity`. */
function urlNamed(applicationName: string): string {
  const url = new URL(DATABASE_URL)
  url.searchParams.set('application_name', applicationName)
  return url.toString()
}

describe.skipIf(!enabled)('postgres: a release whose connection is terminated mid-statement', () => {
  const clients: Client[] = []
  const opened: LockBackend[] = []

  const connect = async (): Promise<Client> => {
    const client = new Client({ connectionString: DATABASE_URL })
    client.on('error', () => {})
    await client.connect()
    clients.push(client)
    return client
  }

  afterAll(async () => {
    await Promise.allSettled(opened.map((backend) => backend.close()))
    await Promise.allSettled(clients.map((client) => client.end()))
  })

  /**
   * Sets up a holder whose next release will be blocked on the lease row
   * (another connection holds it `FOR UPDATE`) and then terminated with
   * `pg_terminate_backend`: a release that fails mid-statement, for real.
   */
  async function setup() {
    const app = `lockwork-rel-release-${randomBytes(4).toString('hex')}`
    const backend = createPostgresBackend({ connectionString: urlNamed(app), table: POSTGRES_TABLE })
    const rivalBackend = openBackend({ name: 'postgres' })
    opened.push(backend, rivalBackend)
    const prefix = randomPrefix('pg-release')
    const reported: { error: unknown; key: string }[] = []
    const lw = createLockwork({
      backend,
      prefix,
      onReleaseError: (error, key) => reported.push({ error, key }),
    })
    const rival = createLockwork({ backend: rivalBackend, prefix })
    const blocker = await connect()
    const admin = await connect()
    /** Locks the lease row of `key` from another connection, so the release statement waits on it. */
    const block = async (key: string) => {
      await blocker.query('BEGIN')
      await blocker.query(`SELECT 1 FROM ${POSTGRES_TABLE} WHERE key = $1 FOR UPDATE`, [lw.fullKey(key)])
    }
    /** Terminates the holder's connection once its release waits on the row lock, then lets the row go. */
    const terminateBlockedRelease = async () => {
      const until = performance.now() + 10_000
      for (;;) {
        const { rows } = await admin.query<{ ok: boolean }>(
          `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
           WHERE application_name = $1 AND wait_event_type = 'Lock'`,
          [app],
        )
        if (rows.some((row) => row.ok)) break
        if (performance.now() > until) throw new Error('the release never waited on the row lock')
        await sleep(10)
      }
      await blocker.query('ROLLBACK')
    }
    return { lw, rival, reported, block, terminateBlockedRelease }
  }

  it('release() rejects with BackendError; the handle says it no longer holds, its signal aborts, and the lease stays until its ttl', async () => {
    const { lw, rival, block, terminateBlockedRelease } = await setup()
    const lock = await lw.acquire('direct', { ttl: 2_000, autoExtend: true })
    const signal = lock.signal
    await block('direct')
    const releasing = lock.release().then(
      () => 'resolved',
      (error: unknown) => error,
    )
    await terminateBlockedRelease()
    expect(await releasing).toBeInstanceOf(BackendError)
    expect(lock.held).toBe(false)
    expect(signal.aborted).toBe(true)
    expect(signal.reason).toBeInstanceOf(LockLostError)
    expect(signal.reason).toMatchObject({ reason: 'release-failed' })
    // The statement never committed: the lease is still there, and a rival gets it only at its ttl.
    expect((await rival.peek('direct'))?.owner).toBe(lock.owner)
    const taken = await rival.acquire('direct', { ttl: '5s', wait: '5s' })
    expect(taken.fence).toBeGreaterThan(lock.fence)
    await taken.release()
  })

  it('withLock resolves with fn’s result, and the terminated release is reported to onReleaseError', async () => {
    const { lw, reported, block, terminateBlockedRelease } = await setup()
    const result = lw.withLock(
      'wrapped',
      async () => {
        await block('wrapped')
        return 'done'
      },
      { ttl: 2_000 },
    )
    await terminateBlockedRelease()
    await expect(result).resolves.toBe('done')
    expect(reported.map((r) => r.key)).toEqual(['wrapped'])
    expect(reported[0]?.error).toBeInstanceOf(BackendError)
  })
})
