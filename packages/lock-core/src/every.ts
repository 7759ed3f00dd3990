import { Cron } from 'croner'
import { MAX_DURATION_MS } from './backend.js'
import { isClosedError } from './closed-error.js'
import { type Duration, describe, toMs } from './duration.js'
import { BackendError, InvalidArgumentError } from './errors.js'
import { attemptLock, deriveKey } from './helper-support.js'
import {
  DEFAULT_JOB_HISTORY,
  type JobRun,
  type JobSchedule,
  type JobSkipReason,
  MAX_JOB_HISTORY,
  readJob,
} from './job-history.js'
import { describeJobError, JobHistoryWriter } from './job-history-writer.js'
import { INTERNAL_SEPARATOR, validateKey } from './key.js'
import type { Lockwork } from './lockwork.js'
import { optionalBoolean, optionsObject, requireFunction } from './options.js'
import { ownerToken } from './owner-label.js'
import { channels, type JobTickMessage } from './telemetry.js'

/** Options of {@link Lockwork.every}: exactly one of `interval` and `cron`. */
export interface EveryOptions {
  /**
   * Run every `interval`. Ticks are aligned to multiples of the interval
   * since the Unix epoch, so every replica agrees on them.
   */
  readonly interval?: Duration
  /** Run on a cron schedule (5 fields, or 6 with seconds first), parsed by croner. */
  readonly cron?: string
  /** The IANA time zone `cron` is read in, e.g. `'Europe/Paris'`. Default: the process's. */
  readonly timezone?: string
  /**
   * Each replica waits a random delay of up to `jitter` × the tick's period
   * (0–1) after the tick before trying it, spreading the load on the backend.
   * The first replica to try runs it. Default 0.
   */
  readonly jitter?: number
  /**
   * Also try the tick in progress when starting (its scheduled time is
   * already past); it runs unless some replica ran it already. Default `false`:
   * the first run is at the next tick.
   */
  readonly runOnStart?: boolean
  /**
   * The latest a replica may start a tick, measured from its scheduled time
   * on the replica's wall clock. A replica that gets to a tick later than
   * this (a paused process, a busy event loop, a slow backend) skips it
   * without running it, checking both before and after it claims the tick,
   * and reports it to `onLate`. Default: half the tick's period plus the
   * jitter window (`(0.5 + jitter) × period`, at most one period). The tick
   * in progress that `runOnStart` tries may be up to one period late.
   */
  readonly maxLateness?: Duration
  /**
   * The least time a tick's claim lives after a replica takes it. The claim
   * always lives at least the tick's period plus `maxLateness`, longer than
   * any replica still considers the tick, so a tick claimed once cannot be
   * claimed again; `holdFor` can only lengthen it. Default: that minimum.
   */
  readonly holdFor?: Duration
  /**
   * The lease of the lock held while the job runs (auto-extended), so two
   * runs never overlap; it bounds how long a crashed replica blocks the next
   * tick. Default: the client's `defaultTtl`.
   */
  readonly ttl?: Duration
  /**
   * Called with whatever a tick throws (the job, or the backend while
   * claiming), and separately with a failed release of the run lock after
   * the job (the job's own error, if any, is reported first). Default: `console.error`. Its own errors are ignored; a failing
   * tick never crashes the process, and the next tick runs as planned.
   */
  readonly onError?: (error: unknown, tick: EveryTick) => void
  /**
   * Called when this replica skips a tick because it got to it more than
   * `maxLateness` after its scheduled time (`lateMs` says by how much). The
   * tick is not run by this replica; another replica may have run it in time.
   * Default: nothing. Its own errors are ignored.
   */
  readonly onLate?: (tick: EveryTick, lateMs: number) => void
  /**
   * How many ticks to keep in the job's history in the backend (see
   * {@link Lockwork.jobs}): an integer from 0 to 1,000; `0` records nothing.
   * The replica that handles a tick records it: who ran it, when, for how
   * long, and how it ended (`'ran'`, `'failed'` with the error's message, or
   * `'skipped'` because the previous run was still going or the tick came
   * too late). A replica that lost the tick to another records nothing. The
   * history lives in the backend's cache store and expires 10 ticks (at least
   * 7 days) after its last write. Writing it never delays a tick; a write that
   * fails, or takes over 10 s, goes to `onError`. Default 20.
   */
  readonly history?: number
}

