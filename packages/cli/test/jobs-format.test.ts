import type { JobRun, JobSummary, OwnerLabel } from '@lockwork/core'
import { describe, expect, it } from 'vitest'
import { formatOutcome, formatSchedule, jobsTable } from '../src/commands/jobs.js'

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
})
