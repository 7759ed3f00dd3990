import { type AcquireResult, type LockInfo, MAX_OWNER_LENGTH } from '@lockwork/core'
import { delay, owner, type SuiteContext } from './suite-context.js'

/** The acquire / extend / release / peek contract, one backend call at a time. */
export function leaseCases(t: SuiteContext): void {
  const { describe, it, expect } = t
  const won = (result: AcquireResult): { fence: number; ttlMs: number } => {
    if (!result.acquired) throw new Error(`expected to acquire, but ${result.holder.owner} holds it`)
    return result
  }
  const lost = (result: AcquireResult): LockInfo => {
    if (result.acquired) throw new Error('expected the key to be held, but acquire succeeded')
    return result.holder
  }

  describe('leases', () => {
    it('acquires a free key; peek shows owner, fence and remaining time; release frees it', async () => {
      const b = t.backend()
      const key = t.key('free')
      const a = owner()
      const got = won(await b.acquire(key, a, 5_000))
      expect(got.fence).toBeGreaterThanOrEqual(1)
      expect(got.ttlMs).toBe(5_000)
      const info = await b.peek(key)
      expect(info?.owner).toBe(a)
      expect(info?.fence).toBe(got.fence)
      expect(info?.remainingMs).toBeGreaterThan(0)
      expect(info?.remainingMs).toBeLessThanOrEqual(5_000)
      expect(await b.release(key, a)).toBe(true)
      expect(await b.peek(key)).toBeNull()
      expect(await b.release(key, a)).toBe(false)
    })

    it('refuses a second owner, also from another instance, and reports the holder', async () => {
      const key = t.key('held')
      const a = owner()
      const other = await t.newBackend()
      const got = won(await t.backend().acquire(key, a, 5_000))
      for (const b of [t.backend(), other]) {
        const holder = lost(await b.acquire(key, owner(), 5_000))
        expect(holder.owner).toBe(a)
        expect(holder.fence).toBe(got.fence)
        expect(holder.remainingMs).toBeGreaterThan(0)
        expect(holder.remainingMs).toBeLessThanOrEqual(5_000)
      }
      await t.backend().release(key, a)
    })

    it('is idempotent for the same owner: acquiring again succeeds with the same fence', async () => {
      const b = t.backend()
      const key = t.key('idempotent')
      const a = owner()
      const first = won(await b.acquire(key, a, 5_000))
      const again = won(await (await t.newBackend()).acquire(key, a, 5_000))
      expect(again.fence).toBe(first.fence)
      expect((await b.peek(key))?.fence).toBe(first.fence)
      await b.release(key, a)
    })

    it('lets only the owner release or extend; a stranger changes nothing', async () => {
      const b = t.backend()
      const key = t.key('stranger')
      const a = owner()
      const got = won(await b.acquire(key, a, 5_000))
      const stranger = owner()
      expect(await b.release(key, stranger)).toBe(false)
      expect(await b.extend(key, stranger, 60_000)).toBe(false)
      const info = await b.peek(key)
      expect(info?.owner).toBe(a)
      expect(info?.fence).toBe(got.fence)
      expect(info?.remainingMs).toBeLessThanOrEqual(5_000)
      await b.release(key, a)
    })

    it('extends the lease to the new ttl, also when chained', async () => {
      const b = t.backend()
      const key = t.key('extend')
      const a = owner()
      won(await b.acquire(key, a, 1_000))
      expect(await b.extend(key, a, 20_000)).toBe(true)
      const first = await b.peek(key)
      expect(first?.remainingMs).toBeGreaterThan(15_000)
      expect(first?.remainingMs).toBeLessThanOrEqual(20_000)
      expect(await b.extend(key, a, 40_000)).toBe(true)
      expect((await b.peek(key))?.remainingMs).toBeGreaterThan(35_000)
      expect(await b.extend(key, a, 2_000)).toBe(true)
      expect((await b.peek(key))?.remainingMs).toBeLessThanOrEqual(2_000)
      await b.release(key, a)
    })

    it('expires: after the ttl the key is free, a new owner gets a larger fence, and the old owner cannot extend or release', async () => {
      const b = t.backend()
      const key = t.key('expiry')
      const a = owner()
      const first = won(await b.acquire(key, a, 200))
      await delay(700)
      expect(await b.peek(key)).toBeNull()
      expect(await b.extend(key, a, 10_000)).toBe(false)
      expect(await b.peek(key)).toBeNull()
      const c = owner()
      const second = won(await (await t.newBackend()).acquire(key, c, 5_000))
      expect(second.fence).toBeGreaterThan(first.fence)
      expect(await b.release(key, a)).toBe(false)
      expect(await b.extend(key, a, 10_000)).toBe(false)
      expect((await b.peek(key))?.owner).toBe(c)
      await b.release(key, c)
    })

    it('reports the time left, not the ttl: halfway through a lease peek and a refused rival see about half of it', async () => {
      const b = t.backend()
      const rival = await t.newBackend()
      const key = t.key('remaining')
      const a = owner()
      const ttlMs = 3_000
      const sent = performance.now()
      won(await b.acquire(key, a, ttlMs))
      const granted = performance.now()
      await delay(1_000)
      // The lease started between `sent` and `granted`; each read happened between its own two clocks.
      const check = (remainingMs: number | undefined, before: number, after: number) => {
        expect(remainingMs).toBeLessThanOrEqual(ttlMs - (before - granted) + 250)
        expect(remainingMs).toBeGreaterThanOrEqual(ttlMs - (after - sent) - 250)
        expect(remainingMs).toBeGreaterThan(0)
      }
      let before = performance.now()
      const info = await b.peek(key)
      check(info?.remainingMs, before, performance.now())
      before = performance.now()
      const holder = lost(await rival.acquire(key, owner(), ttlMs))
      check(holder.remainingMs, before, performance.now())
      expect(holder.remainingMs).toBeLessThan(ttlMs - 500)
      await b.release(key, a)
    })

    it("refuses the old owner's release and extend of its own expired lease, before anyone else takes it", async () => {
      const b = t.backend()
      const [releasing, extending] = [t.key('expired-release'), t.key('expired-extend')]
      const a = owner()
      const first = won(await b.acquire(releasing, a, 200))
      won(await b.acquire(extending, a, 200))
      await delay(700)
      // Nothing has looked at the keys since they expired: no peek, no rival.
      expect(await b.release(releasing, a)).toBe(false)
      expect(await b.extend(extending, a, 10_000)).toBe(false)
      expect(await b.peek(extending)).toBeNull()
      expect(await b.release(extending, a)).toBe(false)
      const next = won(await (await t.newBackend()).acquire(releasing, owner(), 5_000))
      expect(next.fence).toBeGreaterThan(first.fence)
    })

    it('fences strictly increase across release → acquire, 10 times, a rival failing each time', async () => {
      const b = t.backend()
      const rival = await t.newBackend()
      const key = t.key('fences')
      let last = 0
      for (let i = 0; i < 10; i++) {
        const a = owner()
        const got = won(await b.acquire(key, a, 5_000))
        expect(got.fence).toBeGreaterThan(last)
        last = got.fence
        lost(await rival.acquire(key, owner(), 5_000))
        expect(await b.release(key, a)).toBe(true)
      }
    })

    it('keeps different keys independent and keys case-sensitive', async () => {
      const b = t.backend()
      const base = t.key('case')
      const [a, c, d] = [owner(), owner(), owner()]
      won(await b.acquire(`${base}-x`, a, 5_000))
      won(await b.acquire(`${base}-X`, c, 5_000))
      won(await b.acquire(`${base}-y`, d, 5_000))
      expect((await b.peek(`${base}-x`))?.owner).toBe(a)
      expect((await b.peek(`${base}-X`))?.owner).toBe(c)
      expect(await b.release(`${base}-x`, a)).toBe(true)
      expect((await b.peek(`${base}-X`))?.owner).toBe(c)
      expect((await b.peek(`${base}-y`))?.owner).toBe(d)
      await b.release(`${base}-X`, c)
      await b.release(`${base}-y`, d)
    })

    it('stores and returns owner tokens of the maximum length with any printable characters exactly', async () => {
      const b = t.backend()
      const rival = await t.newBackend()
      const key = t.key('long-owner')
      // What the core sends: a UUID, then a label; here every awkward character a label may hold.
      const body = ` api@pod-7 "quoted" 'single' \\back\\slash %_* {}[] ; -- é 漢字 😀 host=web-3 pid=4121 `
      const head = owner()
      const a = `${(head + body.repeat(8)).slice(0, MAX_OWNER_LENGTH - 1)}a`
      const sameButLast = `${a.slice(0, -1)}b`
      expect(a.length).toBe(MAX_OWNER_LENGTH)
      won(await b.acquire(key, a, 5_000))
      expect((await rival.peek(key))?.owner).toBe(a)
      // A token differing only in its last character is another owner: nothing is cut or folded.
      expect(lost(await rival.acquire(key, sameButLast, 5_000)).owner).toBe(a)
      expect(await rival.extend(key, sameButLast, 5_000)).toBe(false)
      expect(await rival.release(key, sameButLast)).toBe(false)
      expect(await rival.extend(key, a, 5_000)).toBe(true)
      expect(await rival.release(key, a)).toBe(true)
      expect(await b.peek(key)).toBeNull()
    })
  })
}