/** The tick a job run belongs to. */
export interface EveryTick {
  /** The job's name. */
  readonly name: string
  /** The tick's scheduled time, in ms since the Unix epoch (the same on every replica). */
  readonly scheduledAt: number
}

/** A job started by {@link Lockwork.every}. */
export interface EveryJob {
  /** The job's name. */
  readonly name: string
  /** Whether this replica is running the job right now. */
  readonly running: boolean
  /**
   * Stops the timer and aborts the `signal` of a run in progress, then
   * resolves once that run has ended and its history is written (waiting at
   * most 10 s for the history). Idempotent.
   */
  stop(): Promise<void>
  /**
   * The job's recorded ticks across every replica, newest first (see
   * {@link EveryOptions.history}); empty when none are recorded.
   */
  history(): Promise<JobRun[]>
}

/** The job `every` runs: `signal` aborts on `stop()` or when the run's lease is lost. */
export type EveryJobFunction = (signal: AbortSignal, tick: EveryTick) => unknown

/** When the ticks are: the latest at or before a time, the first after one (ms since the epoch). */
interface Schedule {
  current(now: number): number | undefined
  next(after: number): number | undefined
}

/** Interval ticks: multiples of `periodMs` since the epoch. */
function intervalSchedule(periodMs: number): Schedule {
  return {
    current: (now) => Math.floor(now / periodMs) * periodMs,
    next: (after) => (Math.floor(after / periodMs) + 1) * periodMs,
  }
}

/** Cron ticks, from croner. */
function cronSchedule(pattern: string, timezone: string | undefined): Schedule {
  let cron: Cron
  try {
    cron = new Cron(pattern, timezone === undefined ? {} : { timezone })
    // croner reads the time zone lazily: compute one occurrence now so a bad one fails here.
    cron.nextRun()
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error)
    const argument =
      timezone !== undefined && /time ?zone/i.test(detail) ? 'options.timezone' : 'options.cron'
    throw new InvalidArgumentError(argument, detail, { cause: error })
  }
  return {
    current: (now) => cron.previousRuns(1, new Date(now + 1))[0]?.getTime(),
    next: (after) => cron.nextRun(new Date(after))?.getTime(),
  }
}

/**
 * Builds and starts the job behind {@link Lockwork.every}; every option is
 * validated here, before any timer starts.
 */
export function startEvery(
  lw: Lockwork,
  name: string,
  options: EveryOptions,
  job: EveryJobFunction,
): EveryJob {
  validateKey(name, 'name')
  const opts = optionsObject(options)
  requireFunction(job, 'job')
  if ((opts.interval === undefined) === (opts.cron === undefined)) {
    throw new InvalidArgumentError('options', 'give exactly one of interval and cron')
  }
  if (opts.timezone !== undefined && typeof opts.timezone !== 'string') {
    throw new InvalidArgumentError('options.timezone', `expected a string, got ${describe(opts.timezone)}`)
  }
  if (opts.timezone !== undefined && opts.cron === undefined) {
    throw new InvalidArgumentError('options.timezone', 'applies only to cron')
  }
  let schedule: Schedule
  let described: JobSchedule
  if (opts.interval !== undefined) {
    const intervalMs = toMs(opts.interval, 'options.interval')
    schedule = intervalSchedule(intervalMs)
    described = { kind: 'interval', intervalMs }
  } else {
    if (typeof opts.cron !== 'string') {
      throw new InvalidArgumentError('options.cron', `expected a cron expression, got ${describe(opts.cron)}`)
    }
    schedule = cronSchedule(opts.cron, opts.timezone)
    described =
      opts.timezone === undefined
        ? { kind: 'cron', cron: opts.cron }
        : { kind: 'cron', cron: opts.cron, timezone: opts.timezone }
  }
  const history = opts.history ?? DEFAULT_JOB_HISTORY
  if (typeof history !== 'number' || !Number.isInteger(history) || history < 0 || history > MAX_JOB_HISTORY) {
    throw new InvalidArgumentError(
      'options.history',
      `expected an integer from 0 to ${MAX_JOB_HISTORY}, got ${describe(history)}`,
    )
  }
  const jitter = opts.jitter ?? 0
  if (typeof jitter !== 'number' || !Number.isFinite(jitter) || jitter < 0 || jitter > 1) {
    throw new InvalidArgumentError('options.jitter', `expected a number from 0 to 1, got ${describe(jitter)}`)
  }
  const onError = opts.onError ?? defaultOnError
  requireFunction(onError, 'options.onError')
  const onLate = opts.onLate ?? ignoreLate
  requireFunction(onLate, 'options.onLate')
  const runner = new EveryRunner({
    lw,
    name,
    schedule,
    jitter,
    holdForMs: opts.holdFor === undefined ? undefined : toMs(opts.holdFor, 'options.holdFor'),
    maxLatenessMs: opts.maxLateness === undefined ? undefined : toMs(opts.maxLateness, 'options.maxLateness'),
    runTtlMs: opts.ttl === undefined ? lw.defaultTtlMs : toMs(opts.ttl, 'options.ttl'),
    onError,
    onLate,
    job,
    history,
    described,
  })
  runner.start(optionalBoolean(opts.runOnStart, 'options.runOnStart', false))
  return runner
}

