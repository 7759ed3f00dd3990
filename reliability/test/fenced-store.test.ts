import { describe, expect, it } from 'vitest'
import { FencedStore, StaleFenceError } from '../src/fenced-store.js'

describe('fenced store (the example resource)', () => {
  it('accepts rising fences and repeated writes with the same fence', () => {
    const store = new FencedStore<string>()
    store.write('k', 'a', 1)
    store.write('k', 'b', 1)
    store.write('k', 'c', 7)
    expect(store.read('k')).toEqual({ value: 'c', fence: 7 })
    expect(store.highestFence('k')).toBe(7)
  })

  it('refuses a lower fence with StaleFenceError and changes nothing', () => {
    const store = new FencedStore<string>()
    store.write('k', 'new holder', 8)
    let error: unknown
    try {
      store.write('k', 'paused holder', 7)
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(StaleFenceError)
    expect(error).toMatchObject({ key: 'k', fence: 7, highest: 8 })
    expect(store.read('k')).toEqual({ value: 'new holder', fence: 8 })
    expect(store.rejected).toEqual([{ key: 'k', fence: 7, highest: 8 }])
  })

  it('keeps fences per key and rejects non-integer fences', () => {
    const store = new FencedStore<number>()
    store.write('a', 1, 100)
    store.write('b', 2, 1)
    expect(store.highestFence('b')).toBe(1)
    expect(() => store.write('a', 3, Number.NaN)).toThrow(RangeError)
    expect(() => store.write('a', 3, 0)).toThrow(RangeError)
  })
})
