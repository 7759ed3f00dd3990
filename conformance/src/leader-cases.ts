import { createLockwork, type LeaderTerm, type LockBackend, type Lockwork } from '@lockwork/core'
import { delay, type SuiteContext } from './suite-context.js'

/** Resolves when `signal` aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve()
    else signal.addEventListener('abort', () => resolve(), { once: true })
  })
}

/** Polls `condition` every 5 ms; fails after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > end) throw new Error(`${what} did not happen within ${timeoutMs} ms`)
    await delay(5)
  }
}

/** One term as its leader saw it. */
interface SeenTerm {
  readonly label: string
  readonly fence: number
  readonly startedAt: number
  endedAt: number
}

/**
 * Leader election (`lw.lead`, `lw.leader`) over the mutex contract alone,
 * from several instances at once: one leader at a time, hand-over on stop,
 * on a crash and on a lost lease, increasing fences, and who leads now.
 */
export function leaderCases(t: SuiteContext): void {
  const { describe, it, expect } = t

  /** Two more instances shared by the leader cases. */
  let others: Promise<LockBackend[]> | undefined
  /** Three clients, one per instance, labelled `i0`–`i2`, sharing one fresh prefix. */
  const clients = async (): Promise<Lockwork[]> => {
    others ??= Promise.all([t.newBackend(), t.newBackend()])
    const backends = [t.backend(), ...(await others)]
    const prefix = `${t.key('lead')}:`
    return backends.map((backend, i) =>
      createLockwork({ backend, prefix, label: `i${i}`, closeBackend: false }),
    )
  }

  describe('lead', () => {
    it('3 instances campaign at once: one leader at a time, fences increase, leader() names the leader, terms pass around', async () => {
      const lws = await clients()
      const terms: SeenTerm[] = []
      let inside = 0
      let overlaps = 0
      const misreported: string[] = []
      const leaderships = lws.map((lw) =>
        lw.lead(
          'queue-consumer',
          async (signal, term) => {
            inside++
            if (inside > 1) overlaps++
            const seen: SeenTerm = {
              label: lw.label.text,
              fence: term.fence,
              startedAt: performance.now(),
              endedAt: 0,
            }
            terms.push(seen)
            // A term ends for the others the moment its signal aborts (what fn does later is its own business).
            let ended = false
            const end = () => {
              if (ended) return
              ended = true
              seen.endedAt = performance.now()
              inside--
            }
            signal.addEventListener('abort', end, { once: true })
            const info = await lw.leader('queue-consumer')
            const wrong = info?.label?.text !== lw.label.text || info.fence !== term.fence
            if (wrong && !signal.aborted) {
              misreported.push(`${lw.label.name} saw ${info?.label?.text} fence ${info?.fence}`)
            }
            // Hold the term a while, checking the others stay out; then resign.
            for (let i = 0; i < 10 && !signal.aborted; i++) {
              await delay(10)
              if (inside > 1) overlaps++
            }
            end()
          },
          { ttl: '2s', pause: 150 },
        ),
      )
      await until(() => terms.length >= 6, '6 terms', 20_000)
      await Promise.all(leaderships.map((leadership) => leadership.stop()))
      expect(overlaps).toBe(0)
      expect(misreported).toEqual([])
      for (let i = 1; i < terms.length; i++) {
        const [before, after] = [terms[i - 1], terms[i]]
        expect(after!.fence).toBeGreaterThan(before!.fence)
        expect(after!.startedAt).toBeGreaterThanOrEqual(before!.endedAt)
      }
      expect(new Set(terms.map((term) => term.label)).size).toBeGreaterThanOrEqual(2)
      expect(await lws[0]!.leader('queue-consumer')).toBeNull()
    }, 60_000)

    it('stop() resigns: a waiting instance leads next, after the stopped function settled, with a larger fence', async () => {
      const [a, b, c] = await clients()
      let first: LeaderTerm | undefined
      let firstEndedAt = 0
      const la = a!.lead('scheduler', async (signal, term) => {
        first = term
        await aborted(signal)
        await delay(30)
        firstEndedAt = performance.now()
      })
      await until(() => la.isLeader, 'the first leader', 10_000)
      const next: { lw: Lockwork; term: LeaderTerm; startedAt: number }[] = []
      const rest = [b!, c!].map((lw) =>
        lw.lead('scheduler', async (signal, term) => {
          next.push({ lw, term, startedAt: performance.now() })
          await aborted(signal)
        }),
      )
      await delay(100)
      expect(next).toEqual([])
      const info = await b!.leader('scheduler')
      expect(info?.label?.name).toBe('i0')
      expect(info?.fence).toBe(first?.fence)
      expect(info?.since?.getTime()).toBe(first?.since.getTime())
      await la.stop()
      await until(() => next.length === 1, 'a new leader', 10_000)
      const [successor] = next
      expect(successor!.startedAt).toBeGreaterThanOrEqual(firstEndedAt)
      expect(successor!.term.fence).toBeGreaterThan(first!.fence)
      const now = await a!.leader('scheduler')
      expect(now?.label?.text).toBe(successor!.lw.label.text)
      expect(now?.fence).toBe(successor!.term.fence)
      expect(now?.since?.getTime()).toBe(successor!.term.since.getTime())
      await Promise.all(rest.map((leadership) => leadership.stop()))
      expect(next.length).toBe(1)
    }, 30_000)

    it('a crashed leader (its instance closed without releasing) is replaced after its ttl; its signal aborted first', async () => {
      const [, b] = await clients()
      const crashing = await t.newBackend()
      const a = createLockwork({
        backend: crashing,
        prefix: b!.prefix,
        label: 'crashing',
        closeBackend: false,
      })
      const errors: unknown[] = []
      let abortedAt = 0
      const la = a.lead(
        'singleton',
        async (signal) => {
          await aborted(signal)
          abortedAt = performance.now()
        },
        { ttl: '1s', onError: (error) => errors.push(error) },
      )
      await until(() => la.isLeader, 'the first leader', 10_000)
      let startedAt = 0
      const lb = b!.lead('singleton', async (signal) => {
        startedAt = performance.now()
        await aborted(signal)
      })
      await delay(50)
      await crashing.close()
      await until(() => startedAt > 0, 'a new leader', 10_000)
      expect(abortedAt).toBeGreaterThan(0)
      expect(abortedAt).toBeLessThanOrEqual(startedAt)
      expect((await b!.leader('singleton'))?.label?.name).toBe('i1')
      await Promise.all([lb.stop(), la.stop()])
    }, 30_000)

    it('a leader whose extension is refused (its lease taken away) aborts its signal before the next term starts', async () => {
      const [, b] = await clients()
      const inner = await t.newBackend()
      let refuse = false
      const refusing: LockBackend = new Proxy(inner, {
        get(target, property, receiver) {
          const value: unknown = Reflect.get(target, property, receiver)
          if (typeof value !== 'function') return value
          if (property === 'extend')
            return (...args: [string, string, number]) =>
              refuse ? Promise.resolve(false) : target.extend(...args)
          return (value as (...a: unknown[]) => unknown).bind(target)
        },
      })
      const a = createLockwork({
        backend: refusing,
        prefix: b!.prefix,
        label: 'refused',
        closeBackend: false,
      })
      let abortedAt = 0
      const la = a.lead(
        'loser',
        async (signal) => {
          await aborted(signal)
          await delay(30)
          abortedAt = performance.now()
        },
        { ttl: '1s', pause: '10s' },
      )
      await until(() => la.isLeader, 'the first leader', 10_000)
      let startedAt = 0
      const lb = b!.lead('loser', async (signal) => {
        startedAt = performance.now()
        await aborted(signal)
      })
      refuse = true
      await until(() => startedAt > 0, 'a new leader', 10_000)
      expect(la.isLeader).toBe(false)
      expect(abortedAt).toBeGreaterThan(0)
      expect(abortedAt).toBeLessThanOrEqual(startedAt)
      await Promise.all([lb.stop(), la.stop()])
    }, 30_000)
  })
}