/** The default `onError`: one `console.error` line per failed tick. */
function defaultOnError(error: unknown, tick: EveryTick): void {
  console.error(
    `lockwork: every("${tick.name}") tick at ${new Date(tick.scheduledAt).toISOString()} failed:`,
    error,
  )
}

/** The default `onLate`: a late tick is skipped silently. */
function ignoreLate(): void {}

interface RunnerInit {
  readonly lw: Lockwork
  readonly name: string
  readonly schedule: Schedule
  readonly jitter: number
  readonly holdForMs: number | undefined
  readonly maxLatenessMs: number | undefined
  readonly runTtlMs: number
  readonly onError: (error: unknown, tick: EveryTick) => void
  readonly onLate: (tick: EveryTick, lateMs: number) => void
  readonly job: EveryJobFunction
  /** How many ticks to keep in the history (0: none). */
  readonly history: number
  /** The schedule as the history describes it. */
  readonly described: JobSchedule
}

/**
 * One replica's timer for one job. Each tick is claimed by a lock on the
 * tick's own key (name + scheduled time) that is never released early, so
 * exactly one replica runs it; a second lock, held while the job runs, keeps
 * two runs from overlapping (a tick that finds it held is skipped).
 *
 * At most once per tick, however late a replica gets there: a replica runs a
 * tick only if it claimed it no later than `maxLateness` after the scheduled
 * time (checked when the claim returns, since a pause can fall between the
 * timer and the claim), and the claim lives at least the period plus
 * `maxLateness` from the moment it is taken, which is after the scheduled
 * time. So a second claim of the same tick can only succeed after every
 * replica has stopped considering it, with a period's margin for clock skew
 * between replicas and the store.
 */
class EveryRunner implements EveryJob {
  readonly name: string
  readonly #init: RunnerInit
  readonly #stopping = new AbortController()
  readonly #runKey: string
  #timer: NodeJS.Timeout | undefined
  #run: Promise<void> | undefined
  #stopped = false
  readonly #history: JobHistoryWriter | undefined

  constructor(init: RunnerInit) {
    this.name = init.name
    this.#init = init
    this.#runKey = deriveKey(init.lw.prefix, 'every-run', init.name)
    this.#history =
      init.history === 0
        ? undefined
        : new JobHistoryWriter({
            backend: init.lw.backend,
            prefix: init.lw.prefix,
            name: init.name,
            label: init.lw.label,
            keep: init.history,
            schedule: init.described,
            report: (error) => this.#reportHistory(error),
          })
  }

