import type { LockBackend } from './backend.js'
import { deriveKey } from './helper-support.js'
import type { HolderInfo, OwnerLabel } from './owner-label.js'
import { holderInfo } from './owner-label.js'

/**
 * The history `every` keeps of its jobs, and how it is stored.
 *
 * Everything lives in the backend's cache store (`getCached`/`setCached`),
 * the part of the contract every backend has, so history works on any
 * backend, third-party adapters included:
 *
 * - one entry per job (`every-history` + name) holding its schedule, the
 *   next tick as last seen by a replica, and its newest runs;
 * - one index entry (`every-index`) listing the job names, so a reader that
 *   knows no names can find them.
 *
 * Writers serialise their read-modify-write of an entry with a short lock of
 * its own. Entries expire after {@link jobHistoryRetentionMs}, renewed by
 * every write.
 */

/** How a tick ended for the replica that recorded it. */
export type JobOutcome = 'ran' | 'failed' | 'skipped'

/**
 * Why a tick was skipped: `'running'` (the previous run was still going),
 * `'late'` (the replica got to the tick more than `maxLateness` after its
 * scheduled time). Later versions may add reasons; show unknown ones as they are.
 */
export type JobSkipReason = 'running' | 'late'

/** One tick of an `every` job, as recorded by the replica that handled it. */
export interface JobRun {
  /** The tick's scheduled time, in ms since the Unix epoch (the same on every replica). */
  readonly scheduledAt: number
  /**
   * When the replica started the run (or decided to skip the tick), in ms
   * since the Unix epoch on that replica's clock.
   */
  readonly startedAt: number
  /** How long the job ran, in ms (`'ran'` and `'failed'`). */
  readonly durationMs?: number
  /** What happened. */
  readonly outcome: JobOutcome
  /** Why the tick was skipped (`'skipped'`). */
  readonly reason?: JobSkipReason
  /**
   * What the job threw (`'failed'`): the error's name and message, cut to
   * {@link MAX_JOB_ERROR_LENGTH} characters.
   */
  readonly error?: string
  /** Who handled the tick: the client's `label`, host name and process id. */
  readonly label: OwnerLabel
}

/** A job's schedule, as the replica that wrote its history last described it. */
export type JobSchedule =
  | {
      /** Ticks at multiples of `intervalMs` since the Unix epoch. */
      readonly kind: 'interval'
      /** The interval, in ms. */
      readonly intervalMs: number
    }
  | {
      /** Ticks on a cron schedule. */
      readonly kind: 'cron'
      /** The cron expression. */
      readonly cron: string
      /** The IANA time zone it is read in; absent: the replica's own. */
      readonly timezone?: string
    }

/** What {@link Lockwork.jobs} reports about one `every` job. */
export interface JobSummary {
  /** The job's name. */
  readonly name: string
  /** Its schedule. */
  readonly schedule: JobSchedule
  /** The newest recorded tick (the first of `runs`), if any. */
  readonly lastRun?: JobRun
  /**
   * The next tick as seen by the replica that wrote last, in ms since the
   * Unix epoch. In the past when no replica has written since: the job may
   * have no replica running it any more.
   */
  readonly nextRunAt?: number
  /** The recorded ticks, newest (latest scheduled) first: at most the `history` option of the writers. */
  readonly runs: readonly JobRun[]
  /** When a replica last wrote the history, in ms since the Unix epoch on its clock. */
  readonly updatedAt: number
  /** Who is running the job right now (the holder of its run lock), if anyone. */
  readonly running?: HolderInfo
}

/** How many ticks `every` keeps by default (its `history` option). */
export const DEFAULT_JOB_HISTORY = 20

/** The largest `history` option of `every`. */
export const MAX_JOB_HISTORY = 1000

/** The longest error message kept in a {@link JobRun}, in UTF-16 code units. */
export const MAX_JOB_ERROR_LENGTH = 500

/** The most job names the index keeps; past it, the names written to longest ago are dropped. */
export const MAX_INDEXED_JOBS = 1000

/** The shortest time a job's history is kept after its last write: 7 days. */
export const MIN_JOB_HISTORY_RETENTION_MS = 7 * 24 * 60 * 60 * 1000

/** The longest TTL a cache entry may get (2^31 − 1 ms). */
const MAX_TTL_MS = 2_147_483_647

/**
 * How long a job's history (and its index entry) lives after its last write:
 * 10 ticks, at least {@link MIN_JOB_HISTORY_RETENTION_MS}, at most about 24.8 days.
 */
export function jobHistoryRetentionMs(periodMs: number): number {
  return Math.min(MAX_TTL_MS, Math.max(MIN_JOB_HISTORY_RETENTION_MS, 10 * periodMs))
}

/** The cache key of a job's history entry. */
export function historyKey(prefix: string, name: string): string {
  return deriveKey(prefix, 'every-history', name)
}

/** The key of the lock that serialises writes of a job's history entry. */
export function historyLockKey(prefix: string, name: string): string {
  return deriveKey(prefix, 'every-history-lock', name)
}

/** The cache key of the job index. */
export function indexKey(prefix: string): string {
  return deriveKey(prefix, 'every-index', 'jobs')
}

/** The key of the lock that serialises writes of the job index. */
export function indexLockKey(prefix: string): string {
  return deriveKey(prefix, 'every-index-lock', 'jobs')
}

/** A job's history entry as stored (JSON in the cache entry's value). */
export interface StoredHistory {
  readonly v: 1
  readonly name: string
  readonly schedule: JobSchedule
  readonly nextRunAt?: number
  readonly updatedAt: number
  readonly runs: readonly JobRun[]
}

