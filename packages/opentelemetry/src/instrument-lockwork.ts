import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import {
  CACHE_COMPUTE_END_CHANNEL,
  CACHE_COMPUTE_START_CHANNEL,
  CACHE_LOOKUP_CHANNEL,
  type CacheComputeEndMessage,
  type CacheComputeStartMessage,
  type CacheLookupMessage,
  JOB_TICK_CHANNEL,
  type JobTickMessage,
  type LeaseEventMessage,
  LOCK_ACQUIRED_CHANNEL,
  LOCK_FAILED_CHANNEL,
  LOCK_LOST_CHANNEL,
  LOCK_RELEASED_CHANNEL,
  type LockAcquiredMessage,
  type LockFailedMessage,
  type LockLostMessage,
  type LockReleasedMessage,
} from '@lockwork/core'
import {
  type Attributes,
  type MeterProvider,
  metrics,
  type Span,
  SpanStatusCode,
  type TracerProvider,
  trace,
} from '@opentelemetry/api'

/** Options of {@link instrumentLockwork}. */
export interface InstrumentLockworkOptions {
  /** Where metrics go. Default: the global meter provider (`metrics.getMeterProvider()`). */
  readonly meterProvider?: MeterProvider
  /** Where spans go. Default: the global tracer provider (`trace.getTracerProvider()`). */
  readonly tracerProvider?: TracerProvider
  /**
   * Add the key (`lockwork.key`) to metric points and spans. Default `false`:
   * keys are unbounded, and each one would become its own time series. Turn
   * it on only when your keys are few and known.
   */
  readonly includeKeys?: boolean
  /**
   * The most lock spans kept open at once (acquired, not yet released or
   * lost). Beyond it the oldest is ended, so handles that are never released
   * cannot grow memory without bound. Default 10,000.
   */
  readonly maxOpenSpans?: number
}

/** What {@link instrumentLockwork} returns. */
export interface LockworkInstrumentation {
  /** Unsubscribes from every channel and ends the spans still open. Idempotent. */
  disable(): void
}

/**
 * The `node:diagnostics_channel` channels {@link instrumentLockwork}
 * subscribes to. It needs no `lockwork:lock:acquire-start` (a lock span is
 * started when the acquisition ends, dated back by its `waitedMs`), so an
 * acquisition publishes two events while it is on: acquired, then released
 * (or lost); failed when it does not get the lease.
 */
export const INSTRUMENTED_CHANNELS: readonly string[] = Object.freeze([
  LOCK_ACQUIRED_CHANNEL,
  LOCK_FAILED_CHANNEL,
  LOCK_RELEASED_CHANNEL,
  LOCK_LOST_CHANNEL,
  CACHE_LOOKUP_CHANNEL,
  CACHE_COMPUTE_START_CHANNEL,
  CACHE_COMPUTE_END_CHANNEL,
  JOB_TICK_CHANNEL,
])

/** The instrumentation scope name of the meter and the tracer. */
export const INSTRUMENTATION_NAME = '@lockwork/opentelemetry'

/** Histogram boundaries in seconds, from 1 ms to 60 s. */
const SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

/**
 * Records lockwork's telemetry as OpenTelemetry metrics and spans, from the
 * core's `node:diagnostics_channel` channels; every lockwork client in the
 * process is covered. Call it once at start-up (each call subscribes again,
 * so a second one counts everything twice); `disable()` stops it.
 *
 * Metrics (durations in seconds):
 * - `lockwork.lock.wait.duration` (histogram): from the start of an
 *   acquisition to its end; `lockwork.outcome` = `acquired` | `busy` |
 *   `timeout` | `error`.
 * - `lockwork.lock.hold.duration` (histogram): from acquisition to release
 *   or loss; `lockwork.outcome` = `released` | `lost`.
 * - `lockwork.lock.lost` (counter): `lockwork.lost.reason`.
 * - `lockwork.cache.requests` (counter): `lockwork.outcome` = `hit` | `miss` | `stale`.
 * - `lockwork.cache.compute.duration` (histogram): `lockwork.outcome` = `ok` | `error`.
 * - `lockwork.job.runs` (counter): `lockwork.job.name`, `lockwork.outcome` =
 *   `ok` | `error` | `skipped`.
 *
 * Every point has `lockwork.backend`; lease metrics have `lockwork.lock.kind`
 * (`lock`, `semaphore`, `rwlock`); failures have `error.type`.
 *
 * Spans: `lockwork.lock` from the start of an acquisition until its release
 * (or its loss, or the acquisition failing), with an `acquired` event and
 * `lockwork.fence`; `lockwork.cache.compute` around a `cached` computation.
 * Both are children of the span active where the call was made.
 */
