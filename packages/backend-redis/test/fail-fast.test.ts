import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { BackendError, createLockwork, InvalidArgumentError } from '@lockwork/core'
import { Redis, type RedisOptions } from 'ioredis'
import { Redis as Iovalkey } from 'iovalkey'
import { createClient } from 'redis'
import { afterAll, describe, expect, it } from 'vitest'
import { createRedisBackend } from '../src/index.js'
import { deleteTestKeys, randomPrefix, redisAvailable, redisUrl } from './redis-available.js'
import { freePort } from './redis-process.js'

const available = await redisAvailable()

/** Runs the exit fixture against `url`; resolves how long the process took to exit after `close()`. */
function exitAfterClose(url: string): Promise<{ exitMs: number; wallMs: number }> {
  const fixture = fileURLToPath(new URL('./fixtures/exit-after-close.ts', import.meta.url))
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@lockwork/source', fixture, url, randomPrefix('exit')],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
    })
    const started = performance.now()
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(killer)
      const wallMs = performance.now() - started
      const line = out.trim().split('\n').pop() ?? ''
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`fixture exited ${code}: ${out}`))
      else resolve({ ...(JSON.parse(line) as { exitMs: number }), wallMs })
    })
  })
}

describe('redis backend: fail fast, name the endpoint, exit after close', () => {
  afterAll(async () => {
    if (available) await deleteTestKeys()
  })

  it('a backend from a URL fails acquire and cached on a closed port within 5 s, naming host:port with ECONNREFUSED as cause', async () => {
    const port = await freePort()
    const backend = createRedisBackend({ url: `redis://:secret-password@127.0.0.1:${port}` })
    const lw = createLockwork({ backend })
    const price = lw.cached({ key: 'price' }, async () => 1)
    try {
      for (const call of [() => lw.acquire('k'), () => price(), () => lw.acquire('k2', { wait: 0 })]) {
        const started = performance.now()
        const error = await call().catch((e: unknown) => e)
        const tookMs = performance.now() - started
        expect(error).toBeInstanceOf(BackendError)
        const message = (error as BackendError).message
        expect(message).toContain(`127.0.0.1:${port}`)
        expect(message).toContain('ECONNREFUSED')
        expect(message).not.toContain('secret-password')
        expect(((error as BackendError).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED')
        expect(tookMs).toBeLessThan(5_000)
      }
    } finally {
      await backend.close()
    }
  })

  it('an error from a caller client names its endpoint too', async () => {
    const port = await freePort()
    const dead = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, lazyConnect: true })
    dead.on('error', () => {})
    const backend = createRedisBackend({ client: dead })
    const error = await backend.acquire('k', 'me', 1_000).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendError)
    expect((error as BackendError).message).toContain(`127.0.0.1:${port}`)
    expect((error as BackendError).cause).toBeInstanceOf(Error)
    await backend.close()
    dead.disconnect()
  })

  it('a node-redis client on a closed port: acquire and cached fail within 5 s, naming host:port with ECONNREFUSED as cause', async () => {
    const port = await freePort()
    const client = createClient({ url: `redis://:secret-password@127.0.0.1:${port}` })
    client.on('error', () => {})
    // node-redis retries the first connection for ever; the caller does not wait for it here.
    const connecting = client.connect().catch(() => {})
    const backend = createRedisBackend({ client })
    const lw = createLockwork({ backend })
    const price = lw.cached({ key: 'price' }, async () => 1)
    try {
      for (const call of [() => lw.acquire('k'), () => price(), () => lw.acquire('k2', { wait: '1s' })]) {
        const started = performance.now()
        const error = await call().catch((e: unknown) => e)
        const tookMs = performance.now() - started
        expect(error).toBeInstanceOf(BackendError)
        const message = (error as BackendError).message
        expect(message).toContain(`127.0.0.1:${port}`)
        expect(message).toContain('ECONNREFUSED')
        expect(message).not.toContain('secret-password')
        expect(((error as BackendError).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED')
        expect(tookMs).toBeLessThan(5_000)
      }
    } finally {
      await backend.close()
      client.destroy()
      await connecting
    }
  })

  it('a node-redis client that was never connected fails at once with a BackendError naming its endpoint', async () => {
    const port = await freePort()
    const client = createClient({ socket: { host: '127.0.0.1', port } })
    const backend = createRedisBackend({ client })
    const started = performance.now()
    const error = await backend.acquire('k', 'me', 1_000).catch((e: unknown) => e)
    expect(performance.now() - started).toBeLessThan(1_000)
    expect(error).toBeInstanceOf(BackendError)
    expect((error as BackendError).message).toContain(`127.0.0.1:${port}`)
    expect(((error as BackendError).cause as Error).message).toBe('The client is closed')
    await backend.close()
  })

  it('an iovalkey client on a closed port names its endpoint', async () => {
    const port = await freePort()
    const dead = new Iovalkey({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, lazyConnect: true })
    dead.on('error', () => {})
    const backend = createRedisBackend({ client: dead })
    const error = await backend.acquire('k', 'me', 1_000).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendError)
    expect((error as BackendError).message).toContain(`127.0.0.1:${port}`)
    await backend.close()
    dead.disconnect()
  })

  it('takes an ioredis RedisOptions object, or any ioredis options, as redisOptions', async () => {
    const options: RedisOptions = { lazyConnect: true, retryStrategy: () => null, connectionName: 'lockwork' }
    await createRedisBackend({ url: redisUrl, redisOptions: options }).close()
    await createRedisBackend({
      url: redisUrl,
      redisOptions: { lazyConnect: true, enableAutoPipelining: true },
    }).close()
  })

  it('refuses a client that is none of ioredis, iovalkey or node-redis with InvalidArgumentError naming options.client', () => {
    for (const client of [{}, { evalsha: () => null }, { get: () => null, set: () => null }]) {
      expect(() =>
        createRedisBackend({
          client: client as unknown as Parameters<typeof createRedisBackend>[0]['client'],
        }),
      ).toThrow(expect.objectContaining({ argument: 'options.client' }))
    }
  })

  it('the process exits within 1 s of close(), whether the server answers or the port is closed', async () => {
    const closed = await exitAfterClose(`redis://127.0.0.1:${await freePort()}`)
    expect(closed.exitMs).toBeLessThan(1_000)
    if (available) {
      const live = await exitAfterClose(redisUrl)
      expect(live.exitMs).toBeLessThan(1_000)
    }
  })

  it('rejects an empty URL and non-Redis schemes with InvalidArgumentError naming options.url', () => {
    for (const url of ['', '   ', 'http://127.0.0.1:6379', 'postgres://localhost/x', 'not a url']) {
      let error: unknown
      try {
        createRedisBackend({ url })
      } catch (e) {
        error = e
      }
      expect(error, url).toBeInstanceOf(InvalidArgumentError)
      expect((error as InvalidArgumentError).argument).toBe('options.url')
    }
    // Accepted forms (lazy, so nothing connects).
    for (const url of ['redis://127.0.0.1:1', 'rediss://h:1/2', '/tmp/redis.sock']) {
      const backend = createRedisBackend({ url, redisOptions: { lazyConnect: true } })
      void backend.close()
    }
  })

  it('refuses settings that hold a lock request through an outage (offline queue + maxRetriesPerRequest: null)', () => {
    const unusable = new Redis({ maxRetriesPerRequest: null, lazyConnect: true })
    try {
      expect(() => createRedisBackend({ client: unusable })).toThrow(
        expect.objectContaining({ argument: 'options.client' }),
      )
      expect(() =>
        createRedisBackend({
          url: redisUrl,
          redisOptions: { maxRetriesPerRequest: null, lazyConnect: true },
        }),
      ).toThrow(expect.objectContaining({ argument: 'options.redisOptions' }))
      // Without the offline queue nothing waits: accepted.
      const noQueue = new Redis({ maxRetriesPerRequest: null, enableOfflineQueue: false, lazyConnect: true })
      void createRedisBackend({ client: noQueue }).close()
      noQueue.disconnect()
    } finally {
      unusable.disconnect()
    }
  })
})