/** One name in the stored index. */
export interface IndexedJob {
  readonly name: string
  /** When its history was last written (or the index refreshed for it). */
  readonly writtenAt: number
  /** When its history expires, as the writer computed it. */
  readonly expiresAt: number
}

/** The job index as stored. */
export interface StoredIndex {
  readonly v: 1
  readonly jobs: readonly IndexedJob[]
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)

/** A label read back from JSON, or `undefined` when it is not one. */
function decodeLabel(value: unknown): OwnerLabel | undefined {
  if (!isRecord(value)) return undefined
  const { name, host, pid, text } = value
  if (typeof host !== 'string' || !isTime(pid) || typeof text !== 'string') return undefined
  if (name !== undefined && typeof name !== 'string') return undefined
  return { name, host, pid, text }
}

/** A run read back from JSON, or `undefined` when it is not one. */
function decodeRun(value: unknown): JobRun | undefined {
  if (!isRecord(value)) return undefined
  const { scheduledAt, startedAt, durationMs, outcome, reason, error } = value
  const label = decodeLabel(value.label)
  if (!isTime(scheduledAt) || !isTime(startedAt) || label === undefined) return undefined
  if (outcome !== 'ran' && outcome !== 'failed' && outcome !== 'skipped') return undefined
  return {
    scheduledAt,
    startedAt,
    ...(isTime(durationMs) ? { durationMs } : {}),
    outcome,
    ...(typeof reason === 'string' ? { reason: reason as JobSkipReason } : {}),
    ...(typeof error === 'string' ? { error } : {}),
    label,
  }
}

/** A schedule read back from JSON, or `undefined` when it is not one. */
function decodeSchedule(value: unknown): JobSchedule | undefined {
  if (!isRecord(value)) return undefined
  if (value.kind === 'interval' && isTime(value.intervalMs)) {
    return { kind: 'interval', intervalMs: value.intervalMs }
  }
  if (value.kind === 'cron' && typeof value.cron === 'string') {
    return typeof value.timezone === 'string'
      ? { kind: 'cron', cron: value.cron, timezone: value.timezone }
      : { kind: 'cron', cron: value.cron }
  }
  return undefined
}

/** Parses JSON, or `undefined` when it is not JSON. */
function parse(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** A history entry's value read back; `undefined` for anything else (another version, damage). */
export function decodeHistory(text: string): StoredHistory | undefined {
  const value = parse(text)
  if (!isRecord(value) || value.v !== 1 || typeof value.name !== 'string') return undefined
  const schedule = decodeSchedule(value.schedule)
  if (schedule === undefined || !isTime(value.updatedAt) || !Array.isArray(value.runs)) return undefined
  const runs = value.runs.map(decodeRun).filter((run) => run !== undefined)
  return {
    v: 1,
    name: value.name,
    schedule,
    ...(isTime(value.nextRunAt) ? { nextRunAt: value.nextRunAt } : {}),
    updatedAt: value.updatedAt,
    runs,
  }
}

/** The index's value read back; an empty index for anything else. */
export function decodeIndex(text: string): StoredIndex {
  const value = parse(text)
  if (!isRecord(value) || value.v !== 1 || !Array.isArray(value.jobs)) return { v: 1, jobs: [] }
  const jobs: IndexedJob[] = []
  for (const job of value.jobs) {
    if (isRecord(job) && typeof job.name === 'string' && isTime(job.writtenAt) && isTime(job.expiresAt)) {
      jobs.push({ name: job.name, writtenAt: job.writtenAt, expiresAt: job.expiresAt })
    }
  }
  return { v: 1, jobs }
}

/** How many reads {@link readJobs} has in flight at once. */
const READ_CONCURRENCY = 16

/** The summary of one job, or `null` when it has no (unexpired) history. */
export async function readJob(
  backend: LockBackend,
  prefix: string,
  name: string,
): Promise<JobSummary | null> {
  const [entry, holder] = await Promise.all([
    backend.getCached(historyKey(prefix, name)),
    backend.peek(deriveKey(prefix, 'every-run', name)),
  ])
  const history = entry === undefined ? undefined : decodeHistory(entry.value)
  if (history === undefined) return null
  const lastRun = history.runs[0]
  return {
    name,
    schedule: history.schedule,
    ...(lastRun === undefined ? {} : { lastRun }),
    ...(history.nextRunAt === undefined ? {} : { nextRunAt: history.nextRunAt }),
    runs: history.runs,
    updatedAt: history.updatedAt,
    ...(holder === null ? {} : { running: holderInfo(holder) }),
  }
}

/** Every job the index lists that still has history, sorted by name. */
export async function readJobs(backend: LockBackend, prefix: string): Promise<JobSummary[]> {
  const entry = await backend.getCached(indexKey(prefix))
  if (entry === undefined) return []
  const now = Date.now()
  const names = [
    ...new Set(
      decodeIndex(entry.value)
        .jobs.filter((job) => job.expiresAt > now)
        .map((job) => job.name),
    ),
  ].sort()
  const summaries: JobSummary[] = []
  for (let start = 0; start < names.length; start += READ_CONCURRENCY) {
    const batch = names.slice(start, start + READ_CONCURRENCY)
    for (const summary of await Promise.all(batch.map((name) => readJob(backend, prefix, name)))) {
      if (summary !== null) summaries.push(summary)
    }
  }
  return summaries
}
