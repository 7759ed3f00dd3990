import type { JobRun, JobSchedule, JobSummary, Lockwork } from '@lockwork/core'
import { type CommandResult, ok } from '../command-result.js'
import { EXIT_CODES } from '../exit-codes.js'
import { formatRemaining, table } from '../format.js'

/** A schedule for people: `every 5m`, `cron 0 3 * * * (Europe/Paris)`. */
export function formatSchedule(schedule: JobSchedule): string {
  if (schedule.kind === 'cron') {
    return `cron ${schedule.cron}${schedule.timezone === undefined ? '' : ` (${schedule.timezone})`}`
  }
  const ms = schedule.intervalMs
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1_000, 's'],
  ]
  for (const [size, unit] of units) if (ms % size === 0) return `every ${ms / size}${unit}`
  return `every ${ms}ms`
}

/** How a tick ended, for people: `ran`, `failed: <message>`, `skipped (running)`. */
export function formatOutcome(run: JobRun): string {
  if (run.outcome === 'failed') return `failed${run.error === undefined ? '' : `: ${oneLine(run.error, 60)}`}`
  if (run.outcome === 'skipped') return `skipped${run.reason === undefined ? '' : ` (${run.reason})`}`
  return run.outcome
}

/** `text` on one line, cut to `max` characters. */
function oneLine(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ')
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`
}

/** A past time relative to `now`: `12.3s ago`. */
function ago(at: number, now: number): string {
  return `${formatRemaining(Math.max(0, now - at))} ago`
}

/** The `jobs` table: name, schedule, last run (when, outcome, duration, where), next run. */
export function jobsTable(jobs: readonly JobSummary[], now = Date.now()): string {
  if (jobs.length === 0) return 'no jobs recorded'
  return table(
    ['NAME', 'SCHEDULE', 'LAST RUN', 'OUTCOME', 'DURATION', 'WHERE', 'NEXT RUN'],
    jobs.map((job) => {
      const last = job.lastRun
      const next =
        job.nextRunAt === undefined
          ? '-'
          : job.nextRunAt >= now
            ? `in ${formatRemaining(job.nextRunAt - now)}`
            : `overdue ${formatRemaining(now - job.nextRunAt)}`
      const running = job.running === undefined ? '' : ` (running on ${job.running.label?.text ?? 'unknown'})`
      return [
        job.name,
        formatSchedule(job.schedule),
        last === undefined ? 'never' : ago(last.startedAt, now),
        (last === undefined ? '-' : formatOutcome(last)) + running,
        last?.durationMs === undefined ? '-' : formatRemaining(last.durationMs),
        last === undefined ? '-' : last.label.text,
        next,
      ]
    }),
  )
}

/** One job's recorded ticks, newest first: scheduled, started, outcome, duration, where. */
export function runsTable(job: JobSummary, now = Date.now()): string {
  const header = `${job.name}: ${formatSchedule(job.schedule)}, next run ${
    job.nextRunAt === undefined
      ? 'unknown'
      : job.nextRunAt >= now
        ? `in ${formatRemaining(job.nextRunAt - now)}`
        : `overdue ${formatRemaining(now - job.nextRunAt)}`
  }${job.running === undefined ? '' : `, running on ${job.running.label?.text ?? 'unknown'}`}`
  if (job.runs.length === 0) return `${header}\nno runs recorded`
  const rows = table(
    ['SCHEDULED', 'STARTED', 'OUTCOME', 'DURATION', 'WHERE'],
    job.runs.map((run) => [
      new Date(run.scheduledAt).toISOString(),
      ago(run.startedAt, now),
      formatOutcome(run),
      run.durationMs === undefined ? '-' : formatRemaining(run.durationMs),
      run.label.text,
    ]),
  )
  return `${header}\n${rows}`
}

/**
 * `lockwork jobs`: the `every` jobs with recorded history, as a table or as
 * JSON; with a `name`, that job's recorded ticks (exit 1 when it has none).
 */
export async function jobsCommand(
  lw: Lockwork,
  options: { name?: string; json?: boolean },
): Promise<CommandResult> {
  const jobs = await lw.jobs()
  if (options.name === undefined) return ok(options.json ? JSON.stringify(jobs, null, 2) : jobsTable(jobs))
  const job = jobs.find((candidate) => candidate.name === options.name)
  if (job === undefined) {
    return {
      output: options.json ? 'null' : `no job ${options.name} recorded`,
      exitCode: EXIT_CODES.notFound,
    }
  }
  return ok(options.json ? JSON.stringify(job, null, 2) : runsTable(job))
}
