import {
  type Codec,
  createLockwork,
  type Duration,
  InvalidArgumentError,
  jsonCodec,
  type Lock,
  type LockBackend,
  type Lockwork,
} from '@lockwork/core'
import { createPostgresBackend } from '@lockwork/postgres'
import { createRedisBackend } from '@lockwork/redis'
import { createSqliteBackend } from '@lockwork/sqlite'

import { afterAll, describe, expect, it } from 'vitest'
import {
  availableBackends,
  BACKEND_NAMES,
  DATABASE_URL,
  freshTarget,
  openBackend,
  randomPrefix,
} from '../src/backends.js'
import { CountingBackend } from '../src/counting-backend.js'

/** A string the `Duration` type refuses, as a JavaScript caller (or an `as` cast) can still pass it. */
const notADuration = (value: string): Duration => value as Duration

/** The core's separator between a key's parts (not exported: the key layout is internal). */
const INTERNAL_SEPARATOR = '\u001f'

const available = await availableBackends(BACKEND_NAMES, 'reliability bad input')

/** Passes a hostile value where the types would not allow it. */
function hostile<T>(value: unknown): T {
  return value as T
}

/** One hostile input and the argument its error must name. */
interface BadCase {
  readonly input: string
  readonly argument: string
  readonly run: (lw: Lockwork, held: Lock, backend: LockBackend) => unknown
}

const fn = async () => 'ran'
const job = async () => {}

