import type { LockBackend } from './backend.js'
import { errorSummary } from './helper-support.js'
import {
  decodeHistory,
  decodeIndex,
  historyKey,
  historyLockKey,
  type IndexedJob,
  indexKey,
  indexLockKey,
  type JobRun,
  type JobSchedule,
  jobHistoryRetentionMs,
  MAX_INDEXED_JOBS,
  MAX_JOB_ERROR_LENGTH,
  type StoredHistory,
  type StoredIndex,
} from './job-history.js'
import { type OwnerLabel, ownerToken } from './owner-label.js'
import { jitter, sleep } from './wait.js'

/** The longest one history write (lock, read, write, index) may take before it is given up. */
export const HISTORY_WRITE_TIMEOUT_MS = 10_000

/**
 * The lease of the lock that serialises writes of one entry. A write takes
 * a few round trips; a writer paused (or crashed) while holding the lock
 * holds up the others for at most this long.
 */
const LOCK_TTL_MS = 5_000

/** How long a writer waits for that lock: past its lease, so a paused holder never makes a write fail. */
const LOCK_WAIT_MS = 6_000

/** Writes queued in one process beyond which new ones are dropped (a store slower than the ticks). */
const MAX_QUEUED_WRITES = 16

/** What a {@link JobHistoryWriter} needs to know. */
export interface HistoryWriterInit {
  readonly backend: LockBackend
  readonly prefix: string
  readonly name: string
  readonly label: OwnerLabel
  /** How many runs to keep (at least 1). */
  readonly keep: number
  readonly schedule: JobSchedule
  /** Told about a write that failed or was given up; never about one the store refused because it is closed. */
  readonly report: (error: unknown) => void
}

/** `error` as a {@link JobRun}'s `error`: name and message, cut to {@link MAX_JOB_ERROR_LENGTH}. */
export function describeJobError(error: unknown): string {
  const { name, message } = errorSummary(error)
  const text = message === '' ? name : `${name}: ${message}`
  if (text.length <= MAX_JOB_ERROR_LENGTH) return text
  let cut = text.slice(0, MAX_JOB_ERROR_LENGTH - 1)
  // Never end on half a surrogate pair.
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1)
  return `${cut}…`
}

/**
 * Adds `run` to `runs` (newest scheduled first), keeping one entry per tick
 * and at most `keep`. Of two entries for one tick, a run (`'ran'`,
 * `'failed'`) wins over a skip, else the first written stays: a replica that
 * was late to a tick another one ran does not hide the run.
 */
export function mergeRuns(runs: readonly JobRun[], run: JobRun | undefined, keep: number): JobRun[] {
  const merged = [...runs]
  if (run !== undefined) {
    const same = merged.findIndex((entry) => entry.scheduledAt === run.scheduledAt)
    if (same === -1) merged.push(run)
    else if (merged[same]?.outcome === 'skipped' && run.outcome !== 'skipped') merged[same] = run
  }
  merged.sort((a, b) => b.scheduledAt - a.scheduledAt)
  return merged.slice(0, keep)
}

/**
 * One replica's writer of one job's history. Writes run one at a time in
 * the background: `record` never waits and never throws, each write is given
 * up after {@link HISTORY_WRITE_TIMEOUT_MS}, and failures go to `report`.
 */
export class JobHistoryWriter {
  readonly #init: HistoryWriterInit
  #queue: Promise<void> = Promise.resolve()
  #queued = 0

  constructor(init: HistoryWriterInit) {
    this.#init = init
  }

