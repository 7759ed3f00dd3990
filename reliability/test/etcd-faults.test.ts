import { randomBytes } from 'node:crypto'
import { BackendError, createLockwork, type Lock, type LockBackend, LockTimeoutError } from '@lockwork/core'
import { createEtcdBackend } from '@lockwork/etcd'
import { Etcd3 } from 'etcd3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EtcdCluster, etcdAvailable } from '../../packages/backend-etcd/test/etcd-cluster.js'
import { type BackendTarget, randomPrefix } from '../src/backends.js'
import { sleep } from '../src/clock.js'
import { runFuzz } from '../src/fuzz-driver.js'
import { checkHistory, summarize } from '../src/history-checker.js'
import { figure, spread } from '../src/report.js'

/** The deadline of every etcd call in these tests (the backend's default). */
const OPERATION_TIMEOUT_MS = 3_000

const enabled = etcdAvailable('reliability etcd faults (leader SIGKILL, member SIGSTOP, quorum loss)')

/** What a contention run saw. */
interface Contention {
  /** Entries while another holder still believed it held (its signal not aborted). */
  overlaps: number
  /** Entries whose fence was not larger than the previous holder's. */
  fenceRegressions: number
  lastFence: number
  current: Lock | undefined
  /** `performance.now()` of every completed section. */
  completions: number[]
  /** Acquisitions that failed with a BackendError (the worker pauses and tries again). */
  backendErrors: number
  timeouts: number
  /** Releases that failed (the lock then frees at its ttl). */
  failedReleases: number
}

/**
 * One worker: acquire (waiting), check that nobody else believes it holds the
 * key and that the fence grew, hold 2 ms, stop believing, release; until `stop.at`.
 */
async function work(
  lw: ReturnType<typeof createLockwork>,
  key: string,
  state: Contention,
  stop: { at: number },
) {
  while (performance.now() < stop.at) {
    let lock: Lock
    try {
      lock = await lw.acquire(key, { ttl: '5s', wait: '10s' })
    } catch (error) {
      if (error instanceof BackendError) state.backendErrors++
      else if (error instanceof LockTimeoutError) state.timeouts++
      else throw error
      await sleep(20)
      continue
    }
    if (state.current !== undefined && !state.current.signal.aborted) state.overlaps++
    if (lock.fence <= state.lastFence) state.fenceRegressions++
    state.lastFence = lock.fence
    state.current = lock
    await sleep(2)
    if (state.current === lock) state.current = undefined
    state.completions.push(performance.now())
    await lock.release().catch(() => {
      state.failedReleases++
    })
  }
}

/** The longest gap between `from` and `to` in which no section completed, in ms. */
function longestGap(completions: readonly number[], from: number, to: number): number {
  let gap = 0
  let previous = from
  for (const at of [...completions].sort((a, b) => a - b)) {
    if (at < from) continue
    gap = Math.max(gap, at - previous)
    previous = at
  }
  return Math.max(gap, to - previous)
}