/** Hostile inputs across the public API of the core. None may reach the backend. */
const CORE_CASES: readonly BadCase[] = [
  // keys
  { input: 'key ""', argument: 'key', run: (lw) => lw.acquire('') },
  { input: 'key of 10,000 chars', argument: 'key', run: (lw) => lw.acquire('k'.repeat(10_000)) },
  { input: 'key with NUL', argument: 'key', run: (lw) => lw.tryAcquire('a\u0000b') },
  { input: 'key with a lone high surrogate', argument: 'key', run: (lw) => lw.acquire('lone\ud800') },
  { input: 'key with a lone low surrogate', argument: 'key', run: (lw) => lw.peek('\udc00trail') },
  { input: 'key with a newline', argument: 'key', run: (lw) => lw.isLocked('line\nbreak') },
  { input: 'key 42 (a number)', argument: 'key', run: (lw) => lw.acquire(hostile(42)) },
  { input: 'key null', argument: 'key', run: (lw) => lw.forceRelease(hostile(null)) },
  { input: 'key undefined', argument: 'key', run: (lw) => lw.withLock(hostile(undefined), fn) },
  { input: 'key {} (an object)', argument: 'key', run: (lw) => lw.tryAcquire(hostile({})) },
  // durations
  { input: 'ttl 0', argument: 'options.ttl', run: (lw) => lw.acquire('k', { ttl: 0 }) },
  { input: 'ttl −1', argument: 'options.ttl', run: (lw) => lw.acquire('k', { ttl: -1 }) },
  { input: 'ttl NaN', argument: 'options.ttl', run: (lw) => lw.tryAcquire('k', { ttl: Number.NaN }) },
  {
    input: 'ttl Infinity',
    argument: 'options.ttl',
    run: (lw) => lw.withLock('k', fn, { ttl: Number.POSITIVE_INFINITY }),
  },
  {
    input: "ttl '10 parsecs'",
    argument: 'options.ttl',
    run: (lw) => lw.acquire('k', { ttl: notADuration('10 parsecs') }),
  },
  { input: 'ttl 2^53 (huge)', argument: 'options.ttl', run: (lw) => lw.acquire('k', { ttl: 2 ** 53 }) },
  {
    input: "ttl '' (empty string)",
    argument: 'options.ttl',
    run: (lw) => lw.acquire('k', { ttl: notADuration('') }),
  },
  { input: 'wait −5', argument: 'options.wait', run: (lw) => lw.acquire('k', { wait: -5 }) },
  {
    input: "wait '1e400ms' (overflows)",
    argument: 'options.wait',
    run: (lw) => lw.acquire('k', { wait: notADuration('1e400ms') }),
  },
  {
    input: "lock.extend('10 parsecs')",
    argument: 'ttl',
    run: (_lw, held) => held.extend(notADuration('10 parsecs')),
  },
  { input: 'lock.extend(−1)', argument: 'ttl', run: (_lw, held) => held.extend(-1) },
  {
    input: "once ttl 'soon'",
    argument: 'options.ttl',
    run: (lw) => lw.once({ key: 'k', ttl: notADuration('soon') }, fn),
  },
  {
    input: 'once holdFor −1',
    argument: 'options.holdFor',
    run: (lw) => lw.once({ key: 'k', holdFor: -1 }, fn),
  },
  {
    input: 'cached staleFor NaN',
    argument: 'options.staleFor',
    run: (lw) => lw.cached({ key: 'k', staleFor: Number.NaN }, fn),
  },
  {
    input: 'every interval 0',
    argument: 'options.interval',
    run: (lw) => lw.every('job', { interval: 0 }, job),
  },
  // functions
  { input: 'withLock fn a string', argument: 'fn', run: (lw) => lw.withLock('k', hostile('not a function')) },
  { input: 'once fn 42', argument: 'fn', run: (lw) => lw.once({ key: 'k' }, hostile<typeof fn>(42)) },
  { input: 'cached fn null', argument: 'fn', run: (lw) => lw.cached({ key: 'k' }, hostile<typeof fn>(null)) },
  { input: 'every job {}', argument: 'job', run: (lw) => lw.every('job', { interval: '1m' }, hostile({})) },
  {
    input: 'every onError a string',
    argument: 'options.onError',
    run: (lw) => lw.every('job', { interval: '1m', onError: hostile('log') }, job),
  },
  {
    input: 'every onLate a number',
    argument: 'options.onLate',
    run: (lw) => lw.every('job', { interval: '1m', onLate: hostile(1) }, job),
  },
  {
    input: 'every maxLateness 0',
    argument: 'options.maxLateness',
    run: (lw) => lw.every('job', { interval: '1m', maxLateness: 0 }, job),
  },
  {
    input: 'onReleaseError a string',
    argument: 'options.onReleaseError',
    run: (_lw, _held, backend) => createLockwork({ backend, onReleaseError: hostile('log') }),
  },
  // options of the wrong type
  { input: "acquire options 'fast'", argument: 'options', run: (lw) => lw.acquire('k', hostile('fast')) },
  {
    input: "signal 'abort'",
    argument: 'options.signal',
    run: (lw) => lw.acquire('k', hostile({ signal: 'abort' })),
  },
  {
    input: "autoExtend 'yes'",
    argument: 'options.autoExtend',
    run: (lw) => lw.acquire('k', hostile({ autoExtend: 'yes' })),
  },
  {
    input: 'tryAcquire with a wait',
    argument: 'options.wait',
    run: (lw) => lw.tryAcquire('k', hostile({ wait: 10 })),
  },
  {
    input: "once onLocked 'maybe'",
    argument: 'options.onLocked',
    run: (lw) => lw.once(hostile<{ key: string }>({ key: 'k', onLocked: 'maybe' }), fn),
  },
  {
    input: 'once key 123',
    argument: 'options.key',
    run: (lw) => lw.once(hostile<{ key: string }>({ key: 123 }), fn),
  },
  {
    input: 'once key function that throws',
    argument: 'options.key',
    run: (lw) =>
      lw.once(
        {
          key: (): string => {
            throw new Error('no key')
          },
        },
        fn,
      )(),
  },
  {
    input: "once key function returning ''",
    argument: 'options.key',
    run: (lw) => lw.once({ key: () => '' }, fn)(),
  },
  {
    input: 'cached key function returning NUL',
    argument: 'options.key',
    run: (lw) => lw.cached({ key: () => '\u0000' }, fn)(),
  },
  {
    input: 'cached codec without decode',
    argument: 'options.codec',
    run: (lw) => lw.cached({ key: 'k', codec: hostile<Codec<string>>({ encode: String }) }, fn),
  },
  {
    input: 'cached earlyRefresh −1',
    argument: 'options.earlyRefresh',
    run: (lw) => lw.cached({ key: 'k', earlyRefresh: -1 }, fn),
  },
  { input: "every name ''", argument: 'name', run: (lw) => lw.every('', { interval: '1m' }, job) },
  {
    input: 'every with interval and cron',
    argument: 'options',
    run: (lw) => lw.every('job', { interval: '1m', cron: '* * * * *' }, job),
  },
  {
    input: "every cron 'not a cron'",
    argument: 'options.cron',
    run: (lw) => lw.every('job', { cron: 'not a cron' }, job),
  },
  {
    input: 'every jitter 2',
    argument: 'options.jitter',
    run: (lw) => lw.every('job', { interval: '1m', jitter: 2 }, job),
  },
  {
    input: "every timezone 'Mars/Olympus'",
    argument: 'options.timezone',
    run: (lw) => lw.every('job', { cron: '* * * * *', timezone: 'Mars/Olympus' }, job),
  },
  // the client itself
  {
    input: 'createLockwork backend 42',
    argument: 'options.backend',
    run: () => createLockwork(hostile({ backend: 42 })),
  },
  {
    input: "createLockwork options 'backend'",
    argument: 'options',
    run: () => createLockwork(hostile('backend')),
  },
  {
    input: 'prefix 42',
    argument: 'prefix',
    run: (_lw, _held, backend) => createLockwork({ backend, prefix: hostile(42) }),
  },
  {
    input: 'prefix with NUL',
    argument: 'prefix',
    run: (_lw, _held, backend) => createLockwork({ backend, prefix: 'p\u0000' }),
  },
  {
    input: 'prefix of 129 chars',
    argument: 'prefix',
    run: (_lw, _held, backend) => createLockwork({ backend, prefix: 'p'.repeat(129) }),
  },
  {
    input: "defaultTtl 'forever'",
    argument: 'options.defaultTtl',
    run: (_lw, _held, backend) => createLockwork({ backend, defaultTtl: notADuration('forever') }),
  },
  {
    input: 'defaultWait −1',
    argument: 'options.defaultWait',
    run: (_lw, _held, backend) => createLockwork({ backend, defaultWait: -1 }),
  },
]

