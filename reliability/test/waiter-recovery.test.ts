/**
 * Waiters after their wake-up channel was lost: a Redis server restarted
 * without persistence forgets leases without publishing a release, and a
 * PostgreSQL listener connection can be terminated. Waiters must look again
 * once the channel is back, not sleep until the vanished lease's ttl.
 */
import { randomUUID } from 'node:crypto'
import { createLockwork, type LockBackend } from '@lockwork/core'
import type { PostgresBackend } from '@lockwork/postgres'
import { Client } from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  availableBackends,
  type BackendTarget,
  DATABASE_URL,
  freshTarget,
  openBackend,
  randomPrefix,
} from '../src/backends.js'
import { sleep } from '../src/clock.js'
import { PrivateRedis, redisServerAvailable } from '../src/redis-server.js'
import { figure } from '../src/report.js'

/** The vanished holder's lease: what a waiter would sleep through without the fix. */
const HOLDER_TTL_MS = 20_000
/** How soon after the server is back a waiter must have noticed. */
const RECOVERY_BOUND_MS = 5_000

const redisEnabled = redisServerAvailable('reliability waiter recovery after a Redis restart')
const available = await availableBackends(['postgres'], 'reliability waiter recovery')

describe.skipIf(!redisEnabled)('redis: waiters after a restart that lost every lease', () => {
  let server: PrivateRedis
  let target: BackendTarget
  const opened: LockBackend[] = []
  /** A separate backend instance, as another process would have. */
  const backend = (): LockBackend => {
    const instance = openBackend(target)
    opened.push(instance)
    return instance
  }

  beforeAll(async () => {
    server = await PrivateRedis.start()
    target = { name: 'redis', url: server.url, namespace: 'lockwork-reliability:' }
  })

  afterAll(async () => {
    await Promise.allSettled(opened.map((instance) => instance.close()))
    await server?.destroy()
  })

  it('a waiter for a lock whose lease vanished acquires it within seconds of the server coming back, not at the old ttl', async () => {
    const prefix = randomPrefix('recover-lock')
    const holder = createLockwork({ backend: backend(), prefix })
    const waiters = [
      createLockwork({ backend: backend(), prefix }),
      createLockwork({ backend: backend(), prefix }),
    ]
    await holder.acquire('vanishing', { ttl: HOLDER_TTL_MS })
    const acquiredAt: number[] = []
    const waits = waiters.map(async (lw) => {
      const lock = await lw.acquire('vanishing', { ttl: '10s', wait: HOLDER_TTL_MS * 2 })
      acquiredAt.push(performance.now())
      await sleep(50)
      await lock.release()
    })
    // Both waiters are asleep on the release channel.
    await sleep(500)
    await server.restart()
    const upAt = performance.now()
    await Promise.all(waits)
    const recoveryMs = Math.min(...acquiredAt) - upAt
    figure(
      'waiter recovery after a Redis restart (lock)',
      `first waiter acquired ${Math.round(recoveryMs)} ms after the server was up (the vanished lease had ~${Math.round(HOLDER_TTL_MS / 1000)} s left); ` +
        `second ${Math.round(Math.max(...acquiredAt) - upAt)} ms`,
    )
    expect(recoveryMs).toBeLessThan(RECOVERY_BOUND_MS)
  })

  it('a waiter for semaphore permits whose holders vanished gets them within seconds of the server coming back, not at the old ttl', async () => {
    const prefix = randomPrefix('recover-semaphore')
    const holder = createLockwork({ backend: backend(), prefix })
    const waiter = createLockwork({ backend: backend(), prefix })
    await holder.semaphore('vanishing', { limit: 2 }).acquire({ permits: 2, ttl: HOLDER_TTL_MS })
    let acquiredAt = 0
    const wait = (async () => {
      const permit = await waiter
        .semaphore('vanishing', { limit: 2 })
        .acquire({ ttl: '10s', wait: HOLDER_TTL_MS * 2 })
      acquiredAt = performance.now()
      await permit.release()
    })()
    // The waiter is asleep on the semaphore's release channel.
    await sleep(500)
    await server.restart()
    const upAt = performance.now()
    await wait
    const recoveryMs = acquiredAt - upAt
    figure(
      'waiter recovery after a Redis restart (semaphore)',
      `the waiter got its permit ${Math.round(recoveryMs)} ms after the server was up (the vanished holder had ~${Math.round(HOLDER_TTL_MS / 1000)} s left)`,
    )
    expect(recoveryMs).toBeLessThan(RECOVERY_BOUND_MS)
  })

  it('a cached caller in another process gets a value within seconds of the restart, not at the compute lock’s ttl', async () => {
    const prefix = randomPrefix('recover-cached')
    const computeMs = 2_000
    const runs: string[] = []
    const cachedOn = (name: string) =>
      createLockwork({ backend: backend(), prefix }).cached(
        { key: 'report', ttl: '60s', lockTtl: HOLDER_TTL_MS },
        async () => {
          runs.push(name)
          await sleep(computeMs)
          return `computed by ${name}`
        },
      )
    const first = cachedOn('first')
    const second = cachedOn('second')
    const startedAt = performance.now()
    const computing = first()
    await sleep(300)
    let secondAt = 0
    const waiting = second().then((value) => {
      secondAt = performance.now()
      return value
    })
    await sleep(300)
    await server.restart()
    const upAt = performance.now()
    const [value, seen] = await Promise.all([computing, waiting])
    figure(
      'waiter recovery after a Redis restart (cached)',
      `the waiting caller got "${seen}" ${Math.round(secondAt - upAt)} ms after the server was up ` +
        `(${Math.round(secondAt - startedAt)} ms after the first call; computations: ${runs.join(', ')}; the computing caller got "${value}")`,
    )
    expect(secondAt - upAt).toBeLessThan(computeMs + RECOVERY_BOUND_MS)
  })
})

