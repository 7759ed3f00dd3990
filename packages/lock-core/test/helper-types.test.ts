import { createMemoryBackend } from '@lockwork/memory'
import { describe, expectTypeOf, it } from 'vitest'
import { createLockwork, type LockInfo } from '../src/index.js'

describe('helper typings', () => {
  const lw = createLockwork({ backend: createMemoryBackend() })

  it('once: argument types come from the key function or from fn; the key may take fewer parameters', () => {
    const fromKey = lw.once({ key: (id: string) => `check:${id}` }, async (id) => id.length)
    expectTypeOf(fromKey).parameters.toEqualTypeOf<[id: string]>()
    expectTypeOf(fromKey).returns.toEqualTypeOf<Promise<number | undefined>>()
    const fromFn = lw.once({ key: (id) => `shot:${id.toLowerCase()}` }, async (id: string) => id)
    expectTypeOf(fromFn).parameters.toEqualTypeOf<[id: string]>()
    const partial = lw.once({ key: (id: string) => id }, async (id: string, started: () => void) => {
      started()
      return id
    })
    expectTypeOf(partial).parameters.toEqualTypeOf<[id: string, started: () => void]>()
    const locked = lw.once({ key: 'k', lockedValue: 'busy' as const }, () => 1)
    expectTypeOf(locked).returns.toEqualTypeOf<Promise<number | 'busy'>>()
    expectTypeOf(locked.peek).returns.toEqualTypeOf<Promise<LockInfo | null>>()
    // @ts-expect-error the key function must accept fn's arguments
    lw.once({ key: (id: number) => `k${id}` }, async (id: string) => id)
  })

  it('cached: values are awaited; invalidate and peek take the same arguments', () => {
    const price = lw.cached({ key: (sym: string) => `price:${sym}` }, async (sym) => ({ sym, price: 1 }))
    expectTypeOf(price).returns.toEqualTypeOf<Promise<{ sym: string; price: number }>>()
    expectTypeOf(price.peek).returns.toEqualTypeOf<Promise<{ sym: string; price: number } | undefined>>()
    expectTypeOf(price.invalidate).parameters.toEqualTypeOf<[sym: string]>()
    const partial = lw.cached(
      { key: (sym: string) => sym },
      (sym: string, scale: number) => sym.length * scale,
    )
    expectTypeOf(partial).parameters.toEqualTypeOf<[sym: string, scale: number]>()
    // @ts-expect-error the key function must accept fn's arguments
    lw.cached({ key: (n: number) => `k${n}` }, (sym: string) => sym)
  })
})