  /**
   * Queues a write of `run` (none: only the schedule and `nextRunAt`, as
   * when the job starts), renewing the entry's lifetime to `retention(periodMs)`.
   */
  record(run: JobRun | undefined, nextRunAt: number | undefined, periodMs: number): void {
    if (this.#queued >= MAX_QUEUED_WRITES) {
      this.#init.report(new Error(`${MAX_QUEUED_WRITES} history writes are already waiting; one is dropped`))
      return
    }
    this.#queued++
    this.#queue = this.#queue
      .then(() => this.#bounded(run, nextRunAt, jobHistoryRetentionMs(periodMs)))
      .catch((error: unknown) => this.#init.report(error))
      .finally(() => {
        this.#queued--
      })
  }

  /**
   * Resolves once every queued write has ended, or after `maxMs` (each
   * write is bounded, but several may be queued behind a slow store).
   */
  async flush(maxMs = HISTORY_WRITE_TIMEOUT_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, maxMs)
      timer.unref?.()
    })
    try {
      await Promise.race([this.#queue, bound])
    } finally {
      clearTimeout(timer)
    }
  }

  async #bounded(run: JobRun | undefined, nextRunAt: number | undefined, retentionMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the write took longer than ${HISTORY_WRITE_TIMEOUT_MS} ms; it was given up`)),
        HISTORY_WRITE_TIMEOUT_MS,
      )
      timer.unref?.()
    })
    try {
      await Promise.race([this.#write(run, nextRunAt, retentionMs), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  async #write(run: JobRun | undefined, nextRunAt: number | undefined, retentionMs: number): Promise<void> {
    const { backend, prefix, name, keep, schedule } = this.#init
    const key = historyKey(prefix, name)
    await this.#locked(historyLockKey(prefix, name), async () => {
      const entry = await backend.getCached(key)
      const old = entry === undefined ? undefined : decodeHistory(entry.value)
      const next = Math.max(nextRunAt ?? -1, old?.nextRunAt ?? -1)
      const record: StoredHistory = {
        v: 1,
        name,
        schedule,
        ...(next < 0 ? {} : { nextRunAt: next }),
        updatedAt: Date.now(),
        runs: mergeRuns(old?.runs ?? [], run, keep),
      }
      await backend.setCached(key, { value: JSON.stringify(record), computeMs: 0 }, retentionMs)
    })
    await this.#index(retentionMs)
  }

  /**
   * Puts the job's name in the index, unless it is there with more than
   * half its retention left (one read per write, a write now and then).
   */
  async #index(retentionMs: number): Promise<void> {
    const { backend, prefix, name } = this.#init
    const key = indexKey(prefix)
    const fresh = (index: StoredIndex) =>
      index.jobs.some((job) => job.name === name && job.expiresAt - Date.now() > retentionMs / 2)
    const current = await backend.getCached(key)
    if (current !== undefined && fresh(decodeIndex(current.value))) return
    await this.#locked(indexLockKey(prefix), async () => {
      const entry = await backend.getCached(key)
      const index = entry === undefined ? { v: 1 as const, jobs: [] } : decodeIndex(entry.value)
      if (fresh(index)) return
      const now = Date.now()
      const jobs: IndexedJob[] = index.jobs.filter((job) => job.name !== name && job.expiresAt > now)
      // First, then a stable sort, newest first: among names written in the same millisecond the one
      // written last counts as the newest, so the cut below drops the one written longest ago.
      jobs.unshift({ name, writtenAt: now, expiresAt: now + retentionMs })
      jobs.sort((a, b) => b.writtenAt - a.writtenAt)
      const kept = jobs.slice(0, MAX_INDEXED_JOBS)
      const ttl = Math.max(...kept.map((job) => job.expiresAt)) - now
      const stored: StoredIndex = { v: 1, jobs: kept }
      await backend.setCached(key, { value: JSON.stringify(stored), computeMs: 0 }, Math.max(1, ttl))
    })
  }

  /** Runs `body` holding the short lock `lockKey`, waiting up to {@link LOCK_WAIT_MS} for it. */
  async #locked(lockKey: string, body: () => Promise<void>): Promise<void> {
    const { backend, label } = this.#init
    const owner = ownerToken(label)
    const deadline = performance.now() + LOCK_WAIT_MS
    let backoffMs = 5
    for (;;) {
      const result = await backend.acquire(lockKey, owner, LOCK_TTL_MS)
      if (result.acquired) break
      const left = deadline - performance.now()
      if (left <= 0) throw new Error(`another replica held the history lock for over ${LOCK_WAIT_MS} ms`)
      await sleep(Math.min(jitter(backoffMs), left, result.holder.remainingMs + 1))
      backoffMs = Math.min(backoffMs * 2, 100)
    }
    try {
      await body()
    } finally {
      // A failed release leaves the lock to expire at its lease.
      await backend.release(lockKey, owner).catch(() => undefined)
    }
  }
}
