import {
  type JobRun,
  type JobSummary,
  type ListedCacheEntry,
  type ListedLock,
  type ListKind,
  type Lockwork,
  labelOf,
} from '@lockwork/core'
import { formatSchedule } from '../commands/jobs.js'

/** The most locks, and separately the most cache entries, one state lists; the rest is reported as truncated. */
export const MAX_ROWS = 1_000

/** A held lock as the page shows it. Owner tokens stay on the server: they grant ownership. */
export interface LockRow {
  /** The key, without the client's prefix. */
  readonly key: string
  /** The holder's label (`api@pod-7 host=web-3 pid=4121`), or the start of its token when it has none. */
  readonly holder: string
  /** The holder's fencing token. */
  readonly fence: number
  /** Milliseconds until the lease expires, on the store's clock. */
  readonly remainingMs: number
  /** What the remaining-time bar is measured against: the longest remaining time seen for this holder. */
  readonly scaleMs: number
  /** How many callers wait for the key, where the backend reports it. */
  readonly waiting?: number
}

/** A cache entry as the page shows it. */
export interface CacheRow {
  /** The `cached()` key, without the client's prefix. */
  readonly key: string
  /** The encoded value's size, in UTF-8 bytes. */
  readonly size: number
  /** Milliseconds until the entry expires, on the store's clock. */
  readonly remainingMs: number
  /** The longest remaining lifetime seen for this entry since it was last written. */
  readonly scaleMs: number
}

/** One recorded tick of an `every` job, as the page's timeline draws it. */
export interface JobRunRow {
  /** The tick's scheduled time, ms since the Unix epoch. */
  readonly scheduledAt: number
  /** When the replica started it (or decided to skip it), on its clock. */
  readonly startedAt: number
  /** How long it ran, in ms (absent for a skipped tick). */
  readonly durationMs?: number
  /** `ran`, `failed` or `skipped`. */
  readonly outcome: JobRun['outcome']
  /** Why it was skipped. */
  readonly reason?: string
  /** What the job threw. */
  readonly error?: string
  /** Who handled the tick (label, host, pid). */
  readonly holder: string
}

/** An `every` job as the page shows it. */
export interface JobRow {
  /** The job's name. */
  readonly name: string
  /** `every 5m`, `cron 0 3 * * *`. */
  readonly schedule: string
  /** The next tick as the last writer saw it, ms since the Unix epoch. */
  readonly nextRunAt?: number
  /** Who runs it right now, if anyone. */
  readonly runningOn?: string
  /** The recorded ticks, oldest first. */
  readonly runs: readonly JobRunRow[]
}

/** What `GET /api/state` answers. */
export interface DashboardState {
  /** When the store was read, as an ISO time. */
  readonly at: string
  /** The held locks, sorted by key. */
  readonly locks: readonly LockRow[]
  /** Whether more than {@link MAX_ROWS} locks are held (only the first are listed). */
  readonly locksTruncated: boolean
  /** The cache entries, sorted by key, and their totals. */
  readonly cache: {
    /** The entries. */
    readonly entries: readonly CacheRow[]
    /** How many entries were listed. */
    readonly count: number
    /** Their total size, in bytes. */
    readonly totalSize: number
    /** Whether more than {@link MAX_ROWS} entries are stored. */
    readonly truncated: boolean
  }
  /** The `every` jobs with recorded history, by name. */
  readonly jobs: readonly JobRow[]
}

/** The holder column without the owner token's secret part. */
export function holderText(owner: string): string {
  return labelOf(owner)?.text ?? `${owner.slice(0, 8)}…`
}

/**
 * Reads the store for the page: held locks and cache entries under the
 * client's prefix, sorted by key. Remembers the longest remaining time seen
 * per lock holder (fence) and per cache entry, so the page can draw a
 * remaining-time bar against it; the listing does not carry lease lengths.
 */
export class StateReader {
  readonly #lw: Lockwork
  /** key → the fence seen and the longest remaining time seen for it. */
  #lockScale = new Map<string, { fence: number; maxMs: number }>()
  /** key → the longest remaining lifetime seen since the entry was last (re)written. */
  #cacheScale = new Map<string, { lastMs: number; maxMs: number }>()
  #reading: Promise<DashboardState> | undefined

