import { randomUUID } from 'node:crypto'
import { closeSync, constants, openSync, watch, writeSync } from 'node:fs'
import { join } from 'node:path'
import { createLockwork, type Leadership, type Lock } from '@lockwork/core'
import { Redlock, type Lock as RedlockLock } from '@sesamecare-oss/redlock'
import type { Redis } from 'ioredis'
import pg from 'pg'
import { Mutex } from 'redis-semaphore'
import type { BackendName } from '../cli.js'
import { postgresUrl } from '../services.js'
import { TTL_MS } from '../suites/common.js'
import { connectEtcd } from '../suites/etcd.js'
import { openPostgresBackend } from '../suites/postgres.js'
import { connectRedis } from '../suites/redis.js'
import type { RunConfig, Target } from '../targets.js'
import type { ContenderInfo } from './protocol.js'

/** How long a waiting contender may wait before the run is considered broken, in ms. */
const WAIT_MS = 10_000

/**
 * One way to hand a key from process to process. `hold` takes a free key,
 * `wait` blocks until the other process releases it, `release` frees it.
 * A floor has no lock at all: `wait` resolves on the other side's message.
 */
export interface Contender extends ContenderInfo {
  hold(key: string): Promise<void>
  wait(key: string): Promise<void>
  release(key: string): Promise<void>
  close(): Promise<void>
}

/** Resolvers of `wait` calls, by key, fired by a notification carrying the key. */
class Wakeups {
  readonly #waiting = new Map<string, () => void>()

