import { describe, expect, it } from 'vitest'
import { InvalidArgumentError, MAX_DURATION_MS, toMs } from '../src/index.js'

describe('toMs', () => {
  it.each([
    [250, 250],
    [1.2, 2],
    ['250ms', 250],
    ['10s', 10_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    [' 2s ', 2_000],
    ['1.5s', 1_500],
  ])('parses %j as %d ms', (input, expected) => {
    expect(toMs(input, 'ttl')).toBe(expected)
  })

  it.each([
    0,
    -1,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    '10 parsecs',
    '',
    '   ',
    'ms',
    '-5s',
    MAX_DURATION_MS + 1,
    '1000d',
    {},
    [],
    null,
    true,
  ])('rejects %j with an error naming the argument', (input) => {
    const error = (() => {
      try {
        toMs(input, 'options.ttl')
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(InvalidArgumentError)
    expect((error as InvalidArgumentError).argument).toBe('options.ttl')
    expect((error as InvalidArgumentError).code).toBe('LOCKWORK_INVALID_ARGUMENT')
  })

  it('accepts 0 only where allowed (a wait of 0 means "do not wait")', () => {
    expect(toMs(0, 'wait', true)).toBe(0)
    expect(toMs('0s', 'wait', true)).toBe(0)
    expect(() => toMs(0, 'ttl')).toThrow(InvalidArgumentError)
  })

  it('accepts the maximum duration', () => {
    expect(toMs(MAX_DURATION_MS, 'ttl')).toBe(MAX_DURATION_MS)
  })
})
