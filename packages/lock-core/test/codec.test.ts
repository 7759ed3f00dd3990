import { createMemoryBackend, MemoryStore } from '@lockwork/memory'
import { describe, expect, it } from 'vitest'
import { createLockwork, devalueCodec, InvalidArgumentError, jsonCodec } from '../src/index.js'

/** Values people cache, each with what must come back. */
function richValue() {
  return {
    at: new Date(0),
    byId: new Map<string, { n: number }>([['a', { n: 1 }]]),
    tags: new Set(['x', 'y']),
    big: 2n ** 70n,
    missing: undefined,
    list: [1, undefined, 3],
    nan: Number.NaN,
    inf: Number.POSITIVE_INFINITY,
    negativeZero: -0,
    bytes: new Uint8Array([1, 2, 255]),
    floats: new Float64Array([0.5, -1]),
    pattern: /a+b/gi,
    url: new URL('https://example.com/a?b=c'),
    bare: Object.assign(Object.create(null) as Record<string, number>, { k: 1 }),
  }
}

describe('cached values round-trip with their types (default codec)', () => {
  it('Date, Map, Set, BigInt, undefined, NaN, ±Infinity, -0, typed arrays, RegExp, URL come back as they went in, in every process', async () => {
    const store = new MemoryStore()
    const writer = createLockwork({ backend: createMemoryBackend({ store }) })
    const reader = createLockwork({ backend: createMemoryBackend({ store }) })
    const computeIn = (lw: typeof writer, calls: { n: number }) =>
      lw.cached({ key: 'rich' }, async () => {
        calls.n++
        return richValue()
      })
    const written = { n: 0 }
    const read = { n: 0 }
    const fromWriter = await computeIn(writer, written)()
    const fromReader = await computeIn(reader, read)()
    expect(written.n).toBe(1)
    expect(read.n).toBe(0)
    for (const value of [fromWriter, fromReader]) {
      expect(value).toStrictEqual(richValue())
      expect(value.at).toBeInstanceOf(Date)
      expect(value.byId.get('a')).toEqual({ n: 1 })
      expect(value.tags.has('y')).toBe(true)
      expect(value.big).toBe(2n ** 70n)
      expect('missing' in value).toBe(true)
      expect(Number.isNaN(value.nan)).toBe(true)
      expect(Object.is(value.negativeZero, -0)).toBe(true)
      expect(value.bytes).toBeInstanceOf(Uint8Array)
    }
  })

  it('a whole value of undefined, a cycle and a shared reference round-trip', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    expect(await lw.cached({ key: 'u' }, async () => undefined)()).toBeUndefined()
    const node: { name: string; self?: unknown } = { name: 'n' }
    node.self = node
    const cyclic = await lw.cached({ key: 'cycle' }, async () => node)()
    expect(cyclic.self).toBe(cyclic)
  })

  it('what it cannot round-trip (class instances, Errors, functions, symbols) is an InvalidArgumentError naming where, before anything is stored', async () => {
    class Money {
      constructor(readonly cents: number) {}
    }
    const backend = createMemoryBackend()
    const lw = createLockwork({ backend })
    for (const [label, value, where] of [
      ['class', { price: new Money(5) }, '.price'],
      ['error', { last: new Error('x') }, '.last'],
      ['function', { f: () => 1 }, '.f'],
      ['symbol', [Symbol('s')], '[0]'],
      ['nested', { a: { b: [new Money(1)] } }, '.a.b[0]'],
    ] as const) {
      let computed = 0
      const fn = lw.cached({ key: label }, async () => {
        computed++
        return value
      })
      const error = await fn().catch((e: unknown) => e)
      expect(error, label).toBeInstanceOf(InvalidArgumentError)
      expect((error as InvalidArgumentError).argument).toBe('value')
      expect((error as Error).message).toContain(where)
      expect(await backend.getCached(label)).toBeUndefined()
      // Not cached: the next call computes again (and fails again), never returns `{}`.
      await fn().catch(() => undefined)
      expect(computed).toBe(2)
    }
  })

  it('an entry written as plain JSON (by an older version) is a miss, recomputed, never returned with the wrong type', async () => {
    const backend = createMemoryBackend()
    const lw = createLockwork({ backend })
    await backend.setCached('when', { value: '"1970-01-01T00:00:00.000Z"', computeMs: 1 }, 60_000)
    await backend.setCached('list', { value: '[1,2]', computeMs: 1 }, 60_000)
    const when = lw.cached({ key: 'when' }, async () => new Date(0))
    expect(await when.peek()).toBeUndefined()
    expect(await when()).toBeInstanceOf(Date)
    expect(await lw.cached({ key: 'list' }, async () => [3])()).toEqual([3])
  })
})

describe('jsonCodec (opt-in plain JSON) is strict about what JSON cannot hold', () => {
  it('round-trips JSON values; drops undefined properties as JSON does', () => {
    const value = { a: 1, b: 'x', c: [true, null, { d: 2.5 }], e: undefined }
    expect(jsonCodec.decode(jsonCodec.encode(value))).toStrictEqual({
      a: 1,
      b: 'x',
      c: [true, null, { d: 2.5 }],
    })
  })

  it('refuses what would come back different (Date, Map, Set, NaN, class instances, undefined in arrays, BigInt, functions)', () => {
    class Point {
      x = 1
    }
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    for (const value of [
      new Date(0),
      { m: new Map() },
      { s: new Set() },
      { n: Number.NaN },
      [Number.POSITIVE_INFINITY],
      { p: new Point() },
      [1, undefined],
      undefined,
      10n,
      { f: () => 1 },
      { s: Symbol('s') },
      new Uint8Array(2),
      cycle,
    ]) {
      expect(() => jsonCodec.encode(value), String(value)).toThrow(TypeError)
    }
  })

  it('as a cached codec, a refused value is an InvalidArgumentError and nothing is stored', async () => {
    const backend = createMemoryBackend()
    const lw = createLockwork({ backend })
    const fn = lw.cached({ key: 'd', codec: jsonCodec }, async () => ({ at: new Date(0) }))
    const error = await fn().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InvalidArgumentError)
    expect((error as Error).message).toContain('.at')
    expect(await backend.getCached('d')).toBeUndefined()
  })

  it('devalueCodec refuses text it did not write', () => {
    expect(() => devalueCodec.decode('{"a":1}')).toThrow(TypeError)
  })
})
