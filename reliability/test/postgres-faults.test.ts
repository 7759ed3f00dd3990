import { randomBytes } from 'node:crypto'
import { BackendError, createLockwork, type Lock, type LockBackend } from '@lockwork/core'
import { createPostgresBackend } from '@lockwork/postgres'
import { Client } from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backendAvailable, DATABASE_URL, openBackend, POSTGRES_TABLE, randomPrefix } from '../src/backends.js'
import { nowUs, sleep, yieldTurn } from '../src/clock.js'
import { contend } from '../src/contention.js'
import { checkHistory, type Section, summarize } from '../src/history-checker.js'
import { figure } from '../src/report.js'

const enabled = await backendAvailable('postgres', 'reliability pg_terminate_backend')

/** `DATABASE_URL` with an `application_name`, so one client's connections can be found in `pg_stat_activity`. */
function urlNamed(applicationName: string): string {
  const url = new URL(DATABASE_URL)
  url.searchParams.set('application_name', applicationName)
  return url.toString()
}

describe.skipIf(!enabled)(
  'postgres: pg_terminate_backend on every connection of one client mid-lease',
  () => {
    let admin: Client
    const opened: LockBackend[] = []
    const open = (backend: LockBackend): LockBackend => {
      opened.push(backend)
      return backend
    }

    beforeAll(async () => {
      admin = new Client({ connectionString: DATABASE_URL })
      admin.on('error', () => {})
      await admin.connect()
    })

    afterAll(async () => {
      await Promise.allSettled(opened.map((backend) => backend.close()))
      await admin?.end()
    })

    /** Terminates every server process of `applicationName`; returns how many. */
    async function terminate(applicationName: string): Promise<number> {
      const { rows } = await admin.query<{ ok: boolean }>(
        'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
        [applicationName],
      )
      return rows.filter((row) => row.ok).length
    }

    async function connections(applicationName: string): Promise<number> {
      const { rows } = await admin.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
        [applicationName],
      )
      return rows[0]?.n ?? 0
    }

    it('the client recovers; the lease (a row, not a session lock) stays held until its ttl and nobody gets it earlier; an auto-extended lease survives', async () => {
      const ttlMs = 2_000
      const app = `lockwork-rel-${randomBytes(4).toString('hex')}`
      const holderBackend = open(
        createPostgresBackend({ connectionString: urlNamed(app), table: POSTGRES_TABLE }),
      )
      const rivalBackend = open(openBackend({ name: 'postgres' }))
      const prefix = randomPrefix('terminate')
      const holder = createLockwork({ backend: holderBackend, prefix })
      const rival = createLockwork({ backend: rivalBackend, prefix })

      const sentAt = performance.now()
      const lease = await holder.acquire('leased', { ttl: ttlMs })
      const kept = await holder.acquire('kept', { ttl: 900, autoExtend: true })
      let leaseAbortedAt: number | undefined
      lease.signal.addEventListener('abort', () => {
        leaseAbortedAt = performance.now()
      })
      const keptSignal = kept.signal // watched through the LISTEN connection
      await sleep(100)
      const before = await connections(app)
      expect(before).toBeGreaterThanOrEqual(2) // the pool's and the listener's

      const terminatedAt = performance.now()
      const terminated = await terminate(app)
      expect(terminated).toBe(before)

      expect(await rival.tryAcquire('leased')).toBeNull()
      const recovery = (async () => {
        for (;;) {
          try {
            const holderSeen = await holder.peek('leased')
            return { at: performance.now(), holderSeen }
          } catch {
            await sleep(10)
          }
        }
      })()
      const rivalLock = await rival.acquire('leased', { ttl: ttlMs, wait: ttlMs + 5_000 })
      const rivalAfterMs = performance.now() - sentAt
      const recovered = await recovery

      // Nobody got the lease before its ttl, counted from before the holder's request was sent.
      expect(rivalAfterMs).toBeGreaterThanOrEqual(ttlMs)
      expect(rivalLock.fence).toBeGreaterThan(lease.fence)
      // The holder's client came back and still saw its own lease.
      expect(recovered.holderSeen?.owner).toBe(lease.owner)
      const recoveryMs = recovered.at - terminatedAt
      expect(recoveryMs).toBeLessThan(ttlMs)
      // Its handle reported the loss no earlier than the ttl either (the local deadline).
      expect(leaseAbortedAt ?? Number.POSITIVE_INFINITY).toBeGreaterThanOrEqual(sentAt + ttlMs - 1)
      // The auto-extended lease outlived several ttls across the termination and is still exclusive.
      while (performance.now() - terminatedAt < 3 * 900) await sleep(50)
      expect(keptSignal.aborted).toBe(false)
      expect(await rival.tryAcquire('kept')).toBeNull()
      expect(await kept.release()).toBe(true)
      await rivalLock.release()
      const after = await connections(app)

      const report = await contend(
        [holderBackend, rivalBackend, open(openBackend({ name: 'postgres' }))],
        prefix,
        200,
      )
      expect(report.violations).toEqual([])
      figure(
        'postgres pg_terminate_backend',
        `${terminated} connections terminated; holder client answered again ${Math.round(recoveryMs)} ms later (still the owner); ` +
          `rival got the lease ${Math.round(rivalAfterMs)} ms after the holder's request (ttl ${ttlMs}); ` +
          `auto-extended lease kept through it; ${after} connections re-opened; afterwards ${summarize(report)}`,
      )
    })

    it('terminated every 30 ms during contention: failures surface as BackendError (a failed release can be retried), never as two holders', async () => {
      const app = `lockwork-rel-${randomBytes(4).toString('hex')}`
      const backends = [
        open(createPostgresBackend({ connectionString: urlNamed(app), table: POSTGRES_TABLE })),
        open(openBackend({ name: 'postgres' })),
      ]
      const prefix = randomPrefix('terminate-loop')
      let stop = false
      let kills = 0
      const killer = (async () => {
        while (!stop) {
          kills += await terminate(app)
          await sleep(30)
        }
      })()
      const history: Section[] = []
      const failures: unknown[] = []
      let counter = 0
      try {
        await Promise.all(
          backends.map(async (backend, worker) => {
            const lw = createLockwork({ backend, prefix })
            for (let i = 0; i < 250; i++) {
              let lock: Lock
              try {
                lock = await lw.acquire('contended', { ttl: 2_000, wait: 20_000 })
              } catch (error) {
                failures.push(error)
                continue
              }
              const enter = nowUs()
              const value = counter
              await yieldTurn()
              counter = value + 1
              history.push({ worker, fence: lock.fence, enter, exit: nowUs() })
              for (let attempt = 0; ; attempt++) {
                try {
                  await lock.release()
                  break
                } catch (error) {
                  failures.push(error)
                  // The killer ends every connection of this client every 30 ms: give a retry room to land.
                  if (attempt >= 10) throw error
                  await sleep(10 + 20 * attempt)
                }
              }
            }
          }),
        )
      } finally {
        stop = true
        await killer
      }
      const report = checkHistory(history, { expectedCount: history.length, finalCount: counter })
      figure(
        'postgres terminate every 30 ms',
        `${kills} connections terminated; ${summarize(report)}; ${failures.length} calls failed, all BackendError`,
      )
      expect(report.violations).toEqual([])
      expect(kills).toBeGreaterThan(10)
      expect(failures.filter((error) => !(error instanceof BackendError))).toEqual([])
      expect(history.length).toBeGreaterThan(400)
    })
  },
)
