import { createLockwork, type LockBackend, LockLostError } from '@lockwork/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BackendTarget, openBackend, randomPrefix } from '../src/backends.js'
import { sleep } from '../src/clock.js'
import { contend } from '../src/contention.js'
import { summarize } from '../src/history-checker.js'
import { PrivateRedis, redisServerAvailable } from '../src/redis-server.js'
import { figure } from '../src/report.js'

const enabled = redisServerAvailable('reliability Redis restart and SCRIPT FLUSH')

describe.skipIf(!enabled)('redis: a private redis-server that restarts or flushes its scripts', () => {
  let server: PrivateRedis
  const opened: LockBackend[] = []
  let target: BackendTarget

  /** A new backend instance (its own ioredis connection, default ioredis options) on the private server. */
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

  it('SCRIPT FLUSH is transparent: a held lease extends and releases, and 3 clients × 300 sections stay exclusive while scripts are flushed every 5 ms', async () => {
    const lw = createLockwork({ backend: backend(), prefix: randomPrefix('flush') })
    const admin = server.client()
    try {
      const lock = await lw.acquire('flushed', { ttl: '10s' })
      await admin.script('FLUSH')
      await lock.extend('20s')
      expect((await lw.peek('flushed'))?.owner).toBe(lock.owner)
      await admin.script('FLUSH')
      expect(await lock.release()).toBe(true)
      expect(await lw.isLocked('flushed')).toBe(false)

      let flushes = 0
      let flushing = true
      const flusher = (async () => {
        while (flushing) {
          await admin.script('FLUSH')
          flushes++
          await sleep(5)
        }
      })()
      const report = await contend([backend(), backend(), backend()], lw.prefix, 300)
      flushing = false
      await flusher
      figure('redis SCRIPT FLUSH under contention', `${summarize(report)}, ${flushes} flushes`)
      expect(report.violations).toEqual([])
      expect(flushes).toBeGreaterThan(10)
    } finally {
      admin.disconnect()
    }
  })

  it('restart mid-lease (SIGKILL, empty dataset): the holder’s signal aborts with LockLostError, its next extend fails, its client recovers, and mutual exclusion holds afterwards', async () => {
    const ttlMs = 3_000
    const holderBackend = backend()
    const rivalBackend = backend()
    const prefix = randomPrefix('restart')
    const holder = createLockwork({ backend: holderBackend, prefix })
    const rival = createLockwork({ backend: rivalBackend, prefix })

    const auto = await holder.acquire('leased', { ttl: ttlMs, autoExtend: true })
    const manual = await holder.acquire('manual', { ttl: ttlMs })
    let abortedAt: number | undefined
    auto.signal.addEventListener('abort', () => {
      abortedAt = performance.now()
    })
    expect(await rival.tryAcquire('leased')).toBeNull()
    await sleep(200)

    const killedAt = performance.now()
    await server.restart()
    const upAt = performance.now()

    // The holder's client: first successful command after the restart.
    const recovery = (async () => {
      for (;;) {
        try {
          await holder.isLocked('probe')
          return performance.now()
        } catch {
          await sleep(10)
        }
      }
    })()
    // The rival: the restart forgot the lease, so it gets the key as soon as its client is back.
    const rivalLock = await rival.acquire('leased', { ttl: ttlMs, wait: 10_000 })
    const rivalAt = performance.now()
    // The restart lost the fence counter too; the new one starts from the server's clock, so the
    // rival's fence is still above the stale holder's and a fenced resource refuses the holder.
    expect(rivalLock.fence).toBeGreaterThan(auto.fence)
    const recoveredAt = await recovery
    while (abortedAt === undefined && performance.now() - upAt < ttlMs + 2_000) await sleep(10)

    expect(abortedAt).toBeDefined()
    expect(auto.signal.reason).toBeInstanceOf(LockLostError)
    expect(['extend-failed', 'released-elsewhere', 'taken', 'expired']).toContain(
      (auto.signal.reason as LockLostError).reason,
    )
    const abortMs = (abortedAt ?? Number.NaN) - upAt
    expect(abortMs).toBeLessThan(ttlMs / 3 + 1_000)
    // The handle without auto-extension learns it at its next extend.
    const extendError = await manual.extend().then(
      () => undefined,
      (error: unknown) => error,
    )
    expect(extendError).toBeInstanceOf(LockLostError)
    const recoveryMs = recoveredAt - upAt
    expect(recoveryMs).toBeLessThan(5_000)
    // The recovered client locks again normally.
    const again = await holder.acquire('after-restart', { ttl: ttlMs, wait: 0 })
    expect(await again.release()).toBe(true)
    await rivalLock.release()

    const report = await contend([holderBackend, rivalBackend, backend()], prefix, 300)
    expect(report.violations).toEqual([])

    figure(
      'redis restart',
      `server down→up ${Math.round(upAt - killedAt)} ms; holder client recovered ${Math.round(recoveryMs)} ms after the server was up; ` +
        `holder signal aborted (${(auto.signal.reason as LockLostError).reason}) ${Math.round(abortMs)} ms after; ` +
        `rival acquired ${Math.round(rivalAt - upAt)} ms after, so both believed they held it for ${Math.max(0, Math.round((abortedAt ?? 0) - rivalAt))} ms; ` +
        `fences: holder ${auto.fence}, rival after restart ${rivalLock.fence} (counter lost with the data, restarted from the server clock); afterwards ${summarize(report)}`,
    )
  })
})
