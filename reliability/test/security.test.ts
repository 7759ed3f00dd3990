import { randomUUID } from 'node:crypto'
import { createLockwork, type LockBackend } from '@lockwork/core'
import { createMemoryBackend } from '@lockwork/memory'
import { createPostgresBackend } from '@lockwork/postgres'
import { createRedisBackend } from '@lockwork/redis'
import { createSqliteBackend } from '@lockwork/sqlite'
import { Redis } from 'ioredis'
import { Client } from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import {
  availableBackends,
  BACKEND_NAMES,
  type BackendName,
  DATABASE_URL,
  freshTarget,
  openBackend,
  POSTGRES_TABLE,
  REDIS_URL,
  randomPrefix,
} from '../src/backends.js'
import { type SentCommand, spiedSqliteDatabase, spyOnPgQueries, spyOnRedisCommands } from '../src/sql-spy.js'

const available = await availableBackends(BACKEND_NAMES, 'reliability security')

const opened: LockBackend[] = []
const cleanups: (() => Promise<unknown> | unknown)[] = []
afterAll(async () => {
  await Promise.allSettled(opened.map((backend) => backend.close()))
  for (const cleanup of cleanups) await cleanup()
})
function track<B extends LockBackend>(backend: B): B {
  opened.push(backend)
  return backend
}

/** Every injection key carries this marker, so its presence in statement text is easy to detect. */
const MARK = 'INJ7'
const INJECTION_KEYS: readonly string[] = [
  `${MARK}'; DROP TABLE lockwork; --`,
  `${MARK}' OR '1'='1`,
  `${MARK}" OR ""="`,
  `${MARK}'); DELETE FROM ${POSTGRES_TABLE}; --`,
  `${MARK}' || (SELECT pg_sleep(3)) || '`,
  `${MARK} $1 $2 ? ?1 :key @key $key`,
  `${MARK}]]..redis.call('FLUSHALL')..[[`,
  `${MARK}") redis.call("FLUSHDB") --`,
  `${MARK}' .. redis.call('DEL', KEYS[1]) .. '`,
  `${MARK} {tag} } { *?[] %_ \\ \``,
  `${MARK} \u2028\u2029 ünïcödé 日本 🔒`,
  `${MARK}${'x'.repeat(500)}`,
]

describe('owner tokens', () => {
  it('start with a random UUID v4 (122 random bits), all distinct, every random bit unbiased, over 4,096 acquisitions; the rest is the owner label', async () => {
    const lw = createLockwork({ backend: createMemoryBackend(), prefix: 'owners:' })
    const owners: string[] = []
    for (let i = 0; i < 4_096; i++) {
      const lock = await lw.acquire(`k${i}`, { ttl: '1m' })
      owners.push(lock.owner)
      await lock.release()
    }
    const once = lw.once({ key: 'once' }, async () => (await lw.peek('once'))?.owner)
    owners.push(String(await once()))
    // The token is `<uuid> host=… pid=…`: the UUID is what makes it unguessable, the label only names the holder.
    const v4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12} host=\S+ pid=\d+$/
    expect(owners.filter((owner) => !v4.test(owner))).toEqual([])
    const uuids = owners.map((owner) => owner.slice(0, 36))
    expect(new Set(uuids).size).toBe(owners.length)
    // 128 bits minus the 4 version and 2 variant bits: each must be set about half the time.
    const counts = new Array<number>(128).fill(0)
    for (const uuid of uuids) {
      const hex = uuid.replaceAll('-', '')
      for (let bit = 0; bit < 128; bit++) {
        const nibble = Number.parseInt(hex[bit >> 2] ?? '0', 16)
        if ((nibble >> (3 - (bit & 3))) & 1) counts[bit] = (counts[bit] ?? 0) + 1
      }
    }
    const fixed = new Set([48, 49, 50, 51, 64, 65])
    const random = counts.filter((_, bit) => !fixed.has(bit))
    expect(random).toHaveLength(122)
    const biased = random.map((n) => n / owners.length).filter((share) => share < 0.4 || share > 0.6)
    expect(biased).toEqual([])
  })
})