export function instrumentLockwork(options: InstrumentLockworkOptions = {}): LockworkInstrumentation {
  const includeKeys = options.includeKeys === true
  const maxOpenSpans = options.maxOpenSpans ?? 10_000
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_NAME)
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_NAME)

  const waitDuration = meter.createHistogram('lockwork.lock.wait.duration', {
    description: 'Time from the start of a lock, semaphore or rwlock acquisition to its end.',
    unit: 's',
    advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
  })
  const holdDuration = meter.createHistogram('lockwork.lock.hold.duration', {
    description: 'Time a lease was held, from acquisition to release or loss.',
    unit: 's',
    advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
  })
  const lost = meter.createCounter('lockwork.lock.lost', {
    description: 'Leases lost while held (expired, taken, freed elsewhere, extension refused).',
    unit: '{lease}',
  })
  const cacheRequests = meter.createCounter('lockwork.cache.requests', {
    description: 'cached() calls that read the backend, by outcome.',
    unit: '{request}',
  })
  const computeDuration = meter.createHistogram('lockwork.cache.compute.duration', {
    description: 'Time a cached() computation took, storing included.',
    unit: 's',
    advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
  })
  const jobRuns = meter.createCounter('lockwork.job.runs', {
    description: 'every() ticks on this replica, by outcome.',
    unit: '{run}',
  })

  /** Open lock spans by owner token (one per acquisition), oldest first. */
  const lockSpans = new Map<string, Span>()
  /** Open compute spans, by their start message. */
  const computeSpans = new WeakMap<CacheComputeStartMessage, Span>()

  const leaseAttributes = (message: LeaseEventMessage, outcome?: string): Attributes => {
    const attributes: Attributes = { 'lockwork.backend': message.backend, 'lockwork.lock.kind': message.kind }
    if (outcome !== undefined) attributes['lockwork.outcome'] = outcome
    if (includeKeys) attributes['lockwork.key'] = message.key
    return attributes
  }

  const takeSpan = (owner: string): Span | undefined => {
    const span = lockSpans.get(owner)
    if (span !== undefined) lockSpans.delete(owner)
    return span
  }

  /**
   * Starts the span of an acquisition that has just ended, `waitedMs` ago
   * (spans are started late: the acquire-start event is not needed, so
   * nothing is published when an acquisition begins). The caller's context is
   * still the active one: the core publishes from within the acquiring call.
   */
  const startLockSpan = (message: LeaseEventMessage, waitedMs: number): Span =>
    tracer.startSpan('lockwork.lock', {
      attributes: leaseAttributes(message),
      startTime: performance.timeOrigin + performance.now() - waitedMs,
    })

  const onAcquired = (raw: unknown): void => {
    const message = raw as LockAcquiredMessage
    waitDuration.record(message.waitedMs / 1000, leaseAttributes(message, 'acquired'))
    if (lockSpans.size >= maxOpenSpans) {
      const oldest = lockSpans.keys().next()
      if (oldest.done !== true) takeSpan(oldest.value)?.end()
    }
    const span = startLockSpan(message, message.waitedMs)
    span.setAttribute('lockwork.fence', message.fence)
    span.addEvent('acquired', { 'lockwork.fence': message.fence })
    lockSpans.set(message.owner, span)
  }

  const onFailed = (raw: unknown): void => {
    const message = raw as LockFailedMessage
    const attributes = leaseAttributes(message, message.reason)
    attributes['error.type'] = errorType(message.error)
    waitDuration.record(message.waitedMs / 1000, attributes)
    const span = startLockSpan(message, message.waitedMs)
    span.setAttributes({ 'lockwork.outcome': message.reason, 'error.type': errorType(message.error) })
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(message.error) })
    span.end()
  }

  const onReleased = (raw: unknown): void => {
    const message = raw as LockReleasedMessage
    holdDuration.record(message.heldMs / 1000, leaseAttributes(message, 'released'))
    const span = takeSpan(message.owner)
    if (span === undefined) return
    span.setAttribute('lockwork.outcome', 'released')
    span.end()
  }

  const onLost = (raw: unknown): void => {
    const message = raw as LockLostMessage
    holdDuration.record(message.heldMs / 1000, leaseAttributes(message, 'lost'))
    const attributes = leaseAttributes(message)
    attributes['lockwork.lost.reason'] = message.reason
    lost.add(1, attributes)
    const span = takeSpan(message.owner)
    if (span === undefined) return
    span.setAttributes({ 'lockwork.outcome': 'lost', 'lockwork.lost.reason': message.reason })
    span.setStatus({ code: SpanStatusCode.ERROR, message: `lease lost: ${message.reason}` })
    span.end()
  }

  const onCacheLookup = (raw: unknown): void => {
    const message = raw as CacheLookupMessage
    const attributes: Attributes = {
      'lockwork.backend': message.backend,
      'lockwork.outcome': message.outcome,
    }
    if (includeKeys) attributes['lockwork.key'] = message.key
    cacheRequests.add(1, attributes)
  }

  const onComputeStart = (raw: unknown): void => {
    const message = raw as CacheComputeStartMessage
    const attributes: Attributes = {
      'lockwork.backend': message.backend,
      'lockwork.cache.background': message.background,
    }
    if (includeKeys) attributes['lockwork.key'] = message.key
    computeSpans.set(message, tracer.startSpan('lockwork.cache.compute', { attributes }))
  }

  const onComputeEnd = (raw: unknown): void => {
    const message = raw as CacheComputeEndMessage
    const attributes: Attributes = {
      'lockwork.backend': message.start.backend,
      'lockwork.outcome': message.outcome,
    }
    if (message.outcome === 'error') attributes['error.type'] = errorType(message.error)
    if (includeKeys) attributes['lockwork.key'] = message.start.key
    computeDuration.record(message.computeMs / 1000, attributes)
    const span = computeSpans.get(message.start)
    if (span === undefined) return
    computeSpans.delete(message.start)
    span.setAttributes(attributes)
    if (message.outcome === 'error') {
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(message.error) })
    }
    span.end()
  }

  const onJobTick = (raw: unknown): void => {
    const message = raw as JobTickMessage
    if (message.outcome === 'claimed') return
    const outcome = message.outcome === 'ran' ? 'ok' : message.outcome === 'failed' ? 'error' : 'skipped'
    const attributes: Attributes = {
      'lockwork.backend': message.backend,
      'lockwork.job.name': message.name,
      'lockwork.outcome': outcome,
    }
    if (message.reason !== undefined) attributes['lockwork.job.skip_reason'] = message.reason
    if (message.outcome === 'failed') attributes['error.type'] = errorType(message.error)
    jobRuns.add(1, attributes)
  }

  const subscriptions: ReadonlyArray<readonly [string, (message: unknown) => void]> = [
    [LOCK_ACQUIRED_CHANNEL, onAcquired],
    [LOCK_FAILED_CHANNEL, onFailed],
    [LOCK_RELEASED_CHANNEL, onReleased],
    [LOCK_LOST_CHANNEL, onLost],
    [CACHE_LOOKUP_CHANNEL, onCacheLookup],
    [CACHE_COMPUTE_START_CHANNEL, onComputeStart],
    [CACHE_COMPUTE_END_CHANNEL, onComputeEnd],
    [JOB_TICK_CHANNEL, onJobTick],
  ]
  for (const [name, listener] of subscriptions) subscribe(name, listener)

  let enabled = true
  return {
    disable: () => {
      if (!enabled) return
      enabled = false
      for (const [name, listener] of subscriptions) unsubscribe(name, listener)
      for (const span of lockSpans.values()) span.end()
      lockSpans.clear()
    },
  }
}

/** `error.type` for an error: its class name (e.g. `LockTimeoutError`), or `_OTHER`. */
function errorType(error: unknown): string {
  return error instanceof Error ? error.name : '_OTHER'
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
