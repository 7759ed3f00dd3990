import type { LockBackend } from './backend.js'
import { isClosedError } from './closed-error.js'
import { type Duration, toMs } from './duration.js'
import { BackendError, LockLostError, LockTimeoutError } from './errors.js'
import { leaseFresh, renewIfExpired } from './fresh-lease.js'
import { deriveKey } from './helper-support.js'
import { validateKey } from './key.js'
import { Lock } from './lock.js'
import type { Lockwork } from './lockwork.js'
import { optionsObject, requireFunction } from './options.js'
import { type HolderInfo, holderInfo, ownerToken } from './owner-label.js'
import { acquireWithWait, sleep } from './wait.js'

/** Options of {@link Lockwork.lead}. */
export interface LeadOptions {
  /**
   * The leader's lease. It is extended every third of it while the leader
   * runs; a leader that cannot extend it (a slow or unreachable backend)
   * steps down, its `signal` aborting, before the lease can end on the
   * backend, so a crashed leader is replaced within about `ttl`.
   * Default: the client's `defaultTtl`.
   */
  readonly ttl?: Duration
  /**
   * How long to wait after a term ends (the function returned or threw, or
   * leadership was lost) or a campaign failed on a backend error, before
   * campaigning again. Default `'1s'`.
   */
  readonly pause?: Duration
  /**
   * How long `stop()` waits for the function to settle after aborting its
   * signal; then it releases the leadership anyway. Default `'10s'`.
   */
  readonly stopTimeout?: Duration
  /**
   * Told about what the function throws (with its term) and about backend
   * errors while campaigning or recording the term (`term` is `undefined`
   * while campaigning). Default: `console.error`. Its own errors are ignored;
   * campaigning goes on either way.
   */
  readonly onError?: (error: unknown, term: LeaderTerm | undefined) => void
}

/** One term of leadership. */
export interface LeaderTerm {
  /** The name campaigned for. */
  readonly name: string
  /**
   * The term's fencing token: strictly larger than every earlier term's of
   * this name. Pass it to what the leader writes, so a deposed leader's late
   * writes can be refused.
   */
  readonly fence: number
  /** When the term started, on the leader's clock. */
  readonly since: Date
}

/** The function a leader runs: `signal` aborts the moment leadership ends (lost, or `stop()`). */
export type LeadFunction = (signal: AbortSignal, term: LeaderTerm) => unknown

/** A campaign started by {@link Lockwork.lead}. */
export interface Leadership {
  /** The name campaigned for. */
  readonly name: string
  /** Whether this client leads right now (its function runs and its signal has not aborted). */
  readonly isLeader: boolean
  /** The current term while this client leads, otherwise `undefined`. */
  readonly term: LeaderTerm | undefined
  /**
   * Stops campaigning and resigns: aborts the function's signal, waits for it
   * to settle (at most `stopTimeout`), then hands the leadership back so
   * another campaigner takes over at once. Idempotent.
   */
  stop(): Promise<void>
}

/** Who leads a name right now, from {@link Lockwork.leader}. */
export interface LeaderInfo extends HolderInfo {
  /**
   * When the current term started, on the leader's clock; `undefined` while
   * the winner has not recorded its term yet (it is still waiting for the
   * previous leader to step down) or could not record it.
   */
  readonly since: Date | undefined
}

/** How long one campaign attempt waits before starting over (it starts over at once). */
const CAMPAIGN_WAIT_MS = 60_000

/** The record a leader keeps beside its lease, read by {@link readLeader}. */
interface TermRecord {
  readonly fence: number
  readonly since: number
}

/** The backend keys of a name: its lease, and its term record (a cache entry). */
function leadKeys(lw: Lockwork, name: string): { lock: string; record: string } {
  return { lock: deriveKey(lw.prefix, 'lead', name), record: deriveKey(lw.prefix, 'leader', name) }
}

/** Parses a term record; anything else counts as no record. */
function parseRecord(value: string): TermRecord | undefined {
  try {
    const parsed: unknown = JSON.parse(value)
    if (typeof parsed !== 'object' || parsed === null) return undefined
    const { fence, since } = parsed as { fence?: unknown; since?: unknown }
    if (typeof fence !== 'number' || typeof since !== 'number') return undefined
    return { fence, since }
  } catch {
    return undefined
  }
}