  /** A promise of the next notification for `key`. */
  next(key: string): Promise<void> {
    return new Promise((resolve) => this.#waiting.set(key, resolve))
  }

  /** Fires the waiter for `key`, if any. */
  fire(key: string): void {
    const wake = this.#waiting.get(key)
    this.#waiting.delete(key)
    wake?.()
  }
}

/** Gives the process's one client of a backend (shared with the stampede, to spare connections). */
export type TargetOf = (backend: BackendName) => Target

/** A lockwork client as a contender: `acquire(key, { wait: '10s' })` and `lock.release()`. */
function lockworkContender(info: ContenderInfo, target: Target, ownsTarget = false): Contender {
  const held = new Map<string, Lock>()
  const take = async (key: string) => {
    held.set(key, await target.lw.acquire(key, { wait: WAIT_MS }))
  }
  return {
    ...info,
    hold: take,
    wait: take,
    async release(key) {
      const lock = held.get(key)
      held.delete(key)
      if (!(await lock?.release())) throw new Error(`${info.name}: release of ${key} returned false`)
    },
    close: async () => {
      if (ownsTarget) await target.close()
    },
  }
}

/**
 * Leader hand-over as a contender: `hold`/`wait` campaign with `lw.lead(key)`
 * and resolve once this process's leader function runs; `release` is
 * `stop()` (resign). So the hand-off measured is stop → the next leader's
 * function running.
 */
function leaderContender(info: ContenderInfo, target: Target): Contender {
  const leading = new Map<string, Leadership>()
  const campaign = (key: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${info.name}: not leader of ${key} after ${WAIT_MS} ms`)),
        WAIT_MS,
      )
      const leadership = target.lw.lead(
        key,
        (signal) => {
          clearTimeout(timer)
          resolve()
          return new Promise<void>((done) => signal.addEventListener('abort', () => done(), { once: true }))
        },
        { onError: reject },
      )
      leading.set(key, leadership)
    })
  return {
    ...info,
    hold: campaign,
    wait: campaign,
    async release(key) {
      const leadership = leading.get(key)
      leading.delete(key)
      if (!leadership?.isLeader) throw new Error(`${info.name}: not leading ${key} at release`)
      await leadership.stop()
    },
    close: async () => {
      await Promise.all([...leading.values()].map((leadership) => leadership.stop()))
    },
  }
}

/** The Redis contenders: the pub/sub wake floor, a raw lock, lockwork, redis-semaphore and redlock. */
async function redisContenders(config: RunConfig, targetOf: TargetOf): Promise<Contender[]> {
  const [sub, pub, raw, semaphoreClient, redlockClient] = (await Promise.all([
    connectRedis(),
    connectRedis(),
    connectRedis(),
    connectRedis(),
    connectRedis(),
  ])) as [Redis, Redis, Redis, Redis, Redis]
  const channel = `bench-${config.runId}:wake`
  const wakeups = new Wakeups()
  sub.on('message', (_channel: string, key: string) => wakeups.fire(key))
  await sub.subscribe(channel)
  const releaseSha = String(
    await raw.script(
      'LOAD',
      `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) redis.call('PUBLISH', ARGV[2], ARGV[3]) return 1 end return 0`,
    ),
  )
  const rawOwners = new Map<string, string>()
  const rawKey = (key: string) => `bench-${config.runId}:raw:${key}`
  const tryRaw = async (key: string): Promise<boolean> => {
    const owner = randomUUID()
    if ((await raw.set(rawKey(key), owner, 'PX', TTL_MS, 'NX')) !== 'OK') return false
    rawOwners.set(key, owner)
    return true
  }

  const semaphores = new Map<string, Mutex>()
  const redlock = new Redlock([redlockClient])
  redlock.on('error', () => {})
  const redlocks = new Map<string, RedlockLock>()
  const lockKey = (key: string) => `bench-${config.runId}:peer:${key}`
  const closeAll = async () => {
    for (const client of [sub, pub, raw, semaphoreClient, redlockClient]) client.disconnect()
  }

  const floor: Contender = {
    name: 'redis.pubsub',
    backend: 'redis',
    label: 'PUBLISH → subscriber (wake floor)',
    role: 'floor',
    hold: async () => {},
    wait: (key) => wakeups.next(key),
    async release(key) {
      await pub.publish(channel, key)
    },
    close: async () => {},
  }
  const rawLock: Contender = {
    name: 'redis.raw',
    backend: 'redis',
    label: 'raw SET NX PX + pub/sub wake',
    role: 'raw-lock',
    async hold(key) {
      if (!(await tryRaw(key))) throw new Error(`redis.raw: ${key} is held`)
    },
    async wait(key) {
      const deadline = performance.now() + WAIT_MS
      while (performance.now() < deadline) {
        // Listen before trying, so a release in between is not missed (the subscription is permanent).
        const woken = wakeups.next(key)
        if (await tryRaw(key)) return
        await woken
      }
      throw new Error(`redis.raw: ${key} still held after ${WAIT_MS} ms`)
    },
    async release(key) {
      const owner = rawOwners.get(key)
      rawOwners.delete(key)
      const freed = await raw.evalsha(releaseSha, 1, rawKey(key), String(owner), channel, key)
      if (freed !== 1) throw new Error(`redis.raw: release of ${key} failed`)
    },
    close: async () => {},
  }
  const semaphore: Contender = {
    name: 'redis.redis-semaphore',
    backend: 'redis',
    label: 'redis-semaphore Mutex (retryInterval 10 ms)',
    role: 'peer',
    hold: (key) => semaphore.wait(key),
    async wait(key) {
      const mutex = new Mutex(semaphoreClient, lockKey(key), {
        lockTimeout: TTL_MS,
        acquireTimeout: WAIT_MS,
        retryInterval: 10,
      })
      await mutex.acquire()
      semaphores.set(key, mutex)
    },
    async release(key) {
      const mutex = semaphores.get(key)
      semaphores.delete(key)
      await mutex?.release()
    },
    close: async () => {},
  }
  const redlockContender: Contender = {
    name: 'redis.redlock',
    backend: 'redis',
    label: 'redlock (default retry: 200 ± 100 ms)',
    role: 'peer',
    hold: (key) => redlockContender.wait(key),
    async wait(key) {
      redlocks.set(key, await redlock.acquire([lockKey(key)], TTL_MS))
    },
    async release(key) {
      const lock = redlocks.get(key)
      redlocks.delete(key)
      await lock?.release()
    },
    close: closeAll,
  }
  const ours = lockworkContender(
    { name: 'redis.lockwork', backend: 'redis', label: 'lockwork', role: 'ours' },
    targetOf('redis'),
  )
  const leader = leaderContender(
    {
      name: 'redis.lockwork-lead',
      backend: 'redis',
      label: 'lockwork lead: stop → next leader runs',
      role: 'ours',
    },
    targetOf('redis'),
  )
  return [floor, rawLock, ours, semaphore, redlockContender, leader]
}

/** The PostgreSQL contenders: the NOTIFY wake floor, a blocking advisory lock, and lockwork. */
async function postgresContenders(config: RunConfig, targetOf: TargetOf): Promise<Contender[]> {
  const listener = new pg.Client({ connectionString: postgresUrl })
  const notifier = new pg.Client({ connectionString: postgresUrl })
  const advisory = new pg.Client({ connectionString: postgresUrl })
  for (const client of [listener, notifier, advisory]) {
    client.on('error', () => {})
    await client.connect()
  }
  const channel = `bench_${config.runId}`
  const wakeups = new Wakeups()
  listener.on('notification', (message) => wakeups.fire(message.payload ?? ''))
  await listener.query(`LISTEN ${channel}`)
  const lockId = (key: string) => [`bench-${config.runId}:${key}`]

  const floor: Contender = {
    name: 'postgres.notify',
    backend: 'postgres',
    label: 'NOTIFY → LISTEN (wake floor)',
    role: 'floor',
    hold: async () => {},
    wait: (key) => wakeups.next(key),
    async release(key) {
      await notifier.query('SELECT pg_notify($1, $2)', [channel, key])
    },
    close: async () => {},
  }
  const blocking: Contender = {
    name: 'postgres.advisory',
    backend: 'postgres',
    label: 'pg_advisory_lock (blocking) + unlock',
    role: 'raw-lock',
    hold: (key) => blocking.wait(key),
    async wait(key) {
      await advisory.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', lockId(key))
    },
    async release(key) {
      const { rows } = await advisory.query<{ ok: boolean }>(
        'SELECT pg_advisory_unlock(hashtextextended($1, 0)) AS ok',
        lockId(key),
      )
      if (rows[0]?.ok !== true) throw new Error(`postgres.advisory: unlock of ${key} failed`)
    },
    async close() {
      await Promise.all([listener.end(), notifier.end(), advisory.end()])
    },
  }
  const ours = lockworkContender(
    { name: 'postgres.lockwork', backend: 'postgres', label: 'lockwork (durable)', role: 'ours' },
    targetOf('postgres'),
  )
  const fastBackend = openPostgresBackend(config.runId, 'fast')
  const fast = lockworkContender(
    { name: 'postgres.lockwork-fast', backend: 'postgres', label: 'lockwork (fast)', role: 'ours' },
    {
      lw: createLockwork({ backend: fastBackend, prefix: `bench-${config.runId}:` }),
      backend: fastBackend,
      close: () => fastBackend.close(),
    },
    true,
  )
  const leader = leaderContender(
    {
      name: 'postgres.lockwork-lead',
      backend: 'postgres',
      label: 'lockwork lead (durable): stop → next leader runs',
      role: 'ours',
    },
    targetOf('postgres'),
  )
  return [floor, blocking, ours, fast, leader]
}

/**
 * The SQLite wake floor, no lock at all: the releasing process writes one
 * byte to a file (a `pwrite` on a descriptor kept open), the waiting one's
 * `fs.watch` of it fires. The bare notification the backend's wake file uses.
 */
function sqliteWakeFloor(config: RunConfig): Contender {
  const path = join(config.sqliteDir, 'floor-wake')
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT, 0o666)
  const byte = new Uint8Array([0x0a])
  let pending: (() => void) | undefined
  const watcher = watch(path, { persistent: false }, () => {
    const wake = pending
    pending = undefined
    wake?.()
  })
  return {
    name: 'sqlite.wake-file',
    backend: 'sqlite',
    label: 'pwrite → fs.watch (wake floor)',
    role: 'floor',
    hold: async () => {},
    wait: () =>
      new Promise<void>((resolve) => {
        pending = resolve
      }),
    async release() {
      writeSync(fd, byte, 0, 1, 0)
    },
    async close() {
      watcher.close()
      closeSync(fd)
    },
  }
}

/** The etcd contenders: the watch wake floor (a put seen by the other process's watch) and lockwork. */
async function etcdContenders(config: RunConfig, targetOf: TargetOf): Promise<Contender[]> {
  const endpoints = config.etcdEndpoints
  if (endpoints === undefined) throw new Error('etcd has no endpoints in this run')
  const client = connectEtcd(endpoints)
  const prefix = `bench-${config.runId}/wake/`
  const wakeups = new Wakeups()
  const watcher = await client.watch().prefix(prefix).create()
  watcher.on('put', (kv) => wakeups.fire(kv.key.toString().slice(prefix.length)))
  const floor: Contender = {
    name: 'etcd.watch',
    backend: 'etcd',
    label: 'put → watcher (wake floor)',
    role: 'floor',
    hold: async () => {},
    wait: (key) => wakeups.next(key),
    async release(key) {
      await client.put(`${prefix}${key}`).value('x')
    },
    close: async () => {
      await watcher.cancel().catch(() => undefined)
      client.close()
    },
  }
  const ours = lockworkContender(
    { name: 'etcd.lockwork', backend: 'etcd', label: 'lockwork', role: 'ours' },
    targetOf('etcd'),
  )
  return [floor, ours]
}

/** Opens every contender of `backends` (memory has none: it is one process). */
export async function openContenders(
  config: RunConfig,
  backends: readonly BackendName[],
  targetOf: TargetOf,
): Promise<Contender[]> {
  const contenders: Contender[] = []
  if (backends.includes('sqlite')) {
    contenders.push(
      sqliteWakeFloor(config),
      lockworkContender(
        { name: 'sqlite.lockwork', backend: 'sqlite', label: 'lockwork (wake file)', role: 'ours' },
        targetOf('sqlite'),
      ),
      leaderContender(
        {
          name: 'sqlite.lockwork-lead',
          backend: 'sqlite',
          label: 'lockwork lead: stop → next leader runs',
          role: 'ours',
        },
        targetOf('sqlite'),
      ),
    )
  }
  if (backends.includes('redis')) contenders.push(...(await redisContenders(config, targetOf)))
  if (backends.includes('postgres')) contenders.push(...(await postgresContenders(config, targetOf)))
  if (backends.includes('etcd')) contenders.push(...(await etcdContenders(config, targetOf)))
  return contenders
}
