import { createMemoryBackend } from '@lockwork/memory'
import { describe, expect, it } from 'vitest'
import {
  BackendError,
  createLockwork,
  decodeListCursor,
  encodeListCursor,
  InvalidArgumentError,
  type LockBackend,
  prefixUpperBound,
} from '../src/index.js'

describe('prefixUpperBound', () => {
  it('bounds exactly the strings that start with the prefix, in code point order', () => {
    expect(prefixUpperBound('orders:')).toBe('orders;')
    expect(prefixUpperBound('a%_')).toBe('a%`')
    expect(prefixUpperBound('')).toBeUndefined()
    // U+10FFFF cannot be incremented: the bound moves to the character before.
    expect(prefixUpperBound('a\u{10ffff}')).toBe('b')
    expect(prefixUpperBound('\u{10ffff}\u{10ffff}')).toBeUndefined()
    // The surrogate range is no code point of a valid key: U+D7FF is followed by U+E000.
    expect(prefixUpperBound('x\ud7ff')).toBe('x\ue000')
    // An astral character is one code point, not two code units.
    expect(prefixUpperBound('🔒')).toBe('🔓')
  })
})

describe('list cursors', () => {
  it('round-trip, and anything else is an InvalidArgumentError', () => {
    expect(decodeListCursor(encodeListCursor({ kind: 'locks', after: 'k' }))).toEqual({
      kind: 'locks',
      after: 'k',
    })
    for (const bad of [
      '',
      'not a cursor',
      encodeListCursor({}).slice(1),
      Buffer.from('[1]').toString('base64url'),
    ]) {
      expect(() => decodeListCursor(bad)).toThrow(InvalidArgumentError)
    }
  })
})

describe('lw.list', () => {
  it('validates its options before the backend is asked', async () => {
    const lw = createLockwork({ backend: createMemoryBackend(), prefix: 'app' })
    for (const options of [
      { limit: 0 },
      { limit: 1001 },
      { limit: 1.5 },
      { prefix: 'a\u0000b' },
      { kind: 'semaphores' as 'locks' },
      { cursor: '' },
    ]) {
      await expect(lw.list(options)).rejects.toThrow(InvalidArgumentError)
    }
    await lw.close()
  })

  it('says so when the backend has no list', async () => {
    const backend = createMemoryBackend()
    // The memory backend's own methods, bound, without list: an adapter that predates the capability.
    const withoutList: LockBackend = {
      name: 'plain',
      acquire: backend.acquire.bind(backend),
      extend: backend.extend.bind(backend),
      release: backend.release.bind(backend),
      peek: backend.peek.bind(backend),
      getCached: backend.getCached.bind(backend),
      setCached: backend.setCached.bind(backend),
      deleteCached: backend.deleteCached.bind(backend),
      close: backend.close.bind(backend),
    }
    const lw = createLockwork({ backend: withoutList })
    await expect(lw.list()).rejects.toThrow(BackendError)
    await expect(lw.list()).rejects.toThrow(/cannot list/)
    await lw.close()
  })
})