  constructor(lw: Lockwork) {
    this.#lw = lw
  }

  /** One read of the store; concurrent callers (several open pages) share it. */
  read(): Promise<DashboardState> {
    this.#reading ??= this.#read().finally(() => {
      this.#reading = undefined
    })
    return this.#reading
  }

  async #read(): Promise<DashboardState> {
    const [locks, cache, jobs] = await Promise.all([
      this.#list('locks'),
      this.#list('cache'),
      this.#lw.jobs(),
    ])
    const lockScale = new Map<string, { fence: number; maxMs: number }>()
    const lockRows = locks.rows.locks.map((lock): LockRow => {
      const seen = this.#lockScale.get(lock.key)
      const maxMs =
        seen !== undefined && seen.fence === lock.fence
          ? Math.max(seen.maxMs, lock.remainingMs)
          : lock.remainingMs
      lockScale.set(lock.key, { fence: lock.fence, maxMs })
      return {
        key: lock.key,
        holder: holderText(lock.owner),
        fence: lock.fence,
        remainingMs: lock.remainingMs,
        scaleMs: maxMs,
        ...(lock.waiting === undefined ? {} : { waiting: lock.waiting }),
      }
    })
    this.#lockScale = lockScale
    const cacheScale = new Map<string, { lastMs: number; maxMs: number }>()
    let totalSize = 0
    const cacheRows = cache.rows.cacheEntries.map((entry): CacheRow => {
      totalSize += entry.size
      const seen = this.#cacheScale.get(entry.key)
      // A lifetime that grew was written again: measure against the new one.
      const maxMs =
        seen !== undefined && entry.remainingMs <= seen.lastMs
          ? Math.max(seen.maxMs, entry.remainingMs)
          : entry.remainingMs
      cacheScale.set(entry.key, { lastMs: entry.remainingMs, maxMs })
      return { key: entry.key, size: entry.size, remainingMs: entry.remainingMs, scaleMs: maxMs }
    })
    this.#cacheScale = cacheScale
    return {
      at: new Date().toISOString(),
      locks: lockRows,
      locksTruncated: locks.truncated,
      cache: { entries: cacheRows, count: cacheRows.length, totalSize, truncated: cache.truncated },
      jobs: jobs.map(jobRow).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    }
  }

  /** Up to {@link MAX_ROWS} entries of one kind, all pages, sorted by key. */
  async #list(kind: ListKind) {
    const rows = { locks: [] as ListedLock[], cacheEntries: [] as ListedCacheEntry[] }
    let cursor: string | undefined
    let count = 0
    let truncated = false
    do {
      const page = await this.#lw.list({
        kind,
        limit: Math.min(500, MAX_ROWS + 1 - count),
        ...(cursor === undefined ? {} : { cursor }),
      })
      rows.locks.push(...page.locks)
      rows.cacheEntries.push(...page.cacheEntries)
      count = rows.locks.length + rows.cacheEntries.length
      cursor = page.cursor
      if (count > MAX_ROWS) {
        truncated = true
        break
      }
    } while (cursor !== undefined)
    const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
    rows.locks.sort(byKey).splice(MAX_ROWS)
    rows.cacheEntries.sort(byKey).splice(MAX_ROWS)
    return { rows, truncated }
  }
}

/** A job summary for the page: the schedule in words, runs oldest first, holders as labels. */
export function jobRow(job: JobSummary): JobRow {
  return {
    name: job.name,
    schedule: formatSchedule(job.schedule),
    ...(job.nextRunAt === undefined ? {} : { nextRunAt: job.nextRunAt }),
    ...(job.running === undefined ? {} : { runningOn: holderText(job.running.owner) }),
    runs: job.runs
      .map(
        (run): JobRunRow => ({
          scheduledAt: run.scheduledAt,
          startedAt: run.startedAt,
          ...(run.durationMs === undefined ? {} : { durationMs: run.durationMs }),
          outcome: run.outcome,
          ...(run.reason === undefined ? {} : { reason: run.reason }),
          ...(run.error === undefined ? {} : { error: run.error }),
          holder: run.label.text,
        }),
      )
      .reverse(),
  }
}
