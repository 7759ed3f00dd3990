import { hasSubscribers } from 'node:diagnostics_channel'
import {
  createLockwork,
  LOCK_ACQUIRE_START_CHANNEL,
  LOCK_EXTENDED_CHANNEL,
  LOCK_WAIT_CHANNEL,
  LockTimeoutError,
  type Lockwork,
} from '@lockwork/core'
import { createMemoryBackend, MemoryStore } from '@lockwork/memory'
import { context, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { INSTRUMENTED_CHANNELS, instrumentLockwork, type LockworkInstrumentation } from '../src/index.js'

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A span's start or end time in ms since the epoch. */
const epochMs = ([seconds, nanos]: readonly [number, number]) => seconds * 1000 + nanos / 1e6

let metricExporter: InMemoryMetricExporter
let reader: PeriodicExportingMetricReader
let meterProvider: MeterProvider
let spanExporter: InMemorySpanExporter
let tracerProvider: BasicTracerProvider
let instrumentation: LockworkInstrumentation | undefined
const contextManager = new AsyncLocalStorageContextManager()

beforeAll(() => {
  contextManager.enable()
  context.setGlobalContextManager(contextManager)
})
afterAll(() => {
  context.disable()
})

beforeEach(() => {
  metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 60_000 })
  meterProvider = new MeterProvider({ readers: [reader] })
  spanExporter = new InMemorySpanExporter()
  tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] })
})

afterEach(async () => {
  instrumentation?.disable()
  instrumentation = undefined
  await meterProvider.shutdown()
  await tracerProvider.shutdown()
})

function clients(n: number): Lockwork[] {
  const store = new MemoryStore()
  return Array.from({ length: n }, () =>
    createLockwork({ backend: createMemoryBackend({ store }), prefix: 'p:' }),
  )
}

/** The data points of one metric, after a collection. */
async function points(name: string): Promise<DataPoint<unknown>[]> {
  await reader.forceFlush()
  const batches = metricExporter.getMetrics()
  const last = batches[batches.length - 1]
  const metric = last?.scopeMetrics.flatMap((scope) => scope.metrics).find((m) => m.descriptor.name === name)
  return (metric?.dataPoints ?? []) as DataPoint<unknown>[]
}

