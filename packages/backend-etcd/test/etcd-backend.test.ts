import { randomBytes } from 'node:crypto'
import { BackendError, createLockwork, InvalidArgumentError } from '@lockwork/core'
import { Etcd3 } from 'etcd3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEtcdBackend, type EtcdBackend } from '../src/index.js'
import { EtcdCluster, etcdAvailable, freePort } from './etcd-cluster.js'

const enabled = etcdAvailable('@lockwork/etcd backend tests')
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

describe('etcd backend options', () => {
  it('rejects neither or both of client and endpoints, an empty endpoint list and bad numbers', () => {
    expect(() => createEtcdBackend({})).toThrow(InvalidArgumentError)
    expect(() => createEtcdBackend({ endpoints: [] })).toThrow(InvalidArgumentError)
    const client = new Etcd3({ hosts: 'http://127.0.0.1:1' })
    try {
      expect(() => createEtcdBackend({ client, endpoints: ['http://127.0.0.1:1'] })).toThrow(
        InvalidArgumentError,
      )
    } finally {
      client.close()
    }
    for (const operationTimeoutMs of [0, -1, Number.NaN]) {
      expect(() => createEtcdBackend({ endpoints: ['http://127.0.0.1:1'], operationTimeoutMs })).toThrow(
        InvalidArgumentError,
      )
    }
    expect(() => createEtcdBackend({ endpoints: ['http://127.0.0.1:1'], clockToleranceMs: -1 })).toThrow(
      InvalidArgumentError,
    )
  })

  it('fails with a BackendError naming the endpoint, within the operation timeout, when nothing listens', async () => {
    const port = await freePort()
    const backend = createEtcdBackend({ endpoints: [`http://127.0.0.1:${port}`], operationTimeoutMs: 1_000 })
    const began = performance.now()
    const error = await backend.acquire('k', 'o', 1_000).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BackendError)
    expect(String((error as Error).message)).toContain(`127.0.0.1:${port}`)
    expect((error as Error).cause).toBeDefined()
    expect(performance.now() - began).toBeLessThan(5_000)
    await backend.close()
  })
})

