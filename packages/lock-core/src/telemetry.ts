import { channel } from 'node:diagnostics_channel'
import type { LockLostReason } from './errors.js'

/*
 * Telemetry: `node:diagnostics_channel` channels the core publishes on.
 *
 * Nothing is built or sent while a channel has no subscriber: every hook
 * checks its own channel's `hasSubscribers` before it creates its message,
 * so a subscriber pays only for the channels it listens to (one message
 * object per event, and the time stamps the core reads anyway). Subscribe
 * once: Node changes a channel's prototype when its first listener comes
 * and its last one goes, which makes V8 recompile the functions that
 * publish. An uncontended acquire + release publishes acquire-start,
 * acquired and released; `@lockwork/opentelemetry` listens to the last two
 * only. Messages carry the
 * key as the caller named it (without the client's prefix). Keys are
 * unbounded: a subscriber that turns messages into metrics must not use
 * `key` (nor `owner`) as a metric attribute by default, or every key becomes
 * its own time series.
 */

/**
 * The kind of lease an event is about: a plain lock (also the locks `cached`,
 * `once` and `every` take, and a reader-writer lock's writer gate), a
 * semaphore's permits, or a reader-writer lock's permits.
 */
export type LeaseKind = 'lock' | 'semaphore' | 'rwlock'

/** The fields every lease event carries. */
export interface LeaseEventMessage {
  /** The kind of lease. */
  readonly kind: LeaseKind
  /** The backend's `name` (e.g. `'memory'`, `'redis'`). */
  readonly backend: string
  /** The key as the caller named it, without the prefix. Unbounded: never a metric attribute by default. */
  readonly key: string
  /** This acquisition's owner token: the same in every event of one acquisition, so events can be paired. */
  readonly owner: string
}

/** Published by {@link LOCK_ACQUIRE_START_CHANNEL} when `acquire`, `withLock` or a semaphore or rwlock acquisition begins. */
export interface LockAcquireStartMessage extends LeaseEventMessage {
  /** How long the acquisition may wait, in ms (0: a single attempt). */
  readonly waitMs: number
}

/** Published by {@link LOCK_WAIT_CHANNEL} when an acquisition finds the lease taken and starts waiting for it. */
export interface LockWaitMessage extends LeaseEventMessage {}

/** Published by {@link LOCK_ACQUIRED_CHANNEL} when a lease is acquired and its handle created. */
export interface LockAcquiredMessage extends LeaseEventMessage {
  /** The lease's fencing token. */
  readonly fence: number
  /** Milliseconds from the start of the acquisition (its first attempt, for helper locks) to now. */
  readonly waitedMs: number
}

/** Published by {@link LOCK_FAILED_CHANNEL} when an acquisition ends without the lease. */
export interface LockFailedMessage extends LeaseEventMessage {
  /**
   * `'busy'`: taken and no wait allowed (`LockBusyError`); `'timeout'`: still
   * taken when the wait ended (`LockTimeoutError`); `'error'`: anything else
   * (aborted, backend failure, client closed).
   */
  readonly reason: 'busy' | 'timeout' | 'error'
  /** Milliseconds from the start of the acquisition to its end. */
  readonly waitedMs: number
  /** The error the acquisition rejects with. */
  readonly error: unknown
}

/** Published by {@link LOCK_EXTENDED_CHANNEL} after every extension attempt, manual or automatic. */
export interface LockExtendedMessage extends LeaseEventMessage {
  readonly fence: number
  /** `'ok'`: extended; `'refused'`: the backend says the lease is no longer ours; `'error'`: the backend failed. */
  readonly outcome: 'ok' | 'refused' | 'error'
  /** Whether auto-extension made the attempt (`false`: a call to `extend()`). */
  readonly auto: boolean
}

/**
 * Published by {@link LOCK_RELEASED_CHANNEL} when a `release()` (or the end
 * of `withLock` / `await using`) completes. Each handle publishes one of
 * released and {@link LockLostMessage | lost}, once: a handle that was lost
 * first publishes nothing when it is released afterwards.
 */
export interface LockReleasedMessage extends LeaseEventMessage {
  readonly fence: number
  /** Milliseconds from the winning attempt to the `release()` call. */
  readonly heldMs: number
  /** Whether this release freed the lease (`false`: it had already expired or been taken). */
  readonly released: boolean
}

/** Published by {@link LOCK_LOST_CHANNEL} when a handle learns that it no longer holds its lease. */
export interface LockLostMessage extends LeaseEventMessage {
  readonly fence: number
  /** Why, as in `LockLostError.reason`. */
  readonly reason: LockLostReason
  /** Milliseconds from the winning attempt to the loss being noticed. */
  readonly heldMs: number
}

/** Published by {@link CACHE_LOOKUP_CHANNEL} once per `cached` call that reads the backend. */
export interface CacheLookupMessage {
  readonly backend: string
  /** The cache key as the caller named it. Unbounded: never a metric attribute by default. */
  readonly key: string
  /**
   * `'hit'`: a fresh value; `'stale'`: a value past its ttl, served while one
   * caller recomputes it; `'miss'`: no value (this call computes it or waits
   * for whoever does). Calls joining one already in flight in this process
   * share its lookup and publish nothing.
   */
  readonly outcome: 'hit' | 'miss' | 'stale'
}