/** Who leads `name` now, behind {@link Lockwork.leader}. */
export async function readLeader(lw: Lockwork, name: string): Promise<LeaderInfo | null> {
  validateKey(name, 'name')
  const keys = leadKeys(lw, name)
  const [holder, entry] = await Promise.all([lw.backend.peek(keys.lock), lw.backend.getCached(keys.record)])
  if (holder === null) return null
  const record = entry === undefined ? undefined : parseRecord(entry.value)
  // A record of another term (the previous leader's, not yet expired) says nothing about this one.
  const since = record !== undefined && record.fence === holder.fence ? new Date(record.since) : undefined
  return { ...holderInfo(holder), since }
}

/** Builds and starts the campaign behind {@link Lockwork.lead}; every option is validated first. */
export function startLead(
  lw: Lockwork,
  name: string,
  fn: LeadFunction,
  options: LeadOptions | undefined,
): Leadership {
  validateKey(name, 'name')
  requireFunction(fn, 'fn')
  const opts = optionsObject(options)
  const onError = opts.onError ?? defaultOnError(name)
  requireFunction(onError, 'options.onError')
  const runner = new LeadRunner({
    lw,
    name,
    fn,
    ttlMs: opts.ttl === undefined ? lw.defaultTtlMs : toMs(opts.ttl, 'options.ttl'),
    pauseMs: opts.pause === undefined ? 1_000 : toMs(opts.pause, 'options.pause', true),
    stopTimeoutMs:
      opts.stopTimeout === undefined ? 10_000 : toMs(opts.stopTimeout, 'options.stopTimeout', true),
    onError,
  })
  runner.start()
  return runner
}

/** The default `onError`: one `console.error` line. */
function defaultOnError(name: string): (error: unknown, term: LeaderTerm | undefined) => void {
  return (error, term) => {
    const when = term === undefined ? 'campaigning' : `in term ${term.fence}`
    console.error(`lockwork: lead("${name}") failed ${when}:`, error)
  }
}

interface RunnerInit {
  readonly lw: Lockwork
  readonly name: string
  readonly fn: LeadFunction
  readonly ttlMs: number
  readonly pauseMs: number
  readonly stopTimeoutMs: number
  readonly onError: (error: unknown, term: LeaderTerm | undefined) => void
}

/** The term in progress: its lease, its record and the signal the function got. */
interface ActiveTerm {
  readonly term: LeaderTerm
  readonly lock: Lock
  readonly controller: AbortController
  readonly signal: AbortSignal
}

/**
 * One client's campaign for one name.
 *
 * Leadership is a lease on the name's key, taken with the core's waiting
 * (wake-on-release where the backend has it), held with auto-extension. Its
 * term record, a cache entry `{ fence, since }` with the lease's ttl, is
 * written when the term starts and refreshed every ttl/3; it tells `leader()`
 * since when, and it keeps terms from overlapping:
 *
 * - A leader's signal aborts at the earliest of: a refused extension, the
 *   lease seen freed or taken, and a safety margin before both its lease's
 *   conservative local deadline (so before the lease can end on the
 *   backend) and the last successful record write + ttl (so before its
 *   record can expire).
 * - A winner starts its term only once no record of an earlier term is left:
 *   the previous leader deletes its record after its function settled, or
 *   the record expires, after which the previous leader's signal has aborted.
 *   So even when the lease is taken away early (`forceRelease`), the old
 *   leader's signal aborts before the new term starts.
 */
class LeadRunner implements Leadership {
  readonly name: string
  readonly #init: RunnerInit
  readonly #backend: LockBackend
  readonly #keys: { lock: string; record: string }
  readonly #stopping = new AbortController()
  #loop: Promise<void> | undefined
  #active: ActiveTerm | undefined
  #stopped = false
  #stopPromise: Promise<void> | undefined

  constructor(init: RunnerInit) {
    this.name = init.name
    this.#init = init
    this.#backend = init.lw.backend
    this.#keys = leadKeys(init.lw, init.name)
  }

  get isLeader(): boolean {
    return this.#active !== undefined && !this.#active.signal.aborted
  }

  get term(): LeaderTerm | undefined {
    return this.isLeader ? this.#active?.term : undefined
  }

  start(): void {
    this.#loop = this.#campaignLoop()
  }

  stop(): Promise<void> {
    this.#stopPromise ??= this.#stop()
    return this.#stopPromise
  }

  async #stop(): Promise<void> {
    this.#stopped = true
    this.#stopping.abort(new Error(`lead("${this.name}") was stopped`))
    if (await this.#within(this.#loop ?? Promise.resolve(), this.#init.stopTimeoutMs)) return
    // The function ignores its signal (or the backend does not answer): release
    // anyway, as long again at most. Its term record stays until it expires
    // (or the function settles), so a successor still waits for it.
    const lock = this.#active?.lock
    if (lock !== undefined) await this.#within(lock.release(), this.#init.stopTimeoutMs)
  }

