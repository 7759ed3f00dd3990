import type { JobRun, JobSummary, OwnerLabel } from '@lockwork/core'
import { describe, expect, it } from 'vitest'
import { formatOutcome, formatSchedule, jobsTable, runsTable } from '../src/commands/jobs.js'

const label: OwnerLabel = {
  name: 'api@pod-7',
  host: 'web-3',
  pid: 4121,
  text: 'api@pod-7 host=web-3 pid=4121',
}

describe('lockwork jobs formatting', () => {
  it('describes schedules in the largest whole unit, cron with its time zone', () => {
    expect(formatSchedule({ kind: 'interval', intervalMs: 300_000 })).toBe('every 5m')
    expect(formatSchedule({ kind: 'interval', intervalMs: 7_200_000 })).toBe('every 2h')
    expect(formatSchedule({ kind: 'interval', intervalMs: 1_500 })).toBe('every 1500ms')
    expect(formatSchedule({ kind: 'cron', cron: '0 3 * * *', timezone: 'Europe/Paris' })).toBe(
      'cron 0 3 * * * (Europe/Paris)',
    )
    expect(formatSchedule({ kind: 'cron', cron: '*/5 * * * *' })).toBe('cron */5 * * * *')
  })

  it('shows outcomes on one line, a long error cut', () => {
    const base: JobRun = { scheduledAt: 0, startedAt: 0, outcome: 'ran', label }
    expect(formatOutcome(base)).toBe('ran')
    expect(formatOutcome({ ...base, outcome: 'skipped', reason: 'running' })).toBe('skipped (running)')
    const failed = formatOutcome({
      ...base,
      outcome: 'failed',
      error: `Error: line one\nline two ${'x'.repeat(200)}`,
    })
    expect(failed.startsWith('failed: Error: line one line two')).toBe(true)
    expect(failed.length).toBeLessThanOrEqual('failed: '.length + 60)
  })

  it('lays out a table: last run relative to now, where, next run or overdue', () => {
    const now = 1_000_000_000
    const jobs: JobSummary[] = [
      {
        name: 'expire-sessions',
        schedule: { kind: 'interval', intervalMs: 300_000 },
        lastRun: {
          scheduledAt: now - 134_000,
          startedAt: now - 134_000,
          durationMs: 1_200,
          outcome: 'ran',
          label,
        },
        nextRunAt: now + 166_000,
        runs: [],
        updatedAt: now,
      },
      {
        name: 'stale',
        schedule: { kind: 'cron', cron: '0 3 * * *' },
        nextRunAt: now - 60_000,
        runs: [],
        updatedAt: 0,
      },
    ]
    const lines = jobsTable(jobs, now).split('\n')
    expect(lines[1]).toMatch(
      /^expire-sessions\s+every 5m\s+2m14s ago\s+ran\s+1\.2s\s+api@pod-7 host=\S+ pid=\d+\s+in 2m46s$/,
    )
    expect(lines[2]).toMatch(/^stale\s+cron 0 3 \* \* \*\s+never\s+-\s+-\s+-\s+overdue 1m00s$/)
    expect(jobsTable([], now)).toBe('no jobs recorded')
  })

  it("lists one job's runs, newest first, under a line with its schedule and next run", () => {
    const now = 1_000_000_000
    const ran: JobRun = {
      scheduledAt: now - 60_000,
      startedAt: now - 59_000,
      durationMs: 250,
      outcome: 'ran',
      label,
    }
    const skipped: JobRun = {
      scheduledAt: now - 120_000,
      startedAt: now - 119_000,
      outcome: 'skipped',
      reason: 'late',
      label,
    }
    const job: JobSummary = {
      name: 'report',
      schedule: { kind: 'interval', intervalMs: 60_000 },
      lastRun: ran,
      nextRunAt: now + 1_000,
      runs: [ran, skipped],
      updatedAt: now,
    }
    const lines = runsTable(job, now).split('\n')
    expect(lines[0]).toBe('report: every 1m, next run in 1.0s')
    expect(lines[1]).toMatch(/^SCHEDULED\s+STARTED\s+OUTCOME\s+DURATION\s+WHERE$/)
    expect(lines[2]).toMatch(
      /^1970-01-12T13:45:40\.000Z\s+59\.0s ago\s+ran\s+250ms\s+api@pod-7 host=web-3 pid=4121$/,
    )
    expect(lines[3]).toMatch(/skipped \(late\)\s+-\s+api@pod-7/)
    expect(runsTable({ ...job, runs: [] }, now).split('\n')[1]).toBe('no runs recorded')
  })
})