/** Published by {@link CACHE_COMPUTE_START_CHANNEL} when this process starts computing a `cached` value. */
export interface CacheComputeStartMessage {
  readonly backend: string
  /** The cache key as the caller named it. Unbounded: never a metric attribute by default. */
  readonly key: string
  /** Whether it is a background refresh (stale value or early refresh) rather than a miss. */
  readonly background: boolean
}

/** Published by {@link CACHE_COMPUTE_END_CHANNEL} when that computation ends. */
export interface CacheComputeEndMessage {
  /** The start message of this computation (the same object), to pair the two. */
  readonly start: CacheComputeStartMessage
  /** `'ok'`: computed and stored; `'error'`: the function, the codec or the backend failed. */
  readonly outcome: 'ok' | 'error'
  /** Milliseconds the computation took, storing included. */
  readonly computeMs: number
  /** The error, when `outcome` is `'error'`. */
  readonly error?: unknown
}

/** Published by {@link JOB_TICK_CHANNEL} at each step of an `every` tick on this replica. */
export interface JobTickMessage {
  readonly backend: string
  /** The job's name. */
  readonly name: string
  /** The tick's scheduled time, in ms since the Unix epoch. */
  readonly scheduledAt: number
  /**
   * `'claimed'`: this replica claimed the tick; `'ran'`: the job ran and
   * returned; `'failed'`: the job (or the claim) threw; `'skipped'`: this
   * replica did not run the tick (see `reason`).
   */
  readonly outcome: 'claimed' | 'ran' | 'failed' | 'skipped'
  /**
   * Why a tick was skipped: `'late'` (past `maxLateness`), `'claimed-elsewhere'`
   * (another replica claimed it), `'running'` (the previous run still holds
   * the run lock), `'stopped'` (the job was stopped).
   */
  readonly reason?: 'late' | 'claimed-elsewhere' | 'running' | 'stopped'
  /** Milliseconds the job ran (`'ran'` and `'failed'`). */
  readonly durationMs?: number
  /** What the tick threw (`'failed'`). */
  readonly error?: unknown
}

/** Channel of {@link LockAcquireStartMessage}. */
export const LOCK_ACQUIRE_START_CHANNEL = 'lockwork:lock:acquire-start'
/** Channel of {@link LockWaitMessage}. */
export const LOCK_WAIT_CHANNEL = 'lockwork:lock:wait'
/** Channel of {@link LockAcquiredMessage}. */
export const LOCK_ACQUIRED_CHANNEL = 'lockwork:lock:acquired'
/** Channel of {@link LockFailedMessage}. */
export const LOCK_FAILED_CHANNEL = 'lockwork:lock:failed'
/** Channel of {@link LockExtendedMessage}. */
export const LOCK_EXTENDED_CHANNEL = 'lockwork:lock:extended'
/** Channel of {@link LockReleasedMessage}. */
export const LOCK_RELEASED_CHANNEL = 'lockwork:lock:released'
/** Channel of {@link LockLostMessage}. */
export const LOCK_LOST_CHANNEL = 'lockwork:lock:lost'
/** Channel of {@link CacheLookupMessage}. */
export const CACHE_LOOKUP_CHANNEL = 'lockwork:cache:lookup'
/** Channel of {@link CacheComputeStartMessage}. */
export const CACHE_COMPUTE_START_CHANNEL = 'lockwork:cache:compute-start'
/** Channel of {@link CacheComputeEndMessage}. */
export const CACHE_COMPUTE_END_CHANNEL = 'lockwork:cache:compute-end'
/** Channel of {@link JobTickMessage}. */
export const JOB_TICK_CHANNEL = 'lockwork:job:tick'

/**
 * The side of a channel the core uses, typed by its message. Declared here
 * rather than taken from `node:diagnostics_channel` so that the published
 * declarations need no Node.js types.
 *
 * @internal
 */
export interface Publisher<M> {
  readonly hasSubscribers: boolean
  publish(message: M): void
}

/** A channel of `node:diagnostics_channel` as a {@link Publisher} of `M`. */
function publisher<M>(name: string): Publisher<M> {
  return channel(name)
}

/**
 * The channels the core publishes on; subscribe by name.
 *
 * @internal
 */
export const channels = {
  acquireStart: publisher<LockAcquireStartMessage>(LOCK_ACQUIRE_START_CHANNEL),
  wait: publisher<LockWaitMessage>(LOCK_WAIT_CHANNEL),
  acquired: publisher<LockAcquiredMessage>(LOCK_ACQUIRED_CHANNEL),
  failed: publisher<LockFailedMessage>(LOCK_FAILED_CHANNEL),
  extended: publisher<LockExtendedMessage>(LOCK_EXTENDED_CHANNEL),
  released: publisher<LockReleasedMessage>(LOCK_RELEASED_CHANNEL),
  lost: publisher<LockLostMessage>(LOCK_LOST_CHANNEL),
  cacheLookup: publisher<CacheLookupMessage>(CACHE_LOOKUP_CHANNEL),
  cacheComputeStart: publisher<CacheComputeStartMessage>(CACHE_COMPUTE_START_CHANNEL),
  cacheComputeEnd: publisher<CacheComputeEndMessage>(CACHE_COMPUTE_END_CHANNEL),
  jobTick: publisher<JobTickMessage>(JOB_TICK_CHANNEL),
} as const

/** The {@link LeaseKind} of a lease's operations (their `noun`). */
export function leaseKind(noun: string): LeaseKind {
  return noun === 'semaphore' || noun === 'rwlock' ? noun : 'lock'
}