describe('instrumentLockwork', () => {
  it('records wait and hold durations in seconds, without keys, and a span per withLock under the caller span', async () => {
    const [lw] = clients(1)
    instrumentation = instrumentLockwork({ meterProvider, tracerProvider })
    const parent = tracerProvider.getTracer('test').startSpan('request')
    await context.with(trace.setSpan(context.active(), parent), () => lw!.withLock('orders', () => delay(30)))
    parent.end()

    const wait = await points('lockwork.lock.wait.duration')
    expect(wait).toHaveLength(1)
    expect(wait[0]!.attributes).toEqual({
      'lockwork.backend': 'memory',
      'lockwork.lock.kind': 'lock',
      'lockwork.outcome': 'acquired',
    })
    const hold = await points('lockwork.lock.hold.duration')
    expect(hold[0]!.attributes).toMatchObject({ 'lockwork.outcome': 'released' })
    const held = hold[0]!.value as Histogram
    expect(held.count).toBe(1)
    // 30 ms of work: in seconds, not milliseconds.
    expect(held.sum).toBeGreaterThanOrEqual(0.025)
    expect(held.sum).toBeLessThan(5)

    const spans = spanExporter.getFinishedSpans()
    const lock = spans.find((span) => span.name === 'lockwork.lock')
    expect(lock).toBeDefined()
    expect(lock!.parentSpanContext?.spanId).toBe(parent.spanContext().spanId)
    expect(lock!.attributes).toMatchObject({ 'lockwork.backend': 'memory', 'lockwork.outcome': 'released' })
    expect(lock!.attributes['lockwork.key']).toBeUndefined()
    expect(lock!.events.map((event) => event.name)).toEqual(['acquired'])
  })

  it('records a timeout with error.type and an error span; includeKeys adds lockwork.key', async () => {
    const [a, b] = clients(2)
    const held = await a!.acquire('orders')
    instrumentation = instrumentLockwork({ meterProvider, tracerProvider, includeKeys: true })
    await expect(b!.acquire('orders', { wait: 30 })).rejects.toBeInstanceOf(LockTimeoutError)
    await held.release()
    const wait = await points('lockwork.lock.wait.duration')
    expect(wait.map((point) => point.attributes)).toContainEqual({
      'lockwork.backend': 'memory',
      'lockwork.lock.kind': 'lock',
      'lockwork.outcome': 'timeout',
      'lockwork.key': 'orders',
      'error.type': 'LockTimeoutError',
    })
    const failed = spanExporter
      .getFinishedSpans()
      .find((span) => span.attributes['lockwork.outcome'] === 'timeout')
    expect(failed?.status.code).toBe(2) // SpanStatusCode.ERROR
    // The span covers the 30 ms the acquisition waited, though it was started when it failed.
    expect(epochMs(failed!.endTime) - epochMs(failed!.startTime)).toBeGreaterThanOrEqual(25)
  })

  it('counts lost leases by reason', async () => {
    const [lw] = clients(1)
    instrumentation = instrumentLockwork({ meterProvider, tracerProvider })
    const lock = await lw!.acquire('orders', { ttl: 40 })
    await delay(80)
    expect(lock.held).toBe(false)
    const lost = await points('lockwork.lock.lost')
    expect(lost).toHaveLength(1)
    expect(lost[0]!.attributes).toMatchObject({ 'lockwork.lost.reason': 'expired' })
    expect(lost[0]!.value).toBe(1)
  })

  it('counts cache requests by outcome and traces computations', async () => {
    const [lw] = clients(1)
    instrumentation = instrumentLockwork({ meterProvider, tracerProvider })
    const price = lw!.cached({ key: 'price', ttl: '1m' }, () => 42)
    await price()
    await price()
    await price()
    const requests = await points('lockwork.cache.requests')
    const byOutcome = Object.fromEntries(
      requests.map((point) => [point.attributes['lockwork.outcome'], point.value]),
    )
    expect(byOutcome).toEqual({ miss: 1, hit: 2 })
    const computes = spanExporter.getFinishedSpans().filter((span) => span.name === 'lockwork.cache.compute')
    expect(computes).toHaveLength(1)
    expect(computes[0]!.attributes).toMatchObject({
      'lockwork.outcome': 'ok',
      'lockwork.cache.background': false,
    })
    expect(((await points('lockwork.cache.compute.duration'))[0]!.value as Histogram).count).toBe(1)
  })

  it('counts job runs by outcome', async () => {
    const [lw] = clients(1)
    instrumentation = instrumentLockwork({ meterProvider, tracerProvider })
    const ok = lw!.every('report', { interval: '1m', runOnStart: true }, () => undefined)
    const broken = lw!.every('broken', { interval: '1m', runOnStart: true, onError: () => undefined }, () => {
      throw new Error('job broke')
    })
    await delay(50)
    await Promise.all([ok.stop(), broken.stop()])
    const runs = await points('lockwork.job.runs')
    expect(runs.map((point) => point.attributes)).toEqual(
      expect.arrayContaining([
        { 'lockwork.backend': 'memory', 'lockwork.job.name': 'report', 'lockwork.outcome': 'ok' },
        {
          'lockwork.backend': 'memory',
          'lockwork.job.name': 'broken',
          'lockwork.outcome': 'error',
          'error.type': 'Error',
        },
      ]),
    )
  })

  it('subscribes to exactly INSTRUMENTED_CHANNELS (no acquire-start), and unsubscribes on disable()', () => {
    const untouched = [LOCK_ACQUIRE_START_CHANNEL, LOCK_WAIT_CHANNEL, LOCK_EXTENDED_CHANNEL]
    expect(INSTRUMENTED_CHANNELS.some((name) => untouched.includes(name))).toBe(false)
    instrumentation = instrumentLockwork({ meterProvider, tracerProvider })
    for (const name of INSTRUMENTED_CHANNELS) expect(hasSubscribers(name), name).toBe(true)
    for (const name of untouched) expect(hasSubscribers(name), name).toBe(false)
    instrumentation.disable()
    for (const name of INSTRUMENTED_CHANNELS) expect(hasSubscribers(name), name).toBe(false)
  })

  it('starts a lock span when its acquisition started: the wait is inside it, under the caller span', async () => {
    const [a, b] = clients(2)
    instrumentation = instrumentLockwork({ meterProvider, tracerProvider })
    const held = await a!.acquire('orders')
    setTimeout(() => void held.release(), 80)
    const parent = tracerProvider.getTracer('test').startSpan('request')
    const calledAt = Date.now()
    const lock = await context.with(trace.setSpan(context.active(), parent), () =>
      b!.acquire('orders', { wait: 5_000 }),
    )
    const acquiredAt = Date.now()
    await lock.release()
    parent.end()
    const spans = spanExporter.getFinishedSpans().filter((span) => span.name === 'lockwork.lock')
    const waited = spans.find((span) => span.parentSpanContext?.spanId === parent.spanContext().spanId)
    expect(waited).toBeDefined()
    // Started at the call (not when the lease came), within the clocks' rounding.
    expect(epochMs(waited!.startTime)).toBeGreaterThanOrEqual(calledAt - 5)
    expect(epochMs(waited!.startTime)).toBeLessThan(calledAt + 40)
    const acquiredEvent = waited!.events.find((event) => event.name === 'acquired')
    expect(epochMs(acquiredEvent!.time as [number, number])).toBeGreaterThanOrEqual(calledAt + 60)
    expect(epochMs(acquiredEvent!.time as [number, number])).toBeLessThanOrEqual(acquiredAt + 5)
    expect(epochMs(waited!.endTime)).toBeGreaterThanOrEqual(epochMs(waited!.startTime) + 60)
  })

  it('records nothing after disable()', async () => {
    const [lw] = clients(1)
    instrumentation = instrumentLockwork({ meterProvider, tracerProvider })
    instrumentation.disable()
    await lw!.withLock('orders', () => undefined)
    expect(await points('lockwork.lock.wait.duration')).toEqual([])
    expect(spanExporter.getFinishedSpans()).toEqual([])
  })
})