/** Runs `body`, synchronous or not, and returns what it threw or rejected with. */
async function failure(body: () => unknown): Promise<unknown> {
  try {
    await body()
  } catch (error) {
    return error
  }
  return undefined
}

/** `undefined` when `error` is an InvalidArgumentError naming `argument`, else a description of what went wrong. */
function mismatch(error: unknown, argument: string): string | undefined {
  if (!(error instanceof InvalidArgumentError)) {
    return error === undefined
      ? 'did not throw'
      : `threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`
  }
  if (error.argument !== argument) return `named ${error.argument}, expected ${argument}`
  if (!error.message.includes(argument)) return `message does not name ${argument}: ${error.message}`
  return undefined
}

const opened: LockBackend[] = []
afterAll(async () => {
  await Promise.allSettled(opened.map((backend) => backend.close()))
})

it(`the matrix has at least 30 hostile inputs (${CORE_CASES.length})`, () => {
  expect(CORE_CASES.length).toBeGreaterThanOrEqual(30)
})

for (const name of BACKEND_NAMES) {
  describe.skipIf(!available[name])(`${name}: hostile input`, () => {
    it(`${CORE_CASES.length} hostile inputs across the core API → InvalidArgumentError naming the argument, 0 backend calls, the held lease untouched`, async () => {
      const real = openBackend(freshTarget(name))
      opened.push(real)
      const counting = new CountingBackend(real)
      const lw = createLockwork({ backend: counting, prefix: randomPrefix('bad') })
      const held = await lw.acquire('sentinel', { ttl: '30s' })
      const before = await real.peek(lw.fullKey('sentinel'))
      counting.reset()

      const wrong: string[] = []
      for (const bad of CORE_CASES) {
        const problem = mismatch(await failure(() => bad.run(lw, held, counting)), bad.argument)
        if (problem !== undefined) wrong.push(`${bad.input}: ${problem}`)
      }
      expect(wrong).toEqual([])
      expect(Object.fromEntries(counting.calls)).toEqual({})
      const after = await real.peek(lw.fullKey('sentinel'))
      expect(after?.owner).toBe(held.owner)
      expect(after?.fence).toBe(before?.fence)
      expect(after?.remainingMs ?? 0).toBeLessThanOrEqual(before?.remainingMs ?? 0)
      expect(held.held).toBe(true)
      expect(await lw.isLocked('k')).toBe(false)
      await held.release()
    })

    it('an already-aborted signal rejects with its reason before touching the backend', async () => {
      const real = openBackend(freshTarget(name))
      opened.push(real)
      const counting = new CountingBackend(real)
      const lw = createLockwork({ backend: counting, prefix: randomPrefix('abort') })
      const reason = new Error('cancelled')
      const controller = new AbortController()
      controller.abort(reason)
      expect(await failure(() => lw.acquire('k', { signal: controller.signal }))).toBe(reason)
      expect(await failure(() => lw.withLock('k', fn, { signal: controller.signal }))).toBe(reason)
      expect(counting.total).toBe(0)
    })

    it('a codec that cannot encode the value → InvalidArgumentError naming value; no entry is stored and the compute lock is free', async () => {
      const real = openBackend(freshTarget(name))
      opened.push(real)
      const lw = createLockwork({ backend: real, prefix: randomPrefix('codec') })
      const failing: Codec<number> = {
        encode: () => {
          throw new TypeError('cannot encode')
        },
        decode: Number,
      }
      const notText: Codec<number> = { encode: hostile(() => 42), decode: Number }
      for (const [codec, key] of [
        [failing, 'encode-throws'],
        [notText, 'encode-not-a-string'],
      ] as const) {
        const cachedFn = lw.cached({ key, ttl: '1m', codec }, async () => 1)
        expect(mismatch(await failure(() => cachedFn()), 'value')).toBeUndefined()
        expect(await real.getCached(lw.fullKey(key))).toBeUndefined()
        expect(
          await real.peek(`${lw.prefix}${INTERNAL_SEPARATOR}cached${INTERNAL_SEPARATOR}${key}`),
        ).toBeNull()
      }
      // The default codec (devalue) cannot round-trip a class instance or a function: refused the same way.
      class Point {
        x = 1
      }
      const instance = lw.cached({ key: 'class-instance', ttl: '1m' }, async () => new Point())
      expect(mismatch(await failure(() => instance()), 'value')).toBeUndefined()
      expect(await real.getCached(lw.fullKey('class-instance'))).toBeUndefined()
      const fn = lw.cached({ key: 'function', ttl: '1m' }, async () => ({ run: () => 1 }))
      expect(mismatch(await failure(() => fn()), 'value')).toBeUndefined()
      expect(await real.getCached(lw.fullKey('function'))).toBeUndefined()
      // Strict JSON refuses what JSON would not give back as it was.
      const date = lw.cached({ key: 'json-date', ttl: '1m', codec: jsonCodec }, async () => new Date(0))
      expect(mismatch(await failure(() => date()), 'value')).toBeUndefined()
      expect(await real.getCached(lw.fullKey('json-date'))).toBeUndefined()
    })

    // `cached` round-trips a value through the codec before it stores it.
    it('a codec whose decode throws → a typed error naming the codec, and no entry stored', async () => {
      const real = openBackend(freshTarget(name))
      opened.push(real)
      const lw = createLockwork({ backend: real, prefix: randomPrefix('decode') })
      const codec: Codec<number> = {
        encode: String,
        decode: () => {
          throw new SyntaxError('cannot decode')
        },
      }
      const cachedFn = lw.cached({ key: 'decode-throws', ttl: '1m', codec }, async () => 1)
      const error = await failure(() => cachedFn())
      expect(error).toBeInstanceOf(InvalidArgumentError)
      expect(['options.codec', 'value']).toContain((error as InvalidArgumentError).argument)
      expect(await real.getCached(lw.fullKey('decode-throws'))).toBeUndefined()
    })
  })
}

