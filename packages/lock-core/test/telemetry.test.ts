import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { createMemoryBackend, MemoryStore } from '@lockwork/memory'
import { afterEach, describe, expect, it } from 'vitest'
import {
  CACHE_COMPUTE_END_CHANNEL,
  CACHE_COMPUTE_START_CHANNEL,
  CACHE_LOOKUP_CHANNEL,
  type CacheComputeEndMessage,
  createLockwork,
  JOB_TICK_CHANNEL,
  LOCK_ACQUIRE_START_CHANNEL,
  LOCK_ACQUIRED_CHANNEL,
  LOCK_EXTENDED_CHANNEL,
  LOCK_FAILED_CHANNEL,
  LOCK_LOST_CHANNEL,
  LOCK_RELEASED_CHANNEL,
  LOCK_WAIT_CHANNEL,
  LockBusyError,
  LockLostError,
  LockTimeoutError,
  type Lockwork,
} from '../src/index.js'

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const ALL_CHANNELS = [
  LOCK_ACQUIRE_START_CHANNEL,
  LOCK_WAIT_CHANNEL,
  LOCK_ACQUIRED_CHANNEL,
  LOCK_FAILED_CHANNEL,
  LOCK_EXTENDED_CHANNEL,
  LOCK_RELEASED_CHANNEL,
  LOCK_LOST_CHANNEL,
  CACHE_LOOKUP_CHANNEL,
  CACHE_COMPUTE_START_CHANNEL,
  CACHE_COMPUTE_END_CHANNEL,
  JOB_TICK_CHANNEL,
]

interface Recorded {
  readonly channel: string
  readonly message: Record<string, unknown>
}

/** Subscribes to every lockwork channel; `stop()` unsubscribes. */
function record(): { events: Recorded[]; stop(): void } {
  const events: Recorded[] = []
  const listeners = ALL_CHANNELS.map((name) => {
    const listener = (message: unknown) => {
      events.push({ channel: name, message: message as Record<string, unknown> })
    }
    subscribe(name, listener)
    return { name, listener }
  })
  return {
    events,
    stop: () => {
      for (const { name, listener } of listeners) unsubscribe(name, listener)
    },
  }
}

let recorder: ReturnType<typeof record> | undefined
afterEach(() => {
  recorder?.stop()
  recorder = undefined
})

function clients(n: number): Lockwork[] {
  const store = new MemoryStore()
  return Array.from({ length: n }, () =>
    createLockwork({ backend: createMemoryBackend({ store }), prefix: 'p:' }),
  )
}

const names = (events: Recorded[]) => events.map((event) => event.channel)