/** Owners an attacker might try instead of the real one. */
function forgeries(owner: string, fence: number): string[] {
  return [
    '',
    ' ',
    randomUUID(),
    owner.toUpperCase(),
    `${owner} `,
    ` ${owner}`,
    owner.slice(0, -1),
    `${owner.slice(0, -1)}%`,
    `${owner.slice(0, -1)}_`,
    `${owner.slice(0, 8)}*`,
    '*',
    '%',
    String(fence),
    'null',
    "' OR '1'='1",
    "x' OR owner IS NOT NULL --",
    `${owner}' --`,
    ']] or true --[[',
    "' .. redis.call('GET', KEYS[1]) .. '",
    `${owner}\u0000`,
  ]
}

for (const name of BACKEND_NAMES) {
  describe.skipIf(!available[name])(`${name}: security`, () => {
    it('a non-owner can never release or extend (20 forged owners, SQL/Lua tricks included); the owner token is stored verbatim', async () => {
      const backend = track(openBackend(freshTarget(name)))
      const lw = createLockwork({ backend, prefix: randomPrefix('forge') })
      const lock = await lw.acquire('guarded', { ttl: '10s' })
      const key = lw.fullKey('guarded')
      const before = await backend.peek(key)
      expect(before?.owner).toBe(lock.owner)
      const accepted: string[] = []
      for (const forged of forgeries(lock.owner, lock.fence)) {
        // A backend may refuse a forged owner outright (e.g. NUL in PostgreSQL text): that is fine too.
        const released = await backend.release(key, forged).catch(() => false)
        const extended = await backend.extend(key, forged, 600_000).catch(() => false)
        if (released || extended) accepted.push(JSON.stringify(forged))
      }
      expect(accepted).toEqual([])
      const after = await backend.peek(key)
      expect(after?.owner).toBe(lock.owner)
      expect(after?.fence).toBe(lock.fence)
      expect(after?.remainingMs ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(10_000)
      expect(await lw.tryAcquire('guarded')).toBeNull()
      expect(await lock.release()).toBe(true)
    })

    it('prefixes isolate tenants: same key, two prefixes → two locks, two caches; force-release in one leaves the other', async () => {
      const backend = track(openBackend(freshTarget(name)))
      const base = randomPrefix('tenant')
      const a = createLockwork({ backend, prefix: `${base}a:` })
      const b = createLockwork({ backend, prefix: `${base}b:` })
      const lockA = await a.acquire('shared', { ttl: '10s' })
      const lockB = await b.acquire('shared', { ttl: '10s', wait: 0 })
      expect(lockB.owner).not.toBe(lockA.owner)
      expect(await b.forceRelease('shared')).toBe(true)
      expect((await a.peek('shared'))?.owner).toBe(lockA.owner)
      expect(await a.tryAcquire('shared')).toBeNull()
      const valueA = a.cached({ key: 'value', ttl: '1m' }, async () => 'tenant a')
      const valueB = b.cached({ key: 'value', ttl: '1m' }, async () => 'tenant b')
      expect(await valueA()).toBe('tenant a')
      expect(await valueB()).toBe('tenant b')
      expect(await valueB.invalidate()).toBe(true)
      expect(await valueA.peek()).toBe('tenant a')
      await lockA.release()
    })

    it(`${INJECTION_KEYS.length} injection keys work as plain keys (locks, caches, semaphores, reader-writer locks) and never appear in SQL or Lua text`, async () => {
      const probe = await injectionProbe(name)
      const lw = createLockwork({ backend: probe.backend, prefix: randomPrefix('inject') })
      const sentinel = await lw.acquire('sentinel', { ttl: '30s' })
      for (const key of INJECTION_KEYS) {
        const full = lw.fullKey(key)
        const lock = await lw.acquire(key, { ttl: '10s', wait: 0 })
        expect((await lw.peek(key))?.owner).toBe(lock.owner)
        expect((await probe.backend.acquire(full, randomUUID(), 1_000)).acquired).toBe(false)
        await lock.extend('20s')
        expect(await lock.release()).toBe(true)
        expect(await lw.isLocked(key)).toBe(false)
        await probe.backend.setCached(full, { value: key, computeMs: 1 }, 10_000)
        expect((await probe.backend.getCached(full))?.value).toBe(key)
        expect(await probe.backend.deleteCached(full)).toBe(true)
        await probe.backend.waitForRelease?.(full, 5)
        if (probe.backend.acquirePermits !== undefined) {
          // Semaphores and reader-writer locks of the same names, where the backend has them.
          const semaphore = lw.semaphore(key, { limit: 2 })
          const permit = await semaphore.acquire({ permits: 2, ttl: '10s', wait: 0 })
          expect((await semaphore.peek()).holders.map((holder) => holder.owner)).toEqual([permit.owner])
          expect(await semaphore.tryAcquire()).toBeNull()
          await permit.extend('20s')
          expect(await permit.release()).toBe(true)
          await probe.backend.waitForPermits?.(full, 1, 2, 5)
          const rwlock = lw.rwlock(key)
          const reader = await rwlock.read({ ttl: '10s', wait: 0 })
          expect(await rwlock.tryWrite()).toBeNull()
          expect(await reader.release()).toBe(true)
          const writer = await rwlock.write({ ttl: '10s', wait: 0 })
          expect(await rwlock.tryRead()).toBeNull()
          expect(await writer.release()).toBe(true)
        }
      }
      // Nothing else was touched: the sentinel is still held, and the store is intact.
      expect((await lw.peek('sentinel'))?.owner).toBe(sentinel.owner)
      await probe.intact()
      await sentinel.release()
      const leaked = probe.texts().filter((text) => text.includes(MARK))
      expect(leaked).toEqual([])
      expect(probe.texts().length).toBeGreaterThan(0)
      probe.extra?.()
      // The spy itself works: a statement with the marker spliced in is caught.
      if (probe.spliced !== undefined) {
        await probe.spliced()
        expect(probe.texts().some((text) => text.includes(MARK))).toBe(true)
      }
    })
  })
}

describe('prefix nesting', () => {
  // The full key is prefix + U+001F + key; neither part can contain U+001F, so nesting is safe.
  it("nested prefixes ('app:' and 'app:tenant:') isolate too", async () => {
    const backend = createMemoryBackend()
    const outer = createLockwork({ backend, prefix: 'app:' })
    const inner = createLockwork({ backend, prefix: 'app:tenant:' })
    const lock = await inner.acquire('x', { ttl: '10s' })
    expect(await outer.tryAcquire('tenant:x')).not.toBeNull()
    await lock.release()
  })
})

describe('backend namespaces', () => {
  it.skipIf(!available.sqlite)('sqlite: two tables in one file are two lock spaces', async () => {
    const path = freshTarget('sqlite').path ?? ''
    const a = createLockwork({ backend: track(createSqliteBackend({ path, table: 'tenant_a' })) })
    const b = createLockwork({ backend: track(createSqliteBackend({ path, table: 'tenant_b' })) })
    await a.acquire('k', { ttl: '10s' })
    expect(await b.tryAcquire('k', { ttl: '10s' })).not.toBeNull()
  })

  it.skipIf(!available.redis)(
    'redis: keyPrefixes isolate, nested ones too (the hash tag follows the keyPrefix, and keyPrefixes cannot contain braces)',
    async () => {
      const base = `lockwork-reliability-ns-${randomUUID().slice(0, 8)}:`
      const outer = createLockwork({
        backend: track(createRedisBackend({ url: REDIS_URL, keyPrefix: base })),
      })
      const inner = createLockwork({
        backend: track(createRedisBackend({ url: REDIS_URL, keyPrefix: `${base}q:` })),
      })
      const held = await inner.acquire('x', { ttl: '10s' })
      const other = await outer.tryAcquire('q:x', { ttl: '10s' })
      expect(other).not.toBeNull()
      await other?.release()
      await held.release()
    },
  )

  it.skipIf(!available.postgres)('postgres: two lease tables are two lock spaces', async () => {
    const a = createLockwork({
      backend: track(openBackend(freshTarget('postgres'))),
      prefix: randomPrefix('ns'),
    })
    const b = createLockwork({
      backend: track(createPostgresBackend({ connectionString: DATABASE_URL, table: `${POSTGRES_TABLE}_b` })),
      prefix: a.prefix,
    })
    const held = await a.acquire('k', { ttl: '10s' })
    const other = await b.tryAcquire('k', { ttl: '10s' })
    expect(other).not.toBeNull()
    await other?.release()
    await held.release()
  })
})

/** A backend instrumented to record its statement or script texts, and a check that its store is intact. */
interface InjectionProbe {
  readonly backend: LockBackend
  /** Every SQL statement or Lua script text (or script SHA) the backend sent. */
  texts(): string[]
  /** Asserts that the store's own objects survived. */
  intact(): Promise<void>
  /** Backend-specific extra assertions. */
  extra?: () => void
  /** Sends one statement with {@link MARK} spliced into its text (the spy's own control). */
  spliced?: () => Promise<unknown>
}

async function injectionProbe(name: BackendName): Promise<InjectionProbe> {
  switch (name) {
    case 'memory': {
      // No query language: keys are Map keys. Only the behaviour is checked.
      return {
        backend: track(createMemoryBackend()),
        texts: () => ['(memory: no statements)'],
        intact: async () => {},
      }
    }
    case 'sqlite': {
      const target = freshTarget('sqlite')
      const texts: string[] = []
      const db = spiedSqliteDatabase(target.path ?? '', texts)
      cleanups.push(() => db.close())
      const backend = track(createSqliteBackend({ database: db }))
      return {
        backend,
        texts: () => texts,
        intact: async () => {
          expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
          const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all()
          expect(tables).toEqual([
            { name: 'lockwork' },
            { name: 'lockwork_cache' },
            { name: 'lockwork_meta' },
            { name: 'lockwork_sem' },
            { name: 'lockwork_sem_holder' },
          ])
        },
        spliced: async () => db.prepare(`SELECT '${MARK}'`).get(),
      }
    }
    case 'redis': {
      const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
      client.on('error', () => {})
      cleanups.push(() => client.disconnect())
      const sent: SentCommand[] = []
      spyOnRedisCommands(client, sent)
      const keyPrefix = `lockwork-reliability-inject-${randomUUID().slice(0, 8)}:`
      const backend = track(createRedisBackend({ client, keyPrefix }))
      const canary = `${keyPrefix}canary`
      await client.set(canary, 'alive', 'PX', 60_000)
      const scripts = () => sent.filter((command) => command.name === 'evalsha' || command.name === 'eval')
      return {
        backend,
        texts: () => scripts().map((command) => String(command.args[0])),
        intact: async () => {
          expect(await client.get(canary)).toBe('alive')
          await client.del(canary)
        },
        extra: () => {
          // The script (or its SHA) is one of a handful, whatever the key: keys travel as KEYS/ARGV only.
          // Nine scripts (five for locks and caches, four for semaphores), each sent by SHA and, after a
          // SCRIPT FLUSH by another test, once more as text.
          const distinct = new Set(scripts().map((command) => String(command.args[0])))
          expect(distinct.size).toBeLessThanOrEqual(18)
          for (const command of scripts()) expect(Number(command.args[1])).toBeGreaterThanOrEqual(1)
        },
        spliced: () => client.eval(`return '${MARK}'`, 0),
      }
    }
    case 'postgres': {
      const texts: string[] = []
      const restore = spyOnPgQueries(texts)
      cleanups.push(restore)
      const backend = track(createPostgresBackend({ connectionString: DATABASE_URL, table: POSTGRES_TABLE }))
      return {
        backend,
        texts: () => texts,
        intact: async () => {
          const client = new Client({ connectionString: DATABASE_URL })
          await client.connect()
          try {
            const { rows } = await client.query<{ lease: string | null; cache: string | null }>(
              'SELECT to_regclass($1) AS lease, to_regclass($2) AS cache',
              [POSTGRES_TABLE, `${POSTGRES_TABLE}_cache`],
            )
            expect(rows[0]?.lease).not.toBeNull()
            expect(rows[0]?.cache).not.toBeNull()
          } finally {
            await client.end()
          }
        },
        spliced: async () => {
          const client = new Client({ connectionString: DATABASE_URL })
          await client.connect()
          await client.query(`SELECT '${MARK}'`).finally(() => client.end())
        },
      }
    }
  }
}