describe.skipIf(!enabled)('etcd: a private 3-member cluster that loses members', () => {
  let cluster: EtcdCluster
  const opened: LockBackend[] = []

  /** A new backend instance: its own etcd3 client over all three members. */
  const backend = (prefix: string): LockBackend => {
    const instance = createEtcdBackend({
      endpoints: cluster.endpoints,
      keyPrefix: prefix,
      operationTimeoutMs: OPERATION_TIMEOUT_MS,
    })
    opened.push(instance)
    return instance
  }

  beforeAll(async () => {
    cluster = await EtcdCluster.start()
  })

  afterAll(async () => {
    await Promise.allSettled(opened.map((instance) => instance.close()))
    await cluster?.stop()
  })

  /** Restarts every stopped member, resumes paused ones, and waits for quorum. */
  const heal = async () => {
    for (const member of cluster.members) {
      if (member.paused) await cluster.signal(member, 'SIGCONT')
      if (member.process === undefined) cluster.restart(member)
    }
    await cluster.waitForQuorum(30_000)
  }

  it('SIGKILL of the leader while the lock is held and contended: never a second holder while the first believes it holds, fences keep growing, work resumes', async () => {
    const prefix = randomPrefix('etcd-leader-kill')
    const key = 'contended'
    const state: Contention = {
      overlaps: 0,
      fenceRegressions: 0,
      lastFence: 0,
      current: undefined,
      completions: [],
      backendErrors: 0,
      timeouts: 0,
      failedReleases: 0,
    }
    const stop = { at: Number.POSITIVE_INFINITY }
    const clients = [0, 1, 2].map(() => createLockwork({ backend: backend(prefix), prefix: 'app:' }))
    const workers = clients.flatMap((lw) => [work(lw, key, state, stop), work(lw, key, state, stop)])
    // Kill once the contention is under way (at least 10 sections, however slow the machine is).
    const warmUntil = performance.now() + 30_000
    while (state.completions.length < 10 && performance.now() < warmUntil) await sleep(50)
    const leader = await cluster.leader()
    expect(leader).toBeDefined()
    const killedAt = performance.now()
    const until = killedAt + 7_000
    stop.at = until
    const sectionsBefore = state.completions.length
    if (leader !== undefined) await cluster.signal(leader, 'SIGKILL')
    await sleep(3_000)
    if (leader !== undefined) cluster.restart(leader)
    await Promise.all(workers)
    const after = state.completions.filter((at) => at > killedAt)
    const firstAfter = Math.min(...after)
    figure(
      'etcd leader SIGKILL under contention (3 clients × 2 workers, one key)',
      `${sectionsBefore} sections before the kill, ${after.length} after; first section ${Math.round(firstAfter - killedAt)} ms after the kill; longest pause ${Math.round(longestGap(state.completions, killedAt, until))} ms; ${state.backendErrors} failed acquires, ${state.failedReleases} failed releases (freed at the 5 s ttl), ${state.timeouts} timeouts; overlaps ${state.overlaps}, fence regressions ${state.fenceRegressions}`,
    )
    expect(state.overlaps).toBe(0)
    expect(state.fenceRegressions).toBe(0)
    expect(sectionsBefore).toBeGreaterThanOrEqual(10)
    expect(after.length).toBeGreaterThan(10)
    await heal()
  })

  it('SIGSTOP of one member: every call still settles within the operation timeout, and sequential acquire/release keeps completing through the other two', async () => {
    const prefix = randomPrefix('etcd-member-stop')
    const lw = createLockwork({ backend: backend(prefix), prefix: 'app:' })
    // Warm up: the client has talked to every member.
    for (let i = 0; i < 20; i++) await (await lw.acquire(`warm-${i}`, { ttl: '5s' })).release()
    const paused = cluster.members[0]
    if (paused === undefined) throw new Error('no member')
    await cluster.signal(paused, 'SIGSTOP')
    const stoppedAt = performance.now()
    const until = stoppedAt + 12_000
    const callMs: number[] = []
    const failures: number[] = []
    const succeededAt: number[] = []
    let successes = 0
    let i = 0
    while (performance.now() < until) {
      const began = performance.now()
      try {
        const lock = await lw.acquire(`k-${i++}`, { ttl: '5s' })
        await lock.release()
        successes++
        succeededAt.push(performance.now())
      } catch (error) {
        expect(error).toBeInstanceOf(BackendError)
        failures.push(performance.now() - stoppedAt)
      }
      callMs.push(performance.now() - began)
    }
    const lastFailure = failures.length === 0 ? 0 : Math.max(...failures)
    figure(
      'etcd one member SIGSTOPped (client over all 3 endpoints), sequential acquire+release for 12 s',
      `${successes} succeeded, ${failures.length} failed (last failure ${Math.round(lastFailure)} ms after the stop); longest stretch without a success ${Math.round(longestGap(succeededAt, stoppedAt, Math.max(until, performance.now())))} ms; acquire+release ${spread(callMs)}`,
    )
    await cluster.signal(paused, 'SIGCONT')
    // Each failed call settled within the deadline of its two etcd calls (with slack for a loaded machine).
    expect(Math.max(...callMs)).toBeLessThan(2 * OPERATION_TIMEOUT_MS + 2_000)
    expect(successes).toBeGreaterThan(failures.length)
    await heal()
  })

  it('quorum loss (2 of 3 members SIGKILLed): every operation rejects with BackendError within the operation timeout, never a false "acquired"; all works again when quorum returns', async () => {
    const prefix = randomPrefix('etcd-quorum')
    const holder = createLockwork({ backend: backend(prefix), prefix: 'app:' })
    const rival = createLockwork({ backend: backend(prefix), prefix: 'app:' })
    const held = await holder.acquire('held', { ttl: '30s' })
    const [first, second] = cluster.members
    if (first === undefined || second === undefined) throw new Error('no members')
    await Promise.all([cluster.signal(first, 'SIGKILL'), cluster.signal(second, 'SIGKILL')])

    const attempts: { name: string; run: () => Promise<unknown> }[] = [
      { name: 'acquire free', run: () => rival.tryAcquire('free') },
      { name: 'acquire held', run: () => rival.tryAcquire('held') },
      { name: 'acquire waiting', run: () => rival.acquire('held', { wait: '2s' }) },
      { name: 'extend', run: () => held.extend('30s') },
      { name: 'peek', run: () => rival.peek('held') },
      { name: 'cached', run: () => rival.cached({ key: (k: string) => k, ttl: '10s' }, async () => 1)('c') },
    ]
    const took: number[] = []
    for (const attempt of attempts) {
      const began = performance.now()
      let outcome: unknown
      try {
        outcome = await attempt.run()
      } catch (error) {
        outcome = error
      }
      took.push(performance.now() - began)
      expect(outcome, attempt.name).toBeInstanceOf(BackendError)
    }
    figure('etcd without quorum: each operation rejected with BackendError after', spread(took))
    expect(Math.max(...took)).toBeLessThan(OPERATION_TIMEOUT_MS * 2 + 2_000)

    const restartedAt = performance.now()
    cluster.restart(first)
    cluster.restart(second)
    let recovered = false
    while (!recovered && performance.now() - restartedAt < 30_000) {
      try {
        const lock = await rival.tryAcquire('free')
        expect(lock).not.toBeNull()
        expect(lock?.fence).toBeGreaterThan(held.fence)
        await lock?.release()
        recovered = true
      } catch (error) {
        expect(error).toBeInstanceOf(BackendError)
        await sleep(100)
      }
    }
    figure(
      'etcd quorum back: first successful acquire after restart',
      `${Math.round(performance.now() - restartedAt)} ms`,
    )
    expect(recovered).toBe(true)
    // The holder's lease survived the outage: the rival still cannot take it, and the holder can release it.
    expect(await rival.tryAcquire('held')).toBeNull()
    expect(await held.release()).toBe(true)
    await heal()
  })

  it('fuzz: 4 worker processes × 100 read–yield–write sections while the leader is SIGKILLed and restarted mid-run: exact count, no overlap, fences increase', async () => {
    const namespace = `fuzz-${randomBytes(4).toString('hex')}/`
    const target: BackendTarget = { name: 'etcd', endpoints: cluster.endpoints, namespace }
    const observer = new Etcd3({ hosts: cluster.endpoints })
    let faults = 'none'
    let running = true
    // Kill the leader half a second after the first lock key appears (the workers start slowly under load).
    const fault = (async () => {
      while (running) {
        const keys = await observer
          .getAll()
          .prefix(namespace)
          .keys()
          .catch(() => [])
        if (keys.length > 0) break
        await sleep(100)
      }
      if (!running) return
      await sleep(500)
      const leader = await cluster.leader()
      if (leader === undefined || !running) return
      await cluster.signal(leader, 'SIGKILL')
      await sleep(2_000)
      cluster.restart(leader)
      faults = `leader ${leader.name} SIGKILLed, restarted 2 s later`
    })()
    try {
      const sections = 100
      const result = await runFuzz(target, {
        workers: 4,
        sections,
        ttlMs: 5_000,
        autoExtend: false,
        holdMs: 0,
        waitMs: 60_000,
        tolerateBackendErrors: true,
      })
      running = false
      await fault
      const report = checkHistory(result.history, {
        expectedCount: 4 * sections,
        finalCount: result.finalCount,
      })
      figure(
        'etcd fuzz with a leader SIGKILL mid-run',
        `${summarize(report)}, count ${result.finalCount}, ${(result.ms / 1000).toFixed(1)} s; ${faults}`,
      )
      expect(faults).not.toBe('none')
      expect(report.violations.slice(0, 5)).toEqual([])
      expect(result.finalCount).toBe(4 * sections)
    } finally {
      running = false
      await fault
      observer.close()
      await heal()
    }
  }, 180_000)
})
