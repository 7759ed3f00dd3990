import parseMs from 'ms'
import { MAX_DURATION_MS } from './backend.js'
import { InvalidArgumentError } from './errors.js'

/**
 * A unit a duration string may end with, as the `ms` package reads it:
 * milliseconds, seconds, minutes, hours, days, weeks and years, short or long.
 */
export type DurationUnit =
  | 'ms'
  | 'msec'
  | 'msecs'
  | 'millisecond'
  | 'milliseconds'
  | 's'
  | 'sec'
  | 'secs'
  | 'second'
  | 'seconds'
  | 'm'
  | 'min'
  | 'mins'
  | 'minute'
  | 'minutes'
  | 'h'
  | 'hr'
  | 'hrs'
  | 'hour'
  | 'hours'
  | 'd'
  | 'day'
  | 'days'
  | 'w'
  | 'week'
  | 'weeks'
  | 'y'
  | 'yr'
  | 'yrs'
  | 'year'
  | 'years'

/** A {@link DurationUnit} in lower case, upper case or capitalized (`'ms'`, `'MS'`, `'Ms'`). */
export type DurationUnitAnyCase = DurationUnit | Uppercase<DurationUnit> | Capitalize<DurationUnit>

/**
 * A duration: milliseconds as a number, or a string such as `'250ms'`,
 * `'10s'`, `'5m'`, `'1h'`, `'1 minute'` (a number, then a unit, with or
 * without a space; a number alone is milliseconds), parsed by the `ms`
 * package. A misspelled unit (`'1x'`) fails to compile; a string known
 * only at run time (configuration, an environment variable) goes through
 * {@link toMs} first, which returns milliseconds or throws
 * {@link InvalidArgumentError}. Every value is still checked when used.
 */
export type Duration =
  | number
  | `${number}`
  | `${number}${DurationUnitAnyCase}`
  | `${number} ${DurationUnitAnyCase}`

/**
 * Parses and validates a duration, returning whole milliseconds (fractions
 * round up). Rejects anything that is not a finite number in range with an
 * {@link InvalidArgumentError} naming `argument`.
 *
 * @param allowZero - whether `0` is acceptable (a wait of 0 means "do not wait").
 */
export function toMs(value: unknown, argument: string, allowZero = false): number {
  let ms: number
  if (typeof value === 'number') {
    ms = value
  } else if (typeof value === 'string') {
    const trimmed = value.trim()
    const parsed =
      trimmed === '' || trimmed.length > 100 ? undefined : parseMs(trimmed as parseMs.StringValue)
    if (typeof parsed !== 'number' || Number.isNaN(parsed)) {
      throw new InvalidArgumentError(
        argument,
        `"${value.slice(0, 40)}" is not a duration (use ms or e.g. '250ms', '10s', '5m')`,
      )
    }
    ms = parsed
  } else {
    throw new InvalidArgumentError(
      argument,
      `expected a duration (number of ms or a string like '10s'), got ${describe(value)}`,
    )
  }
  if (!Number.isFinite(ms))
    throw new InvalidArgumentError(argument, `${String(value)} is not a finite duration`)
  if (ms < 0 || (ms === 0 && !allowZero)) {
    throw new InvalidArgumentError(
      argument,
      `${String(value)} must be ${allowZero ? 'zero or ' : ''}positive`,
    )
  }
  if (ms > MAX_DURATION_MS) {
    throw new InvalidArgumentError(
      argument,
      `${String(value)} is longer than the maximum of ${MAX_DURATION_MS} ms`,
    )
  }
  return Math.ceil(ms)
}

/** A short description of a value's type for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return `the string "${value.slice(0, 40)}"`
  if (typeof value === 'number') return `the number ${value}`
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}
