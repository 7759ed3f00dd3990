import { readFileSync } from 'node:fs'
import { createLockwork, type LockBackend } from '@lockwork/core'
import { afterEach, describe, expect, it } from 'vitest'
import { availableBackends, BACKEND_NAMES, freshTarget, openBackend, randomPrefix } from '../src/backends.js'
import { sleep } from '../src/clock.js'
import { deposit } from '../src/fenced-deposit.js'
import { FencedStore, StaleFenceError } from '../src/fenced-store.js'
import { repoRoot, srcFile } from '../src/paths.js'

const available = await availableBackends(BACKEND_NAMES, 'reliability fenced store')

/** The code block `docs/guarantees.md` shows right after `<!-- marker -->`. */
function docBlock(marker: string): string {
  const doc = readFileSync(`${repoRoot}docs/guarantees.md`, 'utf8')
  const at = doc.indexOf(`<!-- ${marker} -->`)
  if (at < 0) throw new Error(`docs/guarantees.md has no <!-- ${marker} --> block`)
  const match = /```ts\n([\s\S]*?)```/.exec(doc.slice(at))
  if (match?.[1] === undefined) throw new Error(`no ts block after <!-- ${marker} -->`)
  return match[1]
}

describe('fenced store (the example resource of docs/guarantees.md)', () => {
  it('is exactly the code the guide shows, as is the holder that uses it', () => {
    expect(docBlock('fenced-store')).toBe(readFileSync(srcFile('fenced-store.ts'), 'utf8'))
    expect(docBlock('fenced-deposit')).toBe(readFileSync(srcFile('fenced-deposit.ts'), 'utf8'))
  })

  it('accepts rising fences and repeated accesses with the same fence', () => {
    const store = new FencedStore<string>()
    store.write('k', 'a', 1)
    store.write('k', 'b', 1)
    expect(store.read('k', 1)).toBe('b')
    store.write('k', 'c', 7)
    expect(store.peek('k')).toEqual({ value: 'c', fence: 7 })
  })

  it('refuses a lower fence, on a write and on a read, with StaleFenceError, and changes nothing', () => {
    const store = new FencedStore<string>()
    store.write('k', 'new holder', 8)
    expect(() => store.write('k', 'paused holder', 7)).toThrow(StaleFenceError)
    expect(() => store.read('k', 7)).toThrow(StaleFenceError)
    expect(store.peek('k')).toEqual({ value: 'new holder', fence: 8 })
    expect(store.rejected).toEqual([
      { key: 'k', fence: 7, highest: 8 },
      { key: 'k', fence: 7, highest: 8 },
    ])
  })

  it('keeps fences per key and rejects non-integer fences', () => {
    const store = new FencedStore<number>()
    store.write('a', 1, 100)
    store.write('b', 2, 1)
    expect(store.peek('b')).toEqual({ value: 2, fence: 1 })
    expect(() => store.write('a', 3, Number.NaN)).toThrow(RangeError)
    expect(() => store.read('a', 0)).toThrow(RangeError)
  })
})

for (const name of BACKEND_NAMES) {
  describe.skipIf(!available[name])(
    `${name}: read-modify-write through the fenced store with a lease lost midway`,
    () => {
      const opened: LockBackend[] = []
      afterEach(async () => {
        await Promise.allSettled(opened.splice(0).map((backend) => backend.close()))
      })

      it('A reads, its lease runs out, B acquires a higher fence and reads, A writes (refused), B writes: no update is lost', async () => {
        const backend = openBackend(freshTarget(name))
        opened.push(backend)
        const lw = createLockwork({ backend, prefix: randomPrefix('fenced-rmw') })
        const ledger = new FencedStore<number>()
        ledger.write('account', 100, 1)

        // A deposits 10: it reads, then stalls past its lease before writing.
        const a = await lw.acquire('account', { ttl: 300 })
        const aRead = ledger.read('account', a.fence) ?? 0
        await sleep(400)

        // B deposits 20 with the lease A lost.
        const b = await lw.acquire('account', { ttl: '10s', wait: '5s' })
        expect(b.fence).toBeGreaterThan(a.fence)
        const bRead = ledger.read('account', b.fence) ?? 0
        expect(() => ledger.write('account', aRead + 10, a.fence)).toThrow(StaleFenceError)
        ledger.write('account', bRead + 20, b.fence)
        await b.release()

        // A learns its deposit was refused and retries with a new lease.
        const retry = await lw.acquire('account', { ttl: '10s' })
        ledger.write('account', (ledger.read('account', retry.fence) ?? 0) + 10, retry.fence)
        await retry.release()
        expect(ledger.peek('account')?.value).toBe(130)
      })

      it('the guide’s deposit(): 4 concurrent deposits of 10 on one account add up, each under a higher fence', async () => {
        const backend = openBackend(freshTarget(name))
        opened.push(backend)
        const lw = createLockwork({ backend, prefix: randomPrefix('fenced-deposit') })
        const ledger = new FencedStore<number>()
        await Promise.all(Array.from({ length: 4 }, () => deposit(lw, ledger, '7', 10)))
        expect(ledger.peek('account:7')?.value).toBe(40)
        expect(ledger.rejected).toEqual([])
      })
    },
  )
}