  async history(): Promise<JobRun[]> {
    const summary = await readJob(this.#init.lw.backend, this.#init.lw.prefix, this.name)
    return summary === null ? [] : [...summary.runs]
  }

  /** Hands a failed history write to `onError` (not one the closed store refused: the tick reports that). */
  #reportHistory(error: unknown): void {
    if (isClosedError(error)) return
    const next = this.#init.schedule.next(Date.now()) ?? Date.now()
    const wrapped = new BackendError(
      this.#init.lw.backend.name,
      `every("${this.name}") could not record its history: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    )
    try {
      this.#init.onError(wrapped, { name: this.name, scheduledAt: next })
    } catch {
      // onError's own failure must not crash the process.
    }
  }

  /** Queues a history write: `run` (or none), with the next tick after now. */
  #record(run: JobRun | undefined): void {
    if (this.#history === undefined) return
    const now = Date.now()
    const next = this.#init.schedule.next(now)
    this.#history.record(run, next, this.#periodOf(next ?? now))
  }

  /** Records that this replica skipped `tick` for `reason`. */
  #recordSkip(tick: EveryTick, reason: JobSkipReason): void {
    this.#record({
      scheduledAt: tick.scheduledAt,
      startedAt: Date.now(),
      outcome: 'skipped',
      reason,
      label: this.#init.lw.label,
    })
  }

  get running(): boolean {
    return this.#run !== undefined
  }

  start(runOnStart: boolean): void {
    const now = Date.now()
    this.#record(undefined)
    if (runOnStart) {
      const current = this.#init.schedule.current(now)
      if (current !== undefined) this.#tick(current, this.#periodOf(current))
    }
    this.#scheduleAfter(now)
  }

  async stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true
      clearTimeout(this.#timer)
      this.#stopping.abort(new Error(`every("${this.name}") was stopped`))
    }
    await this.#run
    await this.#history?.flush()
  }

  /** Arms the timer for the first tick after `after`, plus this replica's jitter. */
  #scheduleAfter(after: number): void {
    if (this.#stopped) return
    const slot = this.#init.schedule.next(after)
    if (slot === undefined) return
    const period = this.#periodOf(slot)
    this.#armAt(slot + Math.random() * this.#init.jitter * period, slot)
  }

  /** Sets a timer for `fireAt` (ms since the epoch), in steps no Node.js timer overflows on. */
  #armAt(fireAt: number, slot: number): void {
    const delay = fireAt - Date.now()
    if (delay > MAX_DURATION_MS) {
      this.#timer = setTimeout(() => this.#armAt(fireAt, slot), MAX_DURATION_MS)
      return
    }
    this.#timer = setTimeout(
      () => {
        // Late by more than a period (a paused machine)? Skip the missed ticks.
        this.#scheduleAfter(Math.max(slot, Date.now()))
        this.#tick(slot, this.#maxLatenessOf(slot))
      },
      Math.max(0, delay),
    )
  }

  /**
   * Hands `error` to `onError`. An error saying the backend is closed stops
   * the job instead, with one report (whichever step met it first: the claim,
   * the run lock or its release), rather than one per tick.
   */
  #report(error: unknown, tick: EveryTick): void {
    if (isClosedError(error)) {
      if (this.#stopped) return
      void this.stop()
      error = new BackendError(
        this.#init.lw.backend.name,
        `every("${this.name}") stopped: its backend is closed (close the lockwork client, or stop the job, before closing the backend)`,
        { cause: error },
      )
    }
    try {
      this.#init.onError(error, tick)
    } catch {
      // onError's own failure must not crash the process.
    }
  }

  /** Whether `tick` is more than `maxLatenessMs` late now; reports it to `onLate` if so. */
  #late(tick: EveryTick, maxLatenessMs: number): boolean {
    const lateMs = Date.now() - tick.scheduledAt
    if (lateMs <= maxLatenessMs) return false
    try {
      this.#init.onLate(tick, lateMs)
    } catch {
      // onLate's own failure must not crash the process.
    }
    return true
  }

  /** The time from `slot` to the tick after it. */
  #periodOf(slot: number): number {
    const next = this.#init.schedule.next(slot)
    return next === undefined ? MAX_DURATION_MS : Math.min(MAX_DURATION_MS, Math.max(1, next - slot))
  }

  /** How late a timer-driven tick may start: `maxLateness`, or its default for this tick. */
  #maxLatenessOf(slot: number): number {
    if (this.#init.maxLatenessMs !== undefined) return this.#init.maxLatenessMs
    const period = this.#periodOf(slot)
    return Math.min(period, Math.round(period * (0.5 + this.#init.jitter)))
  }

  /**
   * How long a tick's claim lives from when it is taken: past the latest
   * moment any replica would still start the tick (the period for
   * `runOnStart`, `maxLateness` otherwise), with at least a period to spare.
   */
  #claimTtlOf(slot: number): number {
    const lease = this.#periodOf(slot) + this.#maxLatenessOf(slot)
    return Math.min(MAX_DURATION_MS, Math.max(lease, this.#init.holdForMs ?? 0))
  }

  /** Publishes one step of a tick on the job channel, if anyone listens. */
  #publish(tick: EveryTick, step: Pick<JobTickMessage, 'outcome' | 'reason' | 'durationMs' | 'error'>): void {
    if (!channels.jobTick.hasSubscribers) return
    channels.jobTick.publish({ backend: this.#init.lw.backend.name, ...tick, ...step })
  }

  /** Skips `tick` for `reason`: publishes it and records it in the history. */
  #skip(tick: EveryTick, reason: JobSkipReason): void {
    this.#publish(tick, { outcome: 'skipped', reason })
    this.#recordSkip(tick, reason)
  }

  #tick(slot: number, maxLatenessMs: number): void {
    if (this.#stopped) return
    const tick: EveryTick = { name: this.name, scheduledAt: slot }
    // A run still going here: skip this tick (the run lock would refuse it anyway).
    if (this.#run !== undefined) {
      this.#publish(tick, { outcome: 'skipped', reason: 'running' })
      this.#recordSkip(tick, 'running')
      return
    }
    const run = this.#runTick(tick, maxLatenessMs)
      .catch((error: unknown) => {
        this.#publish(tick, { outcome: 'failed', error })
        this.#report(error, tick)
      })
      .finally(() => {
        if (this.#run === run) this.#run = undefined
      })
    this.#run = run
  }

  async #runTick(tick: EveryTick, maxLatenessMs: number): Promise<void> {
    const { lw, name } = this.#init
    const backend = lw.backend
    if (this.#late(tick, maxLatenessMs)) return this.#skip(tick, 'late')
    // Claim the tick. The claim is never released: it expires after the tick can no longer run anywhere.
    const slotKey = deriveKey(lw.prefix, 'every', name + INTERNAL_SEPARATOR + tick.scheduledAt)
    const claim = await backend.acquire(slotKey, ownerToken(lw.label), this.#claimTtlOf(tick.scheduledAt))
    if (!claim.acquired) return this.#publish(tick, { outcome: 'skipped', reason: 'claimed-elsewhere' })
    if (this.#stopped) return this.#publish(tick, { outcome: 'skipped', reason: 'stopped' })
    this.#publish(tick, { outcome: 'claimed' })
    // Again once the claim is in: a pause between the timer and the reply must not let a late claim run.
    if (this.#late(tick, maxLatenessMs)) return this.#skip(tick, 'late')
    const attempt = await attemptLock(
      backend,
      ownerToken(lw.label),
      this.#runKey,
      name,
      this.#init.runTtlMs,
      true,
    )
    if (attempt.lock === undefined) return this.#skip(tick, 'running')
    const lock = attempt.lock
    const startedAt = performance.now()
    const startedAtWall = Date.now()
    const label = lw.label
    try {
      if (this.#stopped) return this.#publish(tick, { outcome: 'skipped', reason: 'stopped' })
      const signal = AbortSignal.any([this.#stopping.signal, lock.signal])
      await this.#init.job(signal, tick)
      const durationMs = performance.now() - startedAt
      this.#publish(tick, { outcome: 'ran', durationMs })
      this.#record({
        scheduledAt: tick.scheduledAt,
        startedAt: startedAtWall,
        durationMs,
        outcome: 'ran',
        label,
      })
    } catch (error) {
      const durationMs = performance.now() - startedAt
      this.#publish(tick, { outcome: 'failed', durationMs, error })
      this.#record({
        scheduledAt: tick.scheduledAt,
        startedAt: startedAtWall,
        durationMs,
        outcome: 'failed',
        error: describeJobError(error),
        label,
      })
      this.#report(error, tick)
    } finally {
      // A failed release is reported on its own, after the job's error: it must not replace it.
      await lock.release().catch((error: unknown) => this.#report(error, tick))
    }
  }
}
