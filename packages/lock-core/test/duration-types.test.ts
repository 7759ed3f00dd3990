import { createMemoryBackend } from '@lockwork/memory'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { createLockwork, type Duration, type DurationUnit, toMs } from '../src/index.js'

/** Every unit, spelled out at run time; the type check below keeps it equal to `DurationUnit`. */
const UNITS = [
  'ms',
  'msec',
  'msecs',
  'millisecond',
  'milliseconds',
  's',
  'sec',
  'secs',
  'second',
  'seconds',
  'm',
  'min',
  'mins',
  'minute',
  'minutes',
  'h',
  'hr',
  'hrs',
  'hour',
  'hours',
  'd',
  'day',
  'days',
  'w',
  'week',
  'weeks',
  'y',
  'yr',
  'yrs',
  'year',
  'years',
] as const

describe('Duration typing', () => {
  it('lists exactly the units of DurationUnit', () => {
    expectTypeOf<(typeof UNITS)[number]>().toEqualTypeOf<DurationUnit>()
  })

  it('every string the type accepts is one the parser accepts: each unit, in each case, with and without a space', () => {
    const accepted: Duration[] = ['250', '1.5s']
    for (const unit of UNITS) {
      const capitalized = `${unit.charAt(0).toUpperCase()}${unit.slice(1)}` as Capitalize<DurationUnit>
      for (const spelled of [unit, unit.toUpperCase() as Uppercase<DurationUnit>, capitalized]) {
        accepted.push(`0.01${spelled}`, `0.01 ${spelled}`)
      }
    }
    for (const value of accepted) expect(toMs(value, 'ttl'), String(value)).toBeGreaterThan(0)
  })

  it('refuses a misspelled or missing unit at compile time; the run-time check stays', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    const ok: Duration[] = [250, '250ms', '10s', '5 m', '1 minute', '2 Hours', '1H', '0.5s']
    expect(ok).toHaveLength(8)
    // @ts-expect-error not a unit
    const misspelled: Duration = '1x'
    // @ts-expect-error not a unit
    const parsecs: Duration = '10 parsecs'
    // @ts-expect-error no number
    const unitOnly: Duration = 'ms'
    // @ts-expect-error empty
    const empty: Duration = ''
    for (const bad of [misspelled, parsecs, unitOnly, empty]) expect(() => toMs(bad, 'ttl')).toThrow(/ttl/)
    // @ts-expect-error an option takes a Duration, not any string
    await expect(lw.acquire('k', { ttl: '30 secondz' })).rejects.toThrow(/options\.ttl/)
    const fromConfig: string = '45s'
    // A string known only at run time goes through toMs, which returns milliseconds.
    expectTypeOf(toMs(fromConfig, 'TTL')).toEqualTypeOf<number>()
    await lw.close()
  })
})