describe.skipIf(!enabled)('etcd backend on a 3-member cluster', () => {
  let cluster: EtcdCluster
  let client: Etcd3
  const prefix = () => `test-${randomBytes(4).toString('hex')}/`

  beforeAll(async () => {
    cluster = await EtcdCluster.start()
    client = new Etcd3({ hosts: cluster.endpoints })
  })

  afterAll(async () => {
    client?.close()
    await cluster?.stop()
  })

  it('works over a caller-provided client and leaves it open on close(); calls after close() reject', async () => {
    const backend = createEtcdBackend({ client, keyPrefix: prefix() })
    const got = await backend.acquire('k', 'me', 5_000)
    expect(got.acquired).toBe(true)
    await backend.close()
    await expect(backend.peek('k')).rejects.toBeInstanceOf(BackendError)
    expect(await client.get('anything').string()).toBeNull()
  })

  it('the fence is the owner key’s create revision: it grows across holders and keys', async () => {
    const keyPrefix = prefix()
    const backend = createEtcdBackend({ client, keyPrefix })
    const fences: number[] = []
    for (const key of ['a', 'b', 'a', 'a']) {
      const got = await backend.acquire(key, 'me', 5_000)
      if (!got.acquired) throw new Error('held')
      fences.push(got.fence)
      const stored = await client.get(`${keyPrefix}lock/${key}`).exec()
      expect(Number(stored.kvs[0]?.create_revision)).toBe(got.fence)
      await backend.release(key, 'me')
    }
    expect([...fences].sort((x, y) => x - y)).toEqual(fences)
    expect(new Set(fences).size).toBe(fences.length)
    await backend.close()
  })

  it('a 300 ms lock is free after 300 ms, though etcd leases are whole seconds; its keys are collected by the lease soon after', async () => {
    const keyPrefix = prefix()
    const a = createEtcdBackend({ client, keyPrefix })
    const b = createEtcdBackend({ endpoints: cluster.endpoints, keyPrefix })
    const first = await a.acquire('short', 'a', 300)
    expect(first.acquired).toBe(true)
    expect((await b.acquire('short', 'b', 300)).acquired).toBe(false)
    await sleep(350)
    expect(await a.peek('short')).toBeNull()
    // Expired but not yet collected: the keys are still there, and another owner takes over with a new fence.
    expect(await client.get(`${keyPrefix}lock/short`).string()).toBe('a')
    const second = await b.acquire('short', 'b', 300)
    if (!second.acquired || !first.acquired) throw new Error('expected to acquire')
    expect(second.fence).toBeGreaterThan(first.fence)
    expect(await a.extend('short', 'a', 5_000)).toBe(false)
    // Abandoned: its etcd lease (3 s: the ttl plus 2 s, rounded up) removes both keys.
    let left = 'present'
    for (let i = 0; i < 60 && left !== 'gone'; i++) {
      await sleep(100)
      const keys = await client.getAll().prefix(keyPrefix).keys()
      left = keys.length === 0 ? 'gone' : 'present'
    }
    expect(left).toBe('gone')
    await Promise.all([a.close(), b.close()])
  })

  it('clockToleranceMs: an expired holder is taken over only that much after its deadline', async () => {
    const keyPrefix = prefix()
    const holder = createEtcdBackend({ client, keyPrefix })
    const careful = createEtcdBackend({ client, keyPrefix, clockToleranceMs: 400 })
    expect((await holder.acquire('k', 'h', 200)).acquired).toBe(true)
    await sleep(300)
    expect((await careful.acquire('k', 'c', 5_000)).acquired).toBe(false)
    await sleep(400)
    expect((await careful.acquire('k', 'c', 5_000)).acquired).toBe(true)
    await Promise.all([holder.close(), careful.close()])
  })

  it('a contended tryAcquire loop reuses its spare lease instead of granting one per attempt', async () => {
    const keyPrefix = prefix()
    const holder = createEtcdBackend({ client, keyPrefix })
    const rival: EtcdBackend = createEtcdBackend({ client, keyPrefix })
    expect((await holder.acquire('k', 'h', 10_000)).acquired).toBe(true)
    const before = (await client.leaseClient.leaseLeases({})).leases.length
    for (let i = 0; i < 20; i++) expect((await rival.acquire('k', 'r', 10_000)).acquired).toBe(false)
    const after = (await client.leaseClient.leaseLeases({})).leases.length
    expect(after - before).toBeLessThanOrEqual(2)
    await Promise.all([holder.close(), rival.close()])
  })

  it('a loop of acquire + release reuses its lease: two transactions per pair, not a grant and a revoke each', async () => {
    const own = new Etcd3({ hosts: cluster.endpoints })
    const calls = { grant: 0, revoke: 0 }
    const leases = own.leaseClient
    const grant = leases.leaseGrant.bind(leases)
    const revoke = leases.leaseRevoke.bind(leases)
    leases.leaseGrant = (...args) => {
      calls.grant++
      return grant(...args)
    }
    leases.leaseRevoke = (...args) => {
      calls.revoke++
      return revoke(...args)
    }
    const keyPrefix = prefix()
    const backend = createEtcdBackend({ client: own, keyPrefix })
    const ids = new Set<string>()
    const began = performance.now()
    for (let i = 0; i < 20; i++) {
      expect((await backend.acquire(`k${i % 3}`, `o${i}`, 10_000)).acquired).toBe(true)
      const stored = await client.get(`${keyPrefix}lock/k${i % 3}`).exec()
      ids.add(String(stored.kvs[0]?.lease))
      expect(await backend.release(`k${i % 3}`, `o${i}`)).toBe(true)
    }
    // A lease covers a new 10 s deadline for at least 1.5 s after its grant: one grant per 1.5 s at most.
    expect(calls.grant).toBeLessThanOrEqual(Math.ceil((performance.now() - began) / 1_500))
    expect(ids.size).toBe(calls.grant)
    expect(calls.revoke).toBe(0)
    await backend.close()
    // close() revokes the spare: nothing of the backend is left.
    expect(calls.revoke).toBeGreaterThanOrEqual(1)
    own.close()
  })

  /** Every page of `backend.list`, with the size of each page. */
  const listAll = async (
    backend: EtcdBackend,
    listPrefix: string,
    limit: number,
    between?: () => Promise<void>,
  ) => {
    const keys: string[] = []
    const pages: number[] = []
    let cursor: string | undefined
    do {
      const page = await backend.list({ prefix: listPrefix, limit, cursor })
      keys.push(...page.locks.map((l) => `lock:${l.key}`), ...page.cacheEntries.map((c) => `cache:${c.key}`))
      pages.push(page.locks.length + page.cacheEntries.length)
      cursor = page.cursor
      await between?.()
    } while (cursor !== undefined && pages.length < 1_000)
    return { keys, pages }
  }

  it('list reads only its own key prefix: not a longer prefix sharing the stem, not semaphore holders, not lock keys with an empty listing prefix in another backend', async () => {
    const keyPrefix = prefix()
    const mine = createEtcdBackend({ client, keyPrefix })
    const longer = createEtcdBackend({ client, keyPrefix: `${keyPrefix.slice(0, -1)}x/` })
    await mine.acquire('a', 'o', 30_000)
    await mine.setCached('a', { value: 'v', computeMs: 0 }, 30_000)
    await mine.acquirePermits('a', 'o', 1, 2, 30_000)
    await longer.acquire('b', 'o', 30_000)
    expect((await listAll(mine, '', 10)).keys.sort()).toEqual(['cache:a', 'lock:a'])
    expect((await listAll(longer, '', 10)).keys).toEqual(['lock:b'])
    await Promise.all([mine.close(), longer.close()])
  })

  it('list pages in byte (code point) order past expired entries, and lists entries present throughout exactly once while others come and go', async () => {
    const keyPrefix = prefix()
    const backend = createEtcdBackend({ client, keyPrefix })
    // In code point order, which is etcd's byte order of their UTF-8.
    const stable = ['a', 'b', 'z', 'é', '日本', '🔒', '\u{10ffff}x'].map((k) => `s/${k}`)
    for (const key of stable) await backend.acquire(key, 'o', 60_000)
    // Expired entries between them, not yet collected by their leases: read, skipped, the cursor moves on.
    for (const key of ['s/c1', 's/c2', 's/c3', 's/c4']) await backend.acquire(key, 'o', 50)
    await sleep(100)
    const quiet = await listAll(backend, 's/', 2)
    expect(quiet.keys).toEqual(stable.map((k) => `lock:${k}`))
    for (const size of quiet.pages) expect(size).toBeLessThanOrEqual(2)

    let step = 0
    const churn = async () => {
      step++
      await backend.acquire(`s/a${step}`, 'o', 60_000) // after the cursor or before it
      await backend.acquire(`s/zz${step}`, 'o', 60_000)
      await backend.release(`s/a${step - 1}`, 'o')
    }
    const busy = await listAll(backend, 's/', 1, churn)
    const listedStable = busy.keys.filter((k) => stable.includes(k.slice('lock:'.length)))
    expect(listedStable).toEqual(stable.map((k) => `lock:${k}`))
    expect(new Set(busy.keys).size).toBe(busy.keys.length)
    await backend.close()
  })

  it('withLock through the core: the fence reaches the callback and the lock is released after', async () => {
    const backend = createEtcdBackend({ endpoints: cluster.endpoints, keyPrefix: prefix() })
    const lw = createLockwork({ backend, prefix: 'app:' })
    const fence = await lw.withLock('job', async (lock) => lock.fence)
    expect(fence).toBeGreaterThan(0)
    expect(await lw.isLocked('job')).toBe(false)
    await lw.close()
    await backend.close()
  })
})
