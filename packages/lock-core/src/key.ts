import { MAX_KEY_LENGTH, MAX_PREFIX_LENGTH } from './backend.js'
import { describe } from './duration.js'
import { InvalidArgumentError } from './errors.js'

// C0 control characters (U+0000–U+001F) and unpaired UTF-16 surrogates.
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const FORBIDDEN = /[\u0000-\u001f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/**
 * The separator in keys lockwork derives for its own helpers (`cached`,
 * `every`). User keys cannot contain it, so derived keys never collide with them.
 */
export const INTERNAL_SEPARATOR = '\u001f'

/**
 * Validates a user key: a non-empty string of at most {@link MAX_KEY_LENGTH}
 * UTF-16 code units, with no control characters (U+0000–U+001F) and no
 * unpaired surrogates. Anything else is fine: Unicode, quotes, spaces, `%`,
 * `*`, `{}`.
 */
export function validateKey(key: unknown, argument = 'key'): string {
  if (typeof key !== 'string')
    throw new InvalidArgumentError(argument, `expected a string, got ${describe(key)}`)
  if (key.length === 0) throw new InvalidArgumentError(argument, 'must not be empty')
  if (key.length > MAX_KEY_LENGTH) {
    throw new InvalidArgumentError(
      argument,
      `is ${key.length} characters long; the maximum is ${MAX_KEY_LENGTH}`,
    )
  }
  if (FORBIDDEN.test(key)) {
    throw new InvalidArgumentError(
      argument,
      'must not contain control characters (U+0000–U+001F) or unpaired surrogates',
    )
  }
  return key
}

/** Validates a prefix: like a key, but may be empty and is at most {@link MAX_PREFIX_LENGTH} long. */
export function validatePrefix(prefix: unknown): string {
  if (prefix === undefined) return ''
  if (typeof prefix !== 'string')
    throw new InvalidArgumentError('prefix', `expected a string, got ${describe(prefix)}`)
  if (prefix.length > MAX_PREFIX_LENGTH) {
    throw new InvalidArgumentError(
      'prefix',
      `is ${prefix.length} characters long; the maximum is ${MAX_PREFIX_LENGTH}`,
    )
  }
  if (FORBIDDEN.test(prefix)) {
    throw new InvalidArgumentError(
      'prefix',
      'must not contain control characters (U+0000–U+001F) or unpaired surrogates',
    )
  }
  return prefix
}

/**
 * The key a backend sees for a user key: the key itself without a prefix,
 * otherwise `prefix + U+001F + key`. Neither part can contain U+001F, so the
 * join is unambiguous and nested prefixes (`'app:'` and `'app:tenant:'`)
 * never share a key.
 */
export function joinKey(prefix: string, key: string): string {
  return prefix === '' ? key : prefix + INTERNAL_SEPARATOR + key
}
