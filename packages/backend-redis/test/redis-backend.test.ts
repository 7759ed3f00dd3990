import { randomUUID } from 'node:crypto'
import { BackendError, createLockwork, InvalidArgumentError, LockLostError } from '@lockwork/core'
import { Redis, type RedisOptions } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisBackend, type RedisBackend } from '../src/index.js'
import { deleteTestKeys, randomPrefix, redisAvailable, redisUrl } from './redis-available.js'
import { RedisProcess, redisServerAvailable } from './redis-process.js'

const available = await redisAvailable()

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits until `client` is connected: a client without an offline queue rejects commands before that. */
async function ready(client: Redis): Promise<void> {
  const deadline = Date.now() + 15_000
  while (client.status !== 'ready' && Date.now() < deadline) await delay(20)
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

describe.skipIf(!available)('redis backend', () => {
  const opened: { close(): Promise<unknown> }[] = []
  let admin: Redis

  /** A backend over a new connection; closed after the file. */
  function backend(keyPrefix = randomPrefix()): RedisBackend {
    const created = createRedisBackend({ url: redisUrl, keyPrefix })
    opened.push(created)
    return created
  }

  /** A caller-owned client; closed after the file. */
  function client(options: RedisOptions = {}): Redis {
    const created = new Redis(redisUrl, options)
    opened.push({ close: () => created.quit().catch(() => {}) })
    return created
  }

  beforeAll(() => {
    admin = client()
  })
  afterAll(async () => {
    await deleteTestKeys(admin)
    await Promise.allSettled(opened.map((o) => o.close()))
  })

  describe('wake-on-release', () => {
    it('a waiter acquires within a few ms of the release, not after a poll interval or the ttl', async () => {
      const prefix = randomPrefix()
      const holder = createLockwork({ backend: backend(prefix) })
      const waiter = createLockwork({ backend: backend(prefix) })
      const latencies: number[] = []
      for (let round = 0; round < 20; round++) {
        const held = await holder.acquire('wake', { ttl: '30s' })
        const waiting = waiter.acquire('wake', { wait: '20s' })
        await delay(20 + Math.random() * 40)
        const releasedAt = performance.now()
        await held.release()
        const next = await waiting
        latencies.push(performance.now() - releasedAt)
        expect(next.fence).toBe(held.fence + 1)
        await next.release()
      }
      console.info(
        `redis wake-on-release: release → waiter acquired, median ${median(latencies).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms over ${latencies.length} rounds`,
      )
      // The holder's ttl is 30 s: without the release message each round would take that long.
      expect(median(latencies)).toBeLessThan(50)
      expect(Math.max(...latencies)).toBeLessThan(1_000)
    })

    it('wakes every waiter of a key at once, and subscribes once per key on one lazily created connection', async () => {
      const name = `lockwork-test-${Math.random().toString(36).slice(2)}`
      const own = client({ connectionName: name })
      const b = createRedisBackend({ client: own, keyPrefix: randomPrefix() })
      opened.push(b)
      const connections = async () =>
        String(await admin.client('LIST'))
          .split('\n')
          .filter((line) => line.includes(` name=${name} `)).length
      await b.acquire('k', 'holder', 30_000)
      expect(await connections()).toBe(1)
      const started = performance.now()
      const woken: number[] = []
      const waits = Array.from({ length: 25 }, () =>
        b.waitForRelease('k', 20_000).then(() => woken.push(performance.now() - started)),
      )
      await delay(300)
      expect(await connections()).toBe(2)
      const channels = (await admin.pubsub('CHANNELS', '*{*}:released:k')) as string[]
      expect(channels.length).toBe(1)
      const releasedAt = performance.now() - started
      expect(await b.release('k', 'holder')).toBe(true)
      await Promise.all(waits)
      expect(Math.max(...woken) - releasedAt).toBeLessThan(500)
      // The channel stays subscribed for a moment (the next waiter of a busy key reuses it)…
      await delay(100)
      expect(await admin.pubsub('NUMSUB', channels[0]!)).toEqual([channels[0], 1])
      // …and is unsubscribed about a second after the last waiter left.
      await delay(1_400)
      expect(await admin.pubsub('NUMSUB', channels[0]!)).toEqual([channels[0], 0])
      expect(await connections()).toBe(2)
    })

    it('a release publishes only when a waiter has marked the key, and only once per marking', async () => {
      const prefix = randomPrefix()
      const b = backend(prefix)
      const listener = client()
      const messages: string[] = []
      listener.on('pmessage', (_pattern: string, channel: string) => messages.push(channel))
      await listener.psubscribe(`${prefix}*released:*`)
      // Nobody waits: no message at all.
      for (let i = 0; i < 5; i++) {
        expect((await b.acquire('quiet', 'holder', 30_000)).acquired).toBe(true)
        expect(await b.release('quiet', 'holder')).toBe(true)
      }
      // A waiter marks the key: the release publishes once and clears the mark.
      expect((await b.acquire('busy', 'holder', 30_000)).acquired).toBe(true)
      const waiting = b.waitForRelease('busy', 20_000)
      await delay(200)
      const started = performance.now()
      expect(await b.release('busy', 'holder')).toBe(true)
      await waiting
      expect(performance.now() - started).toBeLessThan(500)
      expect((await b.acquire('busy', 'holder', 30_000)).acquired).toBe(true)
      expect(await b.release('busy', 'holder')).toBe(true)
      await delay(200)
      expect(messages.filter((channel) => channel.endsWith(':released:quiet'))).toEqual([])
      expect(messages.filter((channel) => channel.endsWith(':released:busy'))).toHaveLength(1)
    })

    it('resolves at the holder expiry (plus a few ms) when nobody releases, without a message', async () => {
      const b = backend()
      await b.acquire('k', 'holder', 300)
      const started = performance.now()
      await b.waitForRelease('k', 10_000)
      const waited = performance.now() - started
      expect(waited).toBeGreaterThanOrEqual(250)
      expect(waited).toBeLessThan(1_500)
      expect((await b.acquire('k', 'next', 1_000)).acquired).toBe(true)
    })

    it('close() resolves pending waits', async () => {
      const b = backend()
      await b.acquire('k', 'holder', 30_000)
      const waiting = b.waitForRelease('k', 20_000)
      await delay(100)
      const started = performance.now()
      await b.close()
      await waiting
      expect(performance.now() - started).toBeLessThan(1_000)
    })
  })

  it('keeps working when SCRIPT FLUSH runs mid-run', async () => {
    const prefix = randomPrefix()
    const b = backend(prefix)
    const other = backend(prefix)
    let flushes = 0
    let running = true
    const flusher = (async () => {
      while (running) {
        await admin.script('FLUSH')
        flushes++
        await delay(3)
      }
    })()
    try {
      for (let i = 0; i < 150; i++) {
        const key = `flush:${i % 5}`
        const lease = await b.acquire(key, `o${i}`, 5_000)
        expect(lease.acquired).toBe(true)
        const rival = await other.acquire(key, 'rival', 5_000)
        expect(rival.acquired).toBe(false)
        expect(await b.extend(key, `o${i}`, 5_000)).toBe(true)
        expect((await other.peek(key))?.owner).toBe(`o${i}`)
        await b.setCached(key, { value: String(i), computeMs: i }, 5_000)
        expect((await other.getCached(key))?.value).toBe(String(i))
        expect(await b.release(key, `o${i}`)).toBe(true)
      }
    } finally {
      running = false
      await flusher
    }
    expect(flushes).toBeGreaterThan(10)
  })

  describe('leases and fences', () => {
    it('re-acquiring by the same owner succeeds with the same fence and refreshes the ttl', async () => {
      const b = backend()
      const first = await b.acquire('k', 'me', 500)
      await delay(200)
      const again = await b.acquire('k', 'me', 5_000)
      expect(again).toEqual({ acquired: true, fence: first.acquired ? first.fence : -1, ttlMs: 5_000 })
      expect((await b.peek('k'))?.remainingMs).toBeGreaterThan(4_000)
    })

    it('a new fence counter starts at the server clock in µs; a deleted one restarts above its last fence', async () => {
      const prefix = randomPrefix()
      const b = backend(prefix)
      const [seconds, micros] = await admin.time()
      const serverMicros = Number(seconds) * 1_000_000 + Number(micros)
      const first = await b.acquire('k', 'a', 10_000)
      const firstFence = first.acquired ? first.fence : Number.NaN
      expect(firstFence).toBeGreaterThanOrEqual(serverMicros)
      expect(firstFence).toBeLessThan(serverMicros + 60_000_000)
      expect(await b.release('k', 'a')).toBe(true)
      const [fenceKey] = await admin.keys(`${prefix}{*}:fence:k`)
      expect(await admin.del(fenceKey!)).toBe(1)
      const again = await b.acquire('k', 'b', 10_000)
      expect(again.acquired ? again.fence : Number.NaN).toBeGreaterThan(firstFence)
    })

    it('fence counters survive release and expiry and never expire themselves', async () => {
      const prefix = randomPrefix()
      const b = backend(prefix)
      const fences: number[] = []
      for (let i = 0; i < 3; i++) {
        const lease = await b.acquire('k', `o${i}`, 10_000)
        if (lease.acquired) fences.push(lease.fence)
        await b.release('k', `o${i}`)
      }
      const short = await b.acquire('k', 'short', 100)
      if (short.acquired) fences.push(short.fence)
      await delay(300)
      const after = await b.acquire('k', 'after', 10_000)
      if (after.acquired) fences.push(after.fence)
      const first = fences[0]!
      expect(fences).toEqual([first, first + 1, first + 2, first + 3, first + 4])
      const [fenceKey] = await admin.keys(`${prefix}{*}:fence:k`)
      expect(fenceKey).toBeDefined()
      expect(await admin.pttl(fenceKey!)).toBe(-1)
    })

    it('stores one key as hash-tagged Redis keys; braces in user keys never collide', async () => {
      const prefix = randomPrefix()
      const b = backend(prefix)
      const names = ['{', '}', '{}', '}{', '{a}', 'a}', '{a', 'a', 'a:lock', 'lock:a', '%*?[x]']
      for (const name of names)
        expect((await b.acquire(name, `owner of ${name}`, 10_000)).acquired).toBe(true)
      for (const name of names) expect((await b.peek(name))?.owner).toBe(`owner of ${name}`)
      const keys = await admin.keys(`${prefix}*`)
      expect(keys.length).toBe(names.length * 2)
      for (const key of keys) expect(key.slice(prefix.length)).toMatch(/^\{[0-9a-f]{8}\}:(lock|fence):/)
    })

    it('keeps the stored layout: the tag is the first 8 hex digits of SHA-1 of the key, whatever came before', async () => {
      const prefix = randomPrefix()
      const b = backend(prefix)
      // Expected tags computed once with createHash('sha1'); other processes and versions must agree.
      const tags: [string, string][] = [
        ['', 'da39a3ee'],
        ['a', '86f7e437'],
        ['orders:42', '0fa47539'],
        ['é{x}', '3a69dde0'],
      ]
      for (const [name] of tags) {
        expect((await b.acquire(name, 'me', 10_000)).acquired).toBe(true)
        expect(await b.extend(name, 'me', 10_000)).toBe(true)
      }
      for (const [name, tag] of tags) {
        expect(await admin.get(`${prefix}{${tag}}:lock:${name}`)).toBe('me')
        expect(Number(await admin.get(`${prefix}{${tag}}:fence:${name}`))).toBeGreaterThan(1)
        expect(await b.release(name, 'me')).toBe(true)
      }
      expect(await admin.keys(`${prefix}*:lock:*`)).toEqual([])
    })

    it('honours the ioredis keyPrefix of a caller client without breaking hash tags or wake-ups', async () => {
      const prefix = randomPrefix()
      const prefixed = createRedisBackend({ client: client({ keyPrefix: 'app:' }), keyPrefix: prefix })
      const plain = backend(prefix)
      opened.push(prefixed)
      expect((await prefixed.acquire('k', 'me', 10_000)).acquired).toBe(true)
      expect(await admin.keys(`app:${prefix}{*}:lock:k`)).toHaveLength(1)
      expect(await plain.peek('k')).toBeNull()
      // The channel is not prefixed, so a release through the prefixed client wakes the same waiters.
      const started = performance.now()
      const waiting = prefixed.waitForRelease('k', 20_000)
      await delay(100)
      await prefixed.release('k', 'me')
      await waiting
      expect(performance.now() - started).toBeLessThan(1_000)
    })

    it('works with a client using stringNumbers', async () => {
      const b = createRedisBackend({ client: client({ stringNumbers: true }), keyPrefix: randomPrefix() })
      opened.push(b)
      const lease = await b.acquire('k', 'me', 10_000)
      expect(lease).toMatchObject({ acquired: true, ttlMs: 10_000 })
      const fence = lease.acquired ? lease.fence : Number.NaN
      expect(Number.isSafeInteger(fence)).toBe(true)
      expect((await b.peek('k'))?.fence).toBe(fence)
      await b.setCached('c', { value: '{"a":1}', computeMs: 12.5 }, 10_000)
      expect(await b.getCached('c')).toMatchObject({ value: '{"a":1}', computeMs: 12.5 })
    })
  })

  describe('cache store', () => {
    it('stores value and computeMs as one plain key with PX, read back with its remaining ttl', async () => {
      const prefix = randomPrefix()
      const b = backend(prefix)
      await b.setCached('price:ACME', { value: 'a:b:c', computeMs: 42 }, 2_000)
      const entry = await b.getCached('price:ACME')
      expect(entry).toMatchObject({ value: 'a:b:c', computeMs: 42 })
      expect(entry?.remainingMs).toBeGreaterThan(1_000)
      expect(entry?.remainingMs).toBeLessThanOrEqual(2_000)
      const [key] = await admin.keys(`${prefix}{*}:cache:price:ACME`)
      expect(await admin.type(key!)).toBe('string')
      expect(await b.deleteCached('price:ACME')).toBe(true)
      expect(await b.deleteCached('price:ACME')).toBe(false)
      expect(await b.getCached('price:ACME')).toBeUndefined()
    })
  })

  describe('lifecycle and failures', () => {
    it('close() leaves a caller client open and its options untouched; any use after it is a BackendError', async () => {
      const own = client({ keyPrefix: 'x:', connectionName: 'mine' })
      const before = JSON.stringify(own.options)
      const b = createRedisBackend({ client: own, keyPrefix: randomPrefix() })
      await b.acquire('k', 'me', 1_000)
      await b.waitForRelease('free', 1_000)
      await b.close()
      await b.close()
      expect(JSON.stringify(own.options)).toBe(before)
      expect(await own.ping()).toBe('PONG')
      for (const call of [
        () => b.acquire('k', 'me', 1_000),
        () => b.extend('k', 'me', 1_000),
        () => b.release('k', 'me'),
        () => b.peek('k'),
        () => b.getCached('k'),
        () => b.setCached('k', { value: 'v', computeMs: 1 }, 1_000),
        () => b.deleteCached('k'),
        () => b.waitForRelease('k', 1_000),
      ]) {
        const error = await call().catch((e: unknown) => e)
        expect(error).toBeInstanceOf(BackendError)
        expect((error as BackendError).message).toMatch(/closed/)
      }
    })

    it('closes the connections it opened itself', async () => {
      // Named connections, so other test files using the same server do not count.
      const connectionName = `lockwork-close-${randomUUID().slice(0, 8)}`
      const named = async (): Promise<number> =>
        String(await admin.client('LIST'))
          .split('\n')
          .filter((line) => line.includes(` name=${connectionName} `)).length
      const b = createRedisBackend({
        url: redisUrl,
        keyPrefix: randomPrefix(),
        redisOptions: { connectionName },
      })
      opened.push(b)
      await b.acquire('k', 'me', 1_000)
      await b.waitForRelease('free', 1_000)
      expect(await named()).toBeGreaterThanOrEqual(1)
      await b.close()
      await delay(200)
      expect(await named()).toBe(0)
    })

    it('rejects bad options with InvalidArgumentError', () => {
      expect(() => createRedisBackend({})).toThrow(InvalidArgumentError)
      expect(() => createRedisBackend({ url: redisUrl, client: admin })).toThrow(InvalidArgumentError)
      expect(() => createRedisBackend({ client: admin, keyPrefix: 'a{b}:' })).toThrow(InvalidArgumentError)
      expect(() => createRedisBackend({ client: admin, keyPrefix: 'a\u0000' })).toThrow(InvalidArgumentError)
      const badTag = { url: redisUrl, redisOptions: { keyPrefix: 'app{}:', lazyConnect: true } }
      expect(() => createRedisBackend(badTag)).toThrow(InvalidArgumentError)
    })

    it('fails fast with BackendError when the server is unreachable', async () => {
      const dead = new Redis({
        host: '127.0.0.1',
        port: 1,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
      })
      dead.on('error', () => {})
      const b = createRedisBackend({ client: dead })
      const fromUrl = createRedisBackend({
        url: 'redis://127.0.0.1:1',
        redisOptions: { maxRetriesPerRequest: 0, retryStrategy: () => null },
      })
      const started = performance.now()
      for (const backend of [b, fromUrl]) {
        for (const call of [
          () => backend.acquire('k', 'me', 1_000),
          () => backend.release('k', 'me'),
          () => backend.peek('k'),
          () => backend.setCached('k', { value: 'v', computeMs: 1 }, 1_000),
          () => backend.waitForRelease('k', 10_000),
        ]) {
          const error = await call().catch((e: unknown) => e)
          expect(error).toBeInstanceOf(BackendError)
          expect((error as BackendError).cause).toBeInstanceOf(Error)
        }
      }
      expect(performance.now() - started).toBeLessThan(5_000)
      await b.close()
      await fromUrl.close()
      dead.disconnect()
    })
  })
})

// A private server this file may crash and restart.
const privateServer = available && redisServerAvailable('the @lockwork/redis restart tests')

describe.skipIf(!privateServer)('redis backend on a private server', () => {
  let server: RedisProcess
  beforeAll(async () => {
    server = await RedisProcess.start()
  }, 30_000)
  afterAll(async () => {
    await server?.destroy()
  })

  it('a lost connection is a BackendError; after a restart without persistence scripts reload and fences still rise', async () => {
    const own = new Redis({
      host: '127.0.0.1',
      port: server.port,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    })
    own.on('error', () => {})
    await ready(own)
    const b = createRedisBackend({ client: own })
    const first = await b.acquire('k', 'a', 10_000)
    const firstFence = first.acquired ? first.fence : Number.NaN
    // A new counter starts at the server's time in µs since the epoch.
    expect(firstFence).toBeGreaterThan(Date.now() * 1_000 - 60_000_000)
    expect(Number.isSafeInteger(firstFence)).toBe(true)
    expect(await b.release('k', 'a')).toBe(true)
    expect(await b.acquire('k', 'b', 10_000)).toMatchObject({ fence: firstFence + 1 })
    await server.stop('SIGKILL')
    const error = await b.acquire('k', 'c', 10_000).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendError)
    expect((error as BackendError).cause).toBeInstanceOf(Error)
    await server.restart()
    await ready(own)
    // A new server knows no scripts and, without persistence, no fence counters: the counter
    // starts again from the server's clock, above every fence handed out before the restart.
    const after = await b.acquire('k', 'c', 10_000)
    expect(after.acquired).toBe(true)
    expect(after.acquired ? after.fence : Number.NaN).toBeGreaterThan(firstFence + 1)
    await b.close()
    own.disconnect()
  }, 30_000)

  it('a failed auto-extension aborts lock.signal with LockLostError carrying the BackendError', async () => {
    const own = new Redis({
      host: '127.0.0.1',
      port: server.port,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    })
    own.on('error', () => {})
    await ready(own)
    const lw = createLockwork({ backend: createRedisBackend({ client: own }) })
    const lock = await lw.acquire('auto', { ttl: 600, autoExtend: true })
    const lost = new Promise<unknown>((resolve) =>
      lock.signal.addEventListener('abort', () => resolve(lock.signal.reason), { once: true }),
    )
    const stoppedAt = performance.now()
    await server.stop('SIGKILL')
    const reason = await lost
    expect(performance.now() - stoppedAt).toBeLessThan(2_000)
    expect(reason).toBeInstanceOf(LockLostError)
    expect((reason as LockLostError).reason).toBe('extend-failed')
    expect((reason as LockLostError).cause).toBeInstanceOf(BackendError)
    await server.restart()
    await lw.backend.close()
    own.disconnect()
  }, 30_000)
})
