import { describe, expect, it } from 'vitest'
import { InvalidArgumentError, MAX_KEY_LENGTH, MAX_PREFIX_LENGTH } from '../src/index.js'
import { validateKey, validatePrefix } from '../src/key.js'

describe('validateKey', () => {
  it.each([
    'a',
    'ünï 日本 🔒',
    "'; DROP TABLE x; --",
    '{tag}',
    '%*?',
    'x'.repeat(MAX_KEY_LENGTH),
    '\u00a0\u2028',
  ])('accepts %j', (key) => {
    expect(validateKey(key)).toBe(key)
  })

  it.each([
    ['', 'empty'],
    ['x'.repeat(MAX_KEY_LENGTH + 1), 'too long'],
    ['a\u0000b', 'NUL'],
    ['a\nb', 'newline'],
    ['a\u001fb', 'unit separator (reserved for derived keys)'],
    ['a\ud800', 'lone high surrogate'],
    ['\udc00a', 'lone low surrogate'],
    [42, 'a number'],
    [undefined, 'undefined'],
  ])('rejects %j (%s)', (key, _why) => {
    expect(() => validateKey(key)).toThrow(InvalidArgumentError)
  })
})

describe('validatePrefix', () => {
  it('allows empty and undefined', () => {
    expect(validatePrefix('')).toBe('')
    expect(validatePrefix(undefined)).toBe('')
  })

  it('rejects too long, control characters and non-strings, naming the prefix', () => {
    for (const bad of ['p'.repeat(MAX_PREFIX_LENGTH + 1), 'a\u0000', 5]) {
      try {
        validatePrefix(bad)
        expect.unreachable()
      } catch (error) {
        expect((error as InvalidArgumentError).argument).toBe('prefix')
      }
    }
  })
})