describe.skipIf(!available.postgres)('postgres: waiters after the listener connection is terminated', () => {
  const opened: LockBackend[] = []

  afterAll(async () => {
    await Promise.allSettled(opened.map((instance) => instance.close()))
  })

  it('pg_terminate_backend on the listener: the waiter reconnects its LISTEN and is woken by the next release at once', async () => {
    const target = freshTarget('postgres')
    const holderBackend = openBackend(target)
    const waiterBackend = openBackend(target) as PostgresBackend
    opened.push(holderBackend, waiterBackend)
    const prefix = randomPrefix('recover-listen')
    const holder = createLockwork({ backend: holderBackend, prefix })
    const waiter = createLockwork({ backend: waiterBackend, prefix })
    const key = `listener:${randomUUID()}`
    const lock = await holder.acquire(key, { ttl: HOLDER_TTL_MS })
    let acquiredAt = 0
    const waiting = waiter.acquire(key, { wait: HOLDER_TTL_MS * 2 }).then((acquired) => {
      acquiredAt = performance.now()
      return acquired
    })
    await sleep(500)
    const pid = waiterBackend.listenerProcessId
    expect(pid).toBeTypeOf('number')
    const admin = new Client({ connectionString: DATABASE_URL })
    await admin.connect()
    try {
      await admin.query('SELECT pg_terminate_backend($1)', [pid])
    } finally {
      await admin.end()
    }
    // Let the waiter notice the loss and listen again.
    const deadline = performance.now() + RECOVERY_BOUND_MS
    while ((waiterBackend.listenerProcessId ?? pid) === pid && performance.now() < deadline) await sleep(20)
    const relisten = waiterBackend.listenerProcessId
    const releasedAt = performance.now()
    await lock.release()
    const acquired = await waiting
    const wakeMs = acquiredAt - releasedAt
    figure(
      'waiter recovery after pg_terminate_backend on the listener',
      `listener ${pid} → ${relisten ?? 'none'}; waiter acquired ${Math.round(wakeMs)} ms after the release`,
    )
    expect(relisten).toBeTypeOf('number')
    expect(relisten).not.toBe(pid)
    expect(wakeMs).toBeLessThan(1_000)
    await acquired.release()
  })
})
