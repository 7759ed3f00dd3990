import { describe } from './duration.js'
import { InvalidArgumentError } from './errors.js'

/**
 * Checks that `options` is a plain object (or undefined) and returns it, so a
 * caller who passes e.g. a string gets an error naming the argument.
 */
export function optionsObject<T extends object>(options: T | undefined, argument = 'options'): Partial<T> {
  if (options === undefined) return {}
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidArgumentError(argument, `expected an object, got ${describe(options)}`)
  }
  return options
}

/** Validates an optional boolean option. */
export function optionalBoolean(value: unknown, argument: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean')
    throw new InvalidArgumentError(argument, `expected a boolean, got ${describe(value)}`)
  return value
}

/** Validates an optional `AbortSignal`. */
export function optionalSignal(value: unknown, argument = 'options.signal'): AbortSignal | undefined {
  if (value === undefined) return undefined
  if (!(value instanceof AbortSignal)) {
    throw new InvalidArgumentError(argument, `expected an AbortSignal, got ${describe(value)}`)
  }
  return value
}

/** Validates that `value` is a function. */
export function requireFunction<F>(value: F, argument: string): F {
  if (typeof value !== 'function')
    throw new InvalidArgumentError(argument, `expected a function, got ${describe(value)}`)
  return value
}
