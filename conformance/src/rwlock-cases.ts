import { InvalidArgumentError, type Lock, LockBusyError, type Lockwork } from '@lockwork/core'
import { hasPermits } from './semaphore-cases.js'
import { delay, rejection, type SuiteContext } from './suite-context.js'

/**
 * Reader-writer locks (`lw.rwlock`), built by the core on the semaphore
 * capability: readers overlap, a writer excludes everyone, a waiting writer
 * is not starved by arriving readers. Every case reports skipped when the
 * backend lacks the capability.
 */
export function rwlockCases(t: SuiteContext): void {
  const { describe, expect } = t

  /** A case that needs the capability; `body` gets one client per instance (3), sharing a prefix. */
  const it = (name: string, body: (clients: readonly Lockwork[]) => Promise<void>, timeoutMs?: number) =>
    t.it(
      name,
      // A rest parameter keeps the body's length 0: jest and mocha would read a named one as `done`.
      async (...caseArgs: unknown[]) => {
        if (!hasPermits(t.backend())) return t.skip(caseArgs, 'the backend has no semaphore capability')
        const prefix = `${t.key('rw')}:`
        const instances = [t.backend(), await t.newBackend(), await t.newBackend()]
        const clients = instances.map((backend) => t.lockwork({ backend, prefix, closeBackend: false }))
        try {
          await body(clients)
        } finally {
          await Promise.all(clients.map((client) => client.close()))
        }
      },
      timeoutMs,
    )

  describe('reader-writer locks', () => {
    it('readers on 3 instances hold at once; a writer waits for all of them and then excludes everyone', async (clients) => {
      const [a, b, c] = clients as [Lockwork, Lockwork, Lockwork]
      const readers = [
        await a.rwlock('doc').read(),
        await b.rwlock('doc').read(),
        await c.rwlock('doc').read(),
      ]
      expect(readers.every((reader) => reader.held)).toBe(true)
      expect(await c.rwlock('doc').tryWrite()).toBeNull()
      const busy = await rejection(b.rwlock('doc').write({ wait: 0 }))
      expect(busy).toBeInstanceOf(LockBusyError)
      expect((busy as Error).message).toMatch(/rwlock "doc".*3 readers/)
      for (const reader of readers) expect(await reader.release()).toBe(true)
      const writer = await c.rwlock('doc').write({ wait: '10s' })
      expect(await a.rwlock('doc').tryRead()).toBeNull()
      expect(await b.rwlock('doc').tryWrite()).toBeNull()
      const readBusy = await rejection(a.rwlock('doc').read({ wait: 0 }))
      expect((readBusy as Error).message).toMatch(/rwlock "doc": a writer holds it/)
      expect(await writer.release()).toBe(true)
      const reader = await a.rwlock('doc').tryRead()
      expect(reader?.held).toBe(true)
      // Another name is another lock; a plain lock of the same name is unrelated.
      expect(await b.rwlock('other-doc').tryWrite()).not.toBeNull()
      expect(await b.tryAcquire('doc')).not.toBeNull()
    })

    it('never a writer with anyone else, readers do overlap: 3 instances, readers and writers at random', async (clients) => {
      let readers = 0
      let writers = 0
      let violations = 0
      let maxReaders = 0
      let sections = 0
      const worker = async (index: number) => {
        const rw = clients[index % clients.length]!.rwlock('counter')
        for (let round = 0; round < 4; round++) {
          if ((index + round) % 4 === 0) {
            await rw.withWrite(
              async () => {
                writers++
                if (writers !== 1 || readers !== 0) violations++
                await delay(5)
                if (writers !== 1 || readers !== 0) violations++
                writers--
                sections++
              },
              { wait: '40s', ttl: '10s' },
            )
          } else {
            await rw.withRead(
              async () => {
                readers++
                maxReaders = Math.max(maxReaders, readers)
                if (writers !== 0) violations++
                await delay(15)
                if (writers !== 0) violations++
                readers--
                sections++
              },
              { wait: '40s', ttl: '10s' },
            )
          }
        }
      }
      await Promise.all(Array.from({ length: 9 }, (_, index) => worker(index)))
      expect(violations).toBe(0)
      expect(sections).toBe(36)
      expect(maxReaders).toBeGreaterThan(1)
    }, 60_000)

    it('a writer gets in within a bound while readers on two instances keep arriving (readers do not starve it)', async (clients) => {
      const [a, b, c] = clients as [Lockwork, Lockwork, Lockwork]
      let stop = false
      let reads = 0
      // Each reader re-enters at once, and there is always one inside: without writer preference the writer never would be.
      const reader = async (client: Lockwork, offsetMs: number) => {
        await delay(offsetMs)
        while (!stop) {
          await client.rwlock('stream').withRead(
            async () => {
              reads++
              await delay(120)
            },
            { wait: '30s', ttl: '10s' },
          )
        }
      }
      const readerLoops = [reader(a, 0), reader(b, 40), reader(a, 80), reader(b, 60)]
      await delay(400)
      expect(reads).toBeGreaterThan(0)
      const started = performance.now()
      const writer = await c.rwlock('stream').write({ wait: '20s', ttl: '10s' })
      const waited = performance.now() - started
      const readsWhileWriting = reads
      await delay(150)
      expect(reads).toBe(readsWhileWriting)
      await writer.release()
      stop = true
      await Promise.all(readerLoops)
      // The readers inside hold 120 ms each; generous for a loaded machine, far below the 20 s wait.
      expect(waited).toBeLessThan(5_000)
    }, 60_000)

    it("fences: a writer's fence exceeds every earlier reader's and writer's; a reader's exceeds every earlier writer's", async (clients) => {
      const [a, b] = clients as [Lockwork, Lockwork]
      const held: Lock[] = [await a.rwlock('fenced').read(), await b.rwlock('fenced').read()]
      for (const lock of held) await lock.release()
      const writer = await b.rwlock('fenced').write()
      expect(writer.fence).toBeGreaterThan(Math.max(...held.map((lock) => lock.fence)))
      await writer.release()
      const reader = await a.rwlock('fenced').read()
      expect(reader.fence).toBeGreaterThan(writer.fence)
      await reader.release()
      const second = await a.rwlock('fenced').write()
      expect(second.fence).toBeGreaterThan(reader.fence)
      await second.release()
    })

    it('a reader waiting for a writer gets in after the release; abort and bad options behave', async (clients) => {
      const [a, b] = clients as [Lockwork, Lockwork]
      const writer = await a.rwlock('waiting').write()
      setTimeout(() => void writer.release(), 300)
      const started = performance.now()
      const reader = await b.rwlock('waiting').read({ wait: '10s' })
      expect(performance.now() - started).toBeGreaterThanOrEqual(250)
      expect(writer.held).toBe(false)
      await reader.release()
      const second = await a.rwlock('waiting').write()
      const controller = new AbortController()
      setTimeout(() => controller.abort(new Error('gave up')), 200)
      const aborted = await rejection(b.rwlock('waiting').read({ wait: '10s', signal: controller.signal }))
      expect((aborted as Error).message).toBe('gave up')
      await second.release()
      expect(await rejection(b.rwlock('waiting').read({ ttl: 0 }))).toBeInstanceOf(InvalidArgumentError)
      expect(await rejection(async () => b.rwlock(''))).toBeInstanceOf(InvalidArgumentError)
    })
  })
}