describe('backend factories: hostile options are refused before any connection is opened', () => {
  const cases: readonly { input: string; argument: string; run: () => unknown }[] = [
    {
      input: "sqlite table 'x; DROP TABLE y'",
      argument: 'options.table',
      run: () => createSqliteBackend({ table: 'x; DROP TABLE y' }),
    },
    {
      input: "sqlite table 'sqlite_master'",
      argument: 'options.table',
      run: () => createSqliteBackend({ table: 'sqlite_master' }),
    },
    { input: "sqlite path ''", argument: 'options.path', run: () => createSqliteBackend({ path: '' }) },
    {
      input: "sqlite busyTimeout 'soon'",
      argument: 'options.busyTimeout',
      run: () => createSqliteBackend({ busyTimeout: notADuration('soon') }),
    },
    {
      input: "sqlite synchronous 'OFF'",
      argument: 'options.synchronous',
      run: () => createSqliteBackend({ synchronous: hostile('OFF') }),
    },
    { input: 'redis without url or client', argument: 'options', run: () => createRedisBackend({}) },
    {
      input: "redis keyPrefix '{tag}'",
      argument: 'options.keyPrefix',
      run: () => createRedisBackend({ url: 'redis://127.0.0.1:1', keyPrefix: '{tag}' }),
    },
    {
      input: 'redis waitForReplicas 0 replicas',
      argument: 'options.waitForReplicas.replicas',
      run: () =>
        createRedisBackend({ url: 'redis://127.0.0.1:1', waitForReplicas: { replicas: 0, timeoutMs: 100 } }),
    },
    {
      input: 'redis keyPrefix with NUL',
      argument: 'prefix',
      run: () => createRedisBackend({ url: 'redis://127.0.0.1:1', keyPrefix: 'a\u0000' }),
    },
    {
      input: 'postgres table with a quote',
      argument: 'options.table',
      run: () => createPostgresBackend({ connectionString: DATABASE_URL, table: 'x"; DROP TABLE y; --' }),
    },
    {
      input: "postgres schema 'public; DROP'",
      argument: 'options.schema',
      run: () => createPostgresBackend({ connectionString: DATABASE_URL, schema: 'public; DROP' }),
    },
    {
      input: "postgres durability 'yolo'",
      argument: 'options.durability',
      run: () => createPostgresBackend({ connectionString: DATABASE_URL, durability: hostile('yolo') }),
    },
    {
      input: 'postgres connectionString 42',
      argument: 'options.connectionString',
      run: () => createPostgresBackend({ connectionString: hostile(42) }),
    },
    {
      input: 'postgres sweepIntervalMs −1',
      argument: 'options.sweepIntervalMs',
      run: () => createPostgresBackend({ connectionString: DATABASE_URL, sweepIntervalMs: -1 }),
    },
    {
      input: 'postgres pool a string',
      argument: 'options.pool',
      run: () => createPostgresBackend({ pool: hostile('pool') }),
    },
  ]

  it(`${cases.length} hostile backend options → InvalidArgumentError naming the option`, async () => {
    const wrong: string[] = []
    for (const bad of cases) {
      const problem = mismatch(await failure(bad.run), bad.argument)
      if (problem !== undefined) wrong.push(`${bad.input}: ${problem}`)
    }
    expect(wrong).toEqual([])
  })
})