describe('telemetry channels', () => {
  it('withLock publishes acquire-start, acquired and released, with the unprefixed key and one owner', async () => {
    const [lw] = clients(1)
    recorder = record()
    const fence = await lw!.withLock('orders', (lock) => lock.fence)
    const { events } = recorder
    expect(names(events)).toEqual([LOCK_ACQUIRE_START_CHANNEL, LOCK_ACQUIRED_CHANNEL, LOCK_RELEASED_CHANNEL])
    for (const { message } of events) {
      expect(message).toMatchObject({ kind: 'lock', backend: 'memory', key: 'orders' })
      expect(message.owner).toBe(events[0]!.message.owner)
    }
    expect(events[1]!.message).toMatchObject({ fence })
    expect(events[1]!.message.waitedMs).toBeGreaterThanOrEqual(0)
    expect(events[2]!.message).toMatchObject({ fence, released: true })
    expect(events[2]!.message.heldMs).toBeGreaterThanOrEqual(0)
  })

  it('a contended acquire publishes wait, then acquired once the holder releases; busy and timeout publish failed', async () => {
    const [a, b] = clients(2)
    const held = await a!.acquire('orders')
    recorder = record()
    const waiting = b!.acquire('orders', { wait: '5s' })
    await delay(50)
    await held.release()
    const second = await waiting
    await expect(b!.acquire('orders', { wait: 0 })).rejects.toBeInstanceOf(LockBusyError)
    await expect(a!.acquire('orders', { wait: 30 })).rejects.toBeInstanceOf(LockTimeoutError)
    await second.release()
    const { events } = recorder
    expect(names(events)).toEqual([
      LOCK_ACQUIRE_START_CHANNEL,
      LOCK_WAIT_CHANNEL,
      LOCK_RELEASED_CHANNEL, // the first holder's
      LOCK_ACQUIRED_CHANNEL,
      LOCK_ACQUIRE_START_CHANNEL,
      LOCK_FAILED_CHANNEL,
      LOCK_ACQUIRE_START_CHANNEL,
      LOCK_WAIT_CHANNEL,
      LOCK_FAILED_CHANNEL,
      LOCK_RELEASED_CHANNEL,
    ])
    expect(events[3]!.message.owner).toBe(second.owner)
    expect(events[3]!.message.waitedMs).toBeGreaterThanOrEqual(40)
    expect(events[5]!.message).toMatchObject({ reason: 'busy' })
    expect(events[5]!.message.error).toBeInstanceOf(LockBusyError)
    expect(events[8]!.message).toMatchObject({ reason: 'timeout' })
    expect(events[8]!.message.waitedMs).toBeGreaterThanOrEqual(25)
  })

  it('extend publishes ok, then refused and lost when the lease was freed behind the handle', async () => {
    const [lw] = clients(1)
    const lock = await lw!.acquire('orders', { ttl: '10s' })
    recorder = record()
    await lock.extend()
    expect(await lw!.forceRelease('orders')).toBe(true)
    await expect(lock.extend()).rejects.toBeInstanceOf(LockLostError)
    const { events } = recorder
    expect(names(events)).toEqual([LOCK_EXTENDED_CHANNEL, LOCK_EXTENDED_CHANNEL, LOCK_LOST_CHANNEL])
    expect(events.map((event) => event.message.outcome)).toEqual(['ok', 'refused', undefined])
    expect(events[0]!.message).toMatchObject({ auto: false, fence: lock.fence, key: 'orders' })
    expect(events[2]!.message).toMatchObject({ reason: 'extend-failed', fence: lock.fence })
  })

  it('an expired lease publishes lost with reason expired', async () => {
    const [lw] = clients(1)
    const lock = await lw!.acquire('orders', { ttl: 40 })
    recorder = record()
    await delay(80)
    expect(lock.held).toBe(false)
    expect(names(recorder.events)).toEqual([LOCK_LOST_CHANNEL])
    expect(recorder.events[0]!.message).toMatchObject({ reason: 'expired' })
    expect(recorder.events[0]!.message.heldMs).toBeGreaterThanOrEqual(40)
    // Released after it was lost: the handle's one terminal event was the loss.
    expect(await lock.release()).toBe(false)
    expect(names(recorder.events)).toEqual([LOCK_LOST_CHANNEL])
  })

  it('semaphore permits carry kind semaphore', async () => {
    const [lw] = clients(1)
    recorder = record()
    await lw!.semaphore('pool', { limit: 2 }).withPermit(() => undefined)
    expect(names(recorder.events)).toEqual([
      LOCK_ACQUIRE_START_CHANNEL,
      LOCK_ACQUIRED_CHANNEL,
      LOCK_RELEASED_CHANNEL,
    ])
    for (const { message } of recorder.events)
      expect(message).toMatchObject({ kind: 'semaphore', key: 'pool' })
  })

  it('cached publishes miss and its computation, then hit, then stale with a background refresh', async () => {
    const [lw] = clients(1)
    let calls = 0
    const price = lw!.cached({ key: 'price', ttl: 60, staleFor: '10s' }, () => ++calls)
    recorder = record()
    expect(await price()).toBe(1)
    const lookups = () =>
      recorder!.events.filter((event) => event.channel === CACHE_LOOKUP_CHANNEL).map((e) => e.message.outcome)
    expect(lookups()).toEqual(['miss'])
    expect(await price()).toBe(1)
    expect(lookups()).toEqual(['miss', 'hit'])
    await delay(100)
    expect(await price()).toBe(1)
    await delay(50)
    expect(lookups()).toEqual(['miss', 'hit', 'stale'])
    const computes = recorder.events.filter((event) => event.channel.startsWith('lockwork:cache:compute'))
    expect(names(computes)).toEqual([
      CACHE_COMPUTE_START_CHANNEL,
      CACHE_COMPUTE_END_CHANNEL,
      CACHE_COMPUTE_START_CHANNEL,
      CACHE_COMPUTE_END_CHANNEL,
    ])
    expect(computes[0]!.message).toMatchObject({ backend: 'memory', key: 'price', background: false })
    expect(computes[2]!.message).toMatchObject({ background: true })
    const end = computes[1]!.message as unknown as CacheComputeEndMessage
    expect(end.start).toBe(computes[0]!.message)
    expect(end.outcome).toBe('ok')
    expect(end.computeMs).toBeGreaterThanOrEqual(0)
    // The compute lock shows up as a lock on the cache key.
    expect(
      recorder.events.some((e) => e.channel === LOCK_ACQUIRED_CHANNEL && e.message.key === 'price'),
    ).toBe(true)
  })

  it('a failing computation publishes its end with the error', async () => {
    const [lw] = clients(1)
    const broken = lw!.cached({ key: 'broken' }, () => {
      throw new Error('no upstream')
    })
    recorder = record()
    await expect(broken()).rejects.toThrow('no upstream')
    const end = recorder.events.find((event) => event.channel === CACHE_COMPUTE_END_CHANNEL)
    expect(end?.message).toMatchObject({ outcome: 'error' })
    expect((end!.message.error as Error).message).toBe('no upstream')
  })

  it('every publishes claimed and ran, or claimed and failed, and skipped on the replica that lost the claim', async () => {
    const [a, b] = clients(2)
    recorder = record()
    let fail = false
    const job = () => {
      if (fail) throw new Error('job broke')
    }
    const errors: unknown[] = []
    const first = a!.every('report', { interval: '1m', runOnStart: true }, job)
    await delay(30)
    const second = b!.every(
      'report',
      { interval: '1m', runOnStart: true, onError: (e) => errors.push(e) },
      job,
    )
    await delay(30)
    await Promise.all([first.stop(), second.stop()])
    fail = true
    const third = b!.every(
      'report-2',
      { interval: '1m', runOnStart: true, onError: (e) => errors.push(e) },
      job,
    )
    await delay(30)
    await third.stop()
    const ticks = recorder.events.filter((event) => event.channel === JOB_TICK_CHANNEL).map((e) => e.message)
    const report = ticks.filter((tick) => tick.name === 'report')
    expect(report.map((tick) => tick.outcome).slice(0, 3)).toEqual(['claimed', 'ran', 'skipped'])
    expect(report[1]!.durationMs).toBeGreaterThanOrEqual(0)
    expect(report[2]).toMatchObject({ reason: 'claimed-elsewhere', backend: 'memory' })
    const failing = ticks.filter((tick) => tick.name === 'report-2')
    expect(failing.map((tick) => tick.outcome)).toEqual(['claimed', 'failed'])
    expect((failing[1]!.error as Error).message).toBe('job broke')
    expect(errors).toHaveLength(1)
  })

  it('publishes nothing once unsubscribed', async () => {
    const [lw] = clients(1)
    recorder = record()
    recorder.stop()
    await lw!.withLock('orders', () => undefined)
    await lw!.cached({ key: 'k' }, () => 1)()
    expect(recorder.events).toEqual([])
  })
})
