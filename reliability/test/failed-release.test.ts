import { BackendError, createLockwork, type LockBackend, LockLostError } from '@lockwork/core'
import { afterEach, describe, expect, it } from 'vitest'
import { availableBackends, BACKEND_NAMES, freshTarget, openBackend, randomPrefix } from '../src/backends.js'
import { sleep } from '../src/clock.js'
import { FaultyBackend } from '../src/faulty-backend.js'

const available = await availableBackends(BACKEND_NAMES, 'reliability failed release')

for (const name of BACKEND_NAMES) {
  describe.skipIf(!available[name])(`${name}: a release that fails`, () => {
    const opened: LockBackend[] = []
    afterEach(async () => {
      await Promise.allSettled(opened.splice(0).map((backend) => backend.close()))
    })

    /** A client over a real backend whose next releases can be made to fail; release failures are collected. */
    const client = () => {
      const faulty = new FaultyBackend(openBackend(freshTarget(name)))
      opened.push(faulty)
      const reported: { error: unknown; key: string }[] = []
      const lw = createLockwork({
        backend: faulty,
        prefix: randomPrefix('failed-release'),
        onReleaseError: (error, key) => reported.push({ error, key }),
      })
      return { faulty, lw, reported }
    }

    it('the Lock stops claiming to hold: held is false, a signal handed out earlier aborts (release-failed), the lease ends at its ttl, and a retried release frees it', async () => {
      const { faulty, lw } = client()
      const lock = await lw.acquire('k', { ttl: '10s', autoExtend: true })
      const signal = lock.signal
      faulty.failReleases(1)
      await expect(lock.release()).rejects.toBeInstanceOf(BackendError)
      expect(lock.held).toBe(false)
      expect(lock.remainingMs).toBe(0)
      expect(signal.aborted).toBe(true)
      expect(signal.reason).toBeInstanceOf(LockLostError)
      expect(signal.reason).toMatchObject({ reason: 'release-failed' })
      expect((signal.reason as LockLostError).cause).toBeInstanceOf(BackendError)
      await expect(lock.extend()).rejects.toMatchObject({ reason: 'release-failed' })
      // Nothing was freed on the store: the lease is still there until its ttl.
      expect((await lw.peek('k'))?.owner).toBe(lock.owner)
      expect(await lock.release()).toBe(true)
      expect(await lw.peek('k')).toBeNull()
      expect(await lock.release()).toBe(false)
    })

    it('a lease left behind by a failed release ends at its ttl (nothing extends it any more)', async () => {
      const { faulty, lw } = client()
      const lock = await lw.acquire('ttl', { ttl: 600, autoExtend: true })
      faulty.failReleases(1)
      await expect(lock.release()).rejects.toBeInstanceOf(BackendError)
      const rival = await lw.acquire('ttl', { ttl: '5s', wait: '5s' })
      expect(rival.fence).toBeGreaterThan(lock.fence)
      await rival.release()
    })

    it('withLock: a successful fn resolves with its result; the failed release goes to onReleaseError', async () => {
      const { faulty, lw, reported } = client()
      const result = await lw.withLock('ok', async () => {
        faulty.failReleases(1)
        return 42
      })
      expect(result).toBe(42)
      expect(reported).toHaveLength(1)
      expect(reported[0]?.key).toBe('ok')
      expect(reported[0]?.error).toBeInstanceOf(BackendError)
    })

    it('withLock: a failing fn rejects with its own error, unchanged; the failed release goes to onReleaseError', async () => {
      const { faulty, lw, reported } = client()
      const failure = new TypeError('the job failed')
      await expect(
        lw.withLock('fails', async () => {
          faulty.failReleases(1)
          throw failure
        }),
      ).rejects.toBe(failure)
      expect(reported.map((r) => r.error)).toEqual([expect.any(BackendError)])
    })

    it('await using: a failed release at the end of the scope neither throws nor hides the body’s error', async () => {
      const { faulty, lw, reported } = client()
      const body = async (fail: boolean): Promise<string> => {
        await using lock = await lw.acquire(fail ? 'using-fails' : 'using-ok', { ttl: '10s' })
        faulty.failReleases(1)
        if (fail) throw new RangeError(`body failed holding ${lock.fence}`)
        return 'done'
      }
      await expect(body(false)).resolves.toBe('done')
      await expect(body(true)).rejects.toBeInstanceOf(RangeError)
      expect(reported.map((r) => r.key)).toEqual(['using-ok', 'using-fails'])
    })

    it('once: a successful run resolves with its result despite a failed release, reported to onReleaseError', async () => {
      const { faulty, lw, reported } = client()
      const run = lw.once({ key: 'once' }, async () => {
        faulty.failReleases(1)
        return 'ran'
      })
      await expect(run()).resolves.toBe('ran')
      expect(reported.map((r) => r.key)).toEqual(['once'])
    })

    it('cached: the computing call resolves with the value despite a failed release of the compute lock, reported to onReleaseError', async () => {
      const { faulty, lw, reported } = client()
      const price = lw.cached({ key: 'price', ttl: '10s' }, async () => {
        faulty.failReleases(1)
        return 42
      })
      await expect(price()).resolves.toBe(42)
      await expect(price()).resolves.toBe(42)
      expect(reported.map((r) => r.key)).toEqual(['price'])
    })

    it('every: a failed release of the run lock goes to onError on its own, after the job’s own error', async () => {
      const { faulty, lw } = client()
      const errors: unknown[] = []
      const failure = new Error('the job failed')
      let runs = 0
      const job = lw.every('tick', { interval: 300, onError: (error) => errors.push(error) }, async () => {
        runs++
        faulty.failReleases(1)
        throw failure
      })
      const until = performance.now() + 5_000
      while (errors.length < 2 && performance.now() < until) await sleep(20)
      await job.stop()
      expect(runs).toBeGreaterThanOrEqual(1)
      expect(errors.slice(0, 2)).toEqual([failure, expect.any(BackendError)])
    })
  })
}
