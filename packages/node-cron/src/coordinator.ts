import { randomUUID } from 'node:crypto'
import {
  type Duration,
  InvalidArgumentError,
  type Lock,
  type Lockwork,
  MAX_DURATION_MS,
  MAX_KEY_LENGTH,
  toMs,
} from '@lockwork/core'
import type { RunCoordinator } from 'node-cron'

/** Options of {@link lockworkCoordinator}. */
export interface LockworkCoordinatorOptions {
  /**
   * The least time a tick's claim lives after a replica takes it. The claim
   * is never released early: while it lives, no other replica can claim the
   * same tick. It lives the longer of this and the task's
   * `distributedLease` (node-cron's default: 30 s). Default: the
   * `distributedLease` alone.
   */
  readonly holdFor?: Duration
  /**
   * The latest a replica may start a tick, measured from its scheduled time
   * on the replica's wall clock. A replica that gets to a tick later (a
   * paused process, a busy event loop, a slow backend) skips it, checking
   * both before and after it claims the tick, and reports it to `onLate`.
   * Must be shorter than the claim's life. Default: half the claim's life.
   */
  readonly maxLateness?: Duration
  /**
   * The lease of the lock held while a tick runs (auto-extended), so two runs
   * of one task never overlap across replicas; it bounds how long a crashed
   * replica blocks the task's next ticks. Default: the client's `defaultTtl`.
   */
  readonly ttl?: Duration
  /**
   * Called when this replica skips a tick because it got to it more than
   * `maxLateness` after its scheduled time. Default: nothing. Its own errors
   * are ignored.
   */
  readonly onLate?: (tick: CoordinatedTick, lateMs: number) => void
}

/** A tick of a node-cron task, as the coordinator sees it. */
export interface CoordinatedTick {
  /** The task's `name` (the same on every replica). */
  readonly name: string
  /** The tick's scheduled time, in ms since the Unix epoch (the same on every replica). */
  readonly scheduledAt: number
}

/** node-cron's key for a tick: `<task name>:<scheduled time as an ISO string>`. */
const TICK_KEY = /^(.+):(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)$/

/** Characters no lockwork key may contain. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL = /[\u0000-\u001f]/

/** The shape of the id node-cron gives a task without a `name` (a random UUID, different on every replica). */
const GENERATED_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * A node-cron `RunCoordinator` over lockwork: each tick of a task scheduled
 * with `distributed: true` runs on exactly one replica, at most once, and two
 * runs of one task never overlap across replicas.
 *
 * The same scheme as {@link Lockwork.every}: a replica claims a tick with a
 * lock keyed by the task's name and the tick's scheduled time, and never
 * releases it; the claim lives longer than any replica still tries the tick
 * (`maxLateness`), so a paused replica cannot run a tick another one ran. A
 * second lock, held while the tick runs and released by `onComplete`, keeps
 * runs from overlapping: a tick that finds it held is skipped.
 *
 * The task needs a `name` shared by its replicas; a task without one gets a
 * random id from node-cron, and its ticks are refused (node-cron logs the
 * error and skips them).
 *
 * @example
 * ```ts
 * cron.schedule('0 * * * *', job, {
 *   name: 'report',
 *   distributed: true,
 *   runCoordinator: lockworkCoordinator(lw),
 * })
 * ```
 *
 * @throws InvalidArgumentError for a bad option (nothing is changed).
 */
export function lockworkCoordinator(lw: Lockwork, options: LockworkCoordinatorOptions = {}): RunCoordinator {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'expected an object')
  }
  const holdForMs = options.holdFor === undefined ? 0 : toMs(options.holdFor, 'options.holdFor')
  const maxLatenessMs =
    options.maxLateness === undefined ? undefined : toMs(options.maxLateness, 'options.maxLateness')
  if (maxLatenessMs !== undefined && holdForMs > 0 && maxLatenessMs >= holdForMs) {
    throw new InvalidArgumentError('options.maxLateness', 'must be shorter than options.holdFor')
  }
  const runTtlMs = options.ttl === undefined ? lw.defaultTtlMs : toMs(options.ttl, 'options.ttl')
  const onLate = options.onLate
  if (onLate !== undefined && typeof onLate !== 'function') {
    throw new InvalidArgumentError('options.onLate', 'expected a function')
  }
  /** The run locks this replica holds, by node-cron's tick key, until `onComplete`. */
  const running = new Map<string, Lock>()

  const late = (tick: CoordinatedTick, limitMs: number): boolean => {
    const lateMs = Date.now() - tick.scheduledAt
    if (lateMs <= limitMs) return false
    try {
      onLate?.(tick, lateMs)
    } catch {
      // onLate's own failure must not stop the task.
    }
    return true
  }

  return {
    async shouldRun(key: string, ttlMs: number): Promise<boolean> {
      if (lw.closed) throw new InvalidArgumentError('lw', 'the lockwork client is closed')
      const tick = parseTickKey(key)
      const claimMs = Math.min(MAX_DURATION_MS, Math.max(toMs(ttlMs, 'distributedLease'), holdForMs))
      const limitMs = maxLatenessMs ?? Math.floor(claimMs / 2)
      if (limitMs >= claimMs) {
        throw new InvalidArgumentError(
          'options.maxLateness',
          `must be shorter than the claim's life (${claimMs} ms: holdFor or the task's distributedLease)`,
        )
      }
      if (late(tick, limitMs)) return false
      // Claim the tick. The claim is never released: it expires after the tick can no longer run anywhere.
      const claimKey = lw.fullKey(`node-cron:tick:${tick.name}:${tick.scheduledAt}`)
      const claim = await lw.backend.acquire(claimKey, randomUUID(), claimMs)
      if (!claim.acquired) return false
      // Again once the claim is in: a pause between the timer and the reply must not let a late claim run.
      if (late(tick, limitMs)) return false
      const lock = await lw.tryAcquire(`node-cron:run:${tick.name}`, { ttl: runTtlMs, autoExtend: true })
      if (lock === null) return false
      running.set(key, lock)
      return true
    },
    async onComplete(key: string): Promise<void> {
      const lock = running.get(key)
      if (lock === undefined) return
      running.delete(key)
      await lock.release()
    },
  }
}

/** Splits node-cron's tick key into the task's name and the tick's time. */
function parseTickKey(key: string): CoordinatedTick {
  const match = typeof key === 'string' ? TICK_KEY.exec(key) : null
  const name = match?.[1]
  const iso = match?.[2]
  if (name === undefined || iso === undefined) {
    throw new InvalidArgumentError('key', `"${String(key).slice(0, 80)}" is not a node-cron tick key`)
  }
  if (CONTROL.test(name) || name.length > MAX_KEY_LENGTH - 40) {
    throw new InvalidArgumentError(
      'key',
      `the task's name must have no control characters and at most ${MAX_KEY_LENGTH - 40} characters`,
    )
  }
  if (GENERATED_NAME.test(name)) {
    throw new InvalidArgumentError(
      'key',
      `the task has no name (node-cron gave it the random id ${name}, different on every replica): pass the same options.name to cron.schedule on every replica`,
    )
  }
  return { name, scheduledAt: Date.parse(iso) }
}