  /** Whether `promise` settled within `ms` (its outcome is ignored). */
  async #within(promise: Promise<unknown>, ms: number): Promise<boolean> {
    const timeout = new AbortController()
    const settled = await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      sleep(ms, timeout.signal).then(() => false),
    ])
    timeout.abort()
    return settled
  }

  /** Hands `error` to `onError`; its own failure is ignored. */
  #report(error: unknown, term: LeaderTerm | undefined): void {
    try {
      this.#init.onError(error, term)
    } catch {
      // A failing reporter must not end the campaign.
    }
  }

  async #campaignLoop(): Promise<void> {
    while (!this.#stopped) {
      let lock: Lock | undefined
      try {
        lock = await this.#campaign()
      } catch (error) {
        if (this.#stopped) return
        if (isClosedError(error)) {
          this.#report(
            new BackendError(
              this.#backend.name,
              `lead("${this.name}") stopped: its backend is closed (close the lockwork client, or stop the campaign, before closing the backend)`,
              { cause: error },
            ),
            undefined,
          )
          this.#stopped = true
          this.#stopping.abort(error)
          return
        }
        this.#report(error, undefined)
        await sleep(this.#init.pauseMs, this.#stopping.signal)
        continue
      }
      if (lock === undefined) return
      await this.#serve(lock)
      if (!this.#stopped) await sleep(this.#init.pauseMs, this.#stopping.signal)
    }
  }

  /** Waits until this client holds the name's lease; `undefined` once stopped. */
  async #campaign(): Promise<Lock | undefined> {
    const { lw, name, ttlMs } = this.#init
    const owner = ownerToken(lw.label)
    const signal = this.#stopping.signal
    for (;;) {
      if (this.#stopped) return undefined
      let acquired: Awaited<ReturnType<typeof acquireWithWait>>
      try {
        acquired = await acquireWithWait({
          backend: this.#backend,
          key: this.#keys.lock,
          displayKey: name,
          owner,
          ttlMs,
          waitMs: CAMPAIGN_WAIT_MS,
          signal,
        })
      } catch (error) {
        if (this.#stopped) return undefined
        if (error instanceof LockTimeoutError) continue
        throw error
      }
      // Never lead on a lease whose reply came after its deadline (it may be someone else's by now).
      const acquisition = leaseFresh(acquired)
        ? acquired
        : await renewIfExpired(this.#backend, this.#keys.lock, owner, acquired)
      if (acquisition === undefined) continue
      const lock = new Lock({
        backend: this.#backend,
        fullKey: this.#keys.lock,
        key: name,
        owner,
        acquisition,
        autoExtend: true,
        onReleaseError: lw.onReleaseError,
      })
      if (this.#stopped) {
        await lock.release().catch(() => false)
        return undefined
      }
      return lock
    }
  }

  /** One term: wait out the previous one, record this one, run the function, resign. */
  async #serve(lock: Lock): Promise<void> {
    const { name, ttlMs } = this.#init
    const leaseLost = lock.signal
    const waitSignal = AbortSignal.any([this.#stopping.signal, leaseLost])
    try {
      await this.#awaitPreviousTerm(lock.fence, waitSignal)
    } catch (error) {
      if (!isClosedError(error)) this.#report(error, undefined)
      return await this.#releaseLease(lock, undefined)
    }
    if (waitSignal.aborted) return await this.#releaseLease(lock, undefined)
    const since = new Date()
    const term: LeaderTerm = { name, fence: lock.fence, since }
    const value = JSON.stringify({ fence: lock.fence, since: since.getTime() } satisfies TermRecord)
    const recordedAt = performance.now()
    try {
      await this.#backend.setCached(this.#keys.record, { value, computeMs: 0 }, ttlMs)
    } catch (error) {
      if (!isClosedError(error)) this.#report(error, undefined)
      // The write may have landed: resigning deletes the record if it is this term's.
      return await this.#resign(lock, term)
    }
    if (waitSignal.aborted || !lock.held) return await this.#resign(lock, term)

    const controller = new AbortController()
    const signal = AbortSignal.any([this.#stopping.signal, leaseLost, controller.signal])
    this.#active = { term, lock, controller, signal }
    const keeper = this.#keepRecord(term, lock, controller, recordedAt, value)
    try {
      await this.#init.fn(signal, term)
    } catch (error) {
      this.#report(error, term)
    } finally {
      keeper.stop()
      controller.abort(new Error(`lead("${name}") term ${term.fence} ended`))
      this.#active = undefined
    }
    await this.#resign(lock, term)
  }

  /**
   * Waits until no record of an earlier term is left: its leader deleted it
   * after its function settled, or it expired (its leader's signal aborted
   * before that). Returns early when `signal` aborts.
   */
  async #awaitPreviousTerm(fence: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const entry = await this.#backend.getCached(this.#keys.record)
      if (entry === undefined) return
      const record = parseRecord(entry.value)
      if (record === undefined || record.fence >= fence) return
      const waitMs = Math.max(1, Math.min(entry.remainingMs + 1, this.#pollMs()))
      await sleep(waitMs, signal)
    }
  }

  /** How often a successor re-reads the previous term's record while waiting for it to go. */
  #pollMs(): number {
    return Math.min(1_000, Math.max(10, this.#init.ttlMs / 20))
  }

  /**
   * Refreshes the term record every ttl/3 while the term lasts, and ends the
   * term (through `controller`) a safety margin before the earlier of: the
   * last successful write + ttl (the record may expire then, and a successor
   * may start) and the lease's local deadline. The margin (ttl/20, 5 ms to
   * 1 s) absorbs the stores' millisecond rounding and timers due in the same
   * millisecond, so a successor never starts before this signal aborted.
   */
  #keepRecord(
    term: LeaderTerm,
    lock: Lock,
    controller: AbortController,
    firstWrite: number,
    value: string,
  ): { stop(): void } {
    const { ttlMs } = this.#init
    const marginMs = Math.min(1_000, Math.max(5, ttlMs / 20))
    let stopped = false
    let refreshTimer: NodeJS.Timeout | undefined
    let deadlineTimer: NodeJS.Timeout | undefined
    let lastError: unknown
    const armDeadline = (writtenAt: number) => {
      clearTimeout(deadlineTimer)
      const now = performance.now()
      const due = Math.min(writtenAt + ttlMs, now + lock.remainingMs) - marginMs
      deadlineTimer = setTimeout(
        () => {
          const cause = lastError === undefined ? {} : { cause: lastError }
          controller.abort(new LockLostError(term.name, 'extend-failed', cause))
        },
        Math.max(0, due - now),
      )
      deadlineTimer.unref()
    }
    const refresh = async () => {
      if (stopped || controller.signal.aborted) return
      const sentAt = performance.now()
      try {
        await this.#backend.setCached(this.#keys.record, { value, computeMs: 0 }, ttlMs)
        if (stopped || controller.signal.aborted) return
        lastError = undefined
        armDeadline(sentAt)
        schedule(ttlMs / 3)
      } catch (error) {
        if (stopped || controller.signal.aborted) return
        // One report per run of failures; a closed backend is reported once, when campaigning stops.
        if (lastError === undefined && !isClosedError(error)) this.#report(error, term)
        lastError = error
        schedule(Math.min(ttlMs / 10, 1_000))
      }
    }
    const schedule = (delayMs: number) => {
      // Not unref'd: a leader keeps the process alive, as a campaign does, until stop().
      refreshTimer = setTimeout(() => void refresh(), Math.max(1, delayMs))
    }
    armDeadline(firstWrite)
    schedule(ttlMs / 3)
    return {
      stop: () => {
        stopped = true
        clearTimeout(refreshTimer)
        clearTimeout(deadlineTimer)
      },
    }
  }

  /**
   * Ends a term: deletes its record if it is still this term's (so a
   * successor need not wait for it to expire), then releases the lease.
   * (A lease freed under the holder by `forceRelease` a moment before this
   * may let it delete a successor's fresh record; that only hides `since`
   * from `leader()` until the successor's next refresh.)
   * Errors are reported; the lease and the record end at their ttl then.
   */
  async #resign(lock: Lock, term: LeaderTerm): Promise<void> {
    try {
      // While this term holds the lease nobody else can have recorded a term: delete
      // at once. Otherwise only a record that is still this term's.
      if (!lock.held) {
        const entry = await this.#backend.getCached(this.#keys.record)
        const record = entry === undefined ? undefined : parseRecord(entry.value)
        if (record?.fence !== term.fence) return await this.#releaseLease(lock, term)
      }
      await this.#backend.deleteCached(this.#keys.record)
    } catch (error) {
      if (!isClosedError(error)) this.#report(error, term)
    }
    await this.#releaseLease(lock, term)
  }

  /** Releases a term's lease; a failure is reported and the lease ends at its ttl. */
  async #releaseLease(lock: Lock, term: LeaderTerm | undefined): Promise<void> {
    try {
      await lock.release()
    } catch (error) {
      if (!isClosedError(error)) this.#report(error, term)
    }
  }
}
