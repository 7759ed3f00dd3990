import { BackendError, createLockwork, type Lockwork } from '@lockwork/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openBackend } from '../src/backends.js'
import { sleep } from '../src/clock.js'
import { PrivateRedis, redisServerAvailable } from '../src/redis-server.js'
import { figure } from '../src/report.js'

const enabled = redisServerAvailable('reliability Redis release under CLIENT KILL')

const LOOPS = 24
const RUN_MS = 8_000
const KILL_EVERY_MS = 100

describe.skipIf(!enabled)('redis: release() answers truthfully while connections are killed', () => {
  let server: PrivateRedis
  const clients: Lockwork[] = []

  beforeAll(async () => {
    server = await PrivateRedis.start()
  })

  afterAll(async () => {
    await Promise.allSettled(clients.map((lw) => lw.close()))
    await server?.destroy()
  })

  it(`CLIENT KILL every ${KILL_EVERY_MS} ms: a release of a lease or semaphore permit we held never answers false (ioredis resends it after the reconnect)`, async () => {
    for (let i = 0; i < 4; i++) {
      const backend = openBackend({ name: 'redis', url: server.url, namespace: 'lockwork-resend:' })
      clients.push(createLockwork({ backend, prefix: `c${i}:` }))
    }
    const admin = server.client()
    let kills = 0
    let stop = false
    const killer = (async () => {
      while (!stop) {
        await sleep(KILL_EVERY_MS)
        // Every normal connection but the admin's own: the backends' command connections.
        await admin
          .call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
          .then(() => kills++)
          .catch(() => undefined)
      }
    })()
    let released = 0
    let wrong = 0
    let failed = 0
    // Odd loops take a semaphore permit instead of a lock: its release keeps the same record.
    const semaphore = { released: 0, wrong: 0 }
    const deadline = performance.now() + RUN_MS
    const loop = async (n: number) => {
      const lw = clients[n % clients.length] as Lockwork
      const permits = n % 2 === 1
      for (let i = 0; performance.now() < deadline; i++) {
        // A key of its own per section: nobody else can free or take it, so `false` is never right.
        let lock: Awaited<ReturnType<Lockwork['acquire']>>
        try {
          lock = permits
            ? await lw.semaphore(`s${n}:${i}`, { limit: 2 }).acquire({ ttl: '30s', wait: '5s' })
            : await lw.acquire(`k${n}:${i}`, { ttl: '30s', wait: '5s' })
        } catch (error) {
          if (!(error instanceof BackendError)) throw error
          failed++
          continue
        }
        try {
          const ok = await lock.release()
          if (ok) released++
          else wrong++
          if (permits) semaphore[ok ? 'released' : 'wrong']++
        } catch (error) {
          if (!(error instanceof BackendError)) throw error
          failed++
        }
      }
    }
    await Promise.all(Array.from({ length: LOOPS }, (_, n) => loop(n)))
    stop = true
    await killer
    admin.disconnect()
    figure(
      'redis release under CLIENT KILL',
      `${released} releases answered true (${semaphore.released} of semaphore permits), ${wrong} answered false although the lease was ours (${semaphore.wrong} of permits), ${failed} calls failed with BackendError, ${kills} kill rounds`,
    )
    expect(kills).toBeGreaterThan(20)
    expect(released).toBeGreaterThan(500)
    expect(semaphore.released).toBeGreaterThan(200)
    expect(wrong).toBe(0)
  })
})
