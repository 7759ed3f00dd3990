import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLockwork, type JobSummary, LockLostError, type Lockwork } from '@lockwork/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runBin, runCli, startCli, startWorker, until } from './cli-process.js'
import type { TestStore } from './stores.js'

/**
 * A case's time limit. Each `lockwork` (or worker) start costs about 1 s of CPU
 * (Node.js, tsx's module hooks, the TypeScript sources), and a case starts up to
 * ten of them, mostly one after another: at a load average of 25–30 on two cores
 * a start takes 10 s and more, and the 60 s limits ran out. A limit only guards
 * against a hang; no case measures speed with it.
 */
const CASE_TIMEOUT_MS = 180_000

/** The limit of the case that starts a worker and runs `lockwork` against it four times. */
const WORKER_CASE_TIMEOUT_MS = 240_000

/** A node -e script as one argument list. */
function node(script: string, ...args: string[]): string[] {
  return [process.execPath, '-e', script, ...args]
}

/**
 * The command line's cases on one store, skipped unless `available`. Each
 * store's cases are a test file of their own (`cli-<store>.test.ts`), so the
 * stores run side by side instead of one after another (each spends most of
 * its time starting `lockwork` processes and waiting for them).
 */
export function describeLockworkOn(makeStore: () => TestStore, available = true): void {
  const store = makeStore()
  const work = mkdtempSync(join(tmpdir(), 'lockwork-cli-work-'))
  afterAll(() => rmSync(work, { recursive: true, force: true }))

  describe.skipIf(!available)(`lockwork on ${store.name}`, () => {
    let lw: Lockwork
    /** The command line's arguments for the store: URL, namespace flags and the application's prefix. */
    const at = (command: string, ...rest: string[]) => [
      command,
      store.url,
      ...rest,
      ...store.flags,
      '--prefix',
      'app',
    ]

    beforeAll(() => {
      lw = createLockwork({ backend: store.backend(), prefix: 'app', label: 'cli-test@pod-1' })
    })
    afterAll(async () => {
      await lw.close()
      await store.cleanup()
    })

    it(
      'locks lists what another process holds: a table, --json, --starts-with',
      async () => {
        const one = await lw.acquire('orders:1', { ttl: '60s' })
        const two = await lw.acquire('orders:2', { ttl: '60s' })
        const odd = await lw.acquire('users:%_*?[x]', { ttl: '60s' })
        const [text, json, orders] = await Promise.all([
          runCli(at('locks')),
          runCli(at('locks', '--json')),
          runCli(at('locks', '--json', '--starts-with', 'orders:')),
        ])
        expect(text.code, text.stderr).toBe(0)
        const lines = text.stdout.trim().split('\n')
        expect(lines[0]).toMatch(/^KEY\s+HOLDER\s+FENCE\s+EXPIRES IN$/)
        expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).toEqual([
          'orders:1',
          'orders:2',
          'users:%_*?[x]',
        ])
        expect(lines[1]).toContain(String(one.fence))
        // The holder column names the holding client by its label, host and pid, not by its token.
        expect(lines[1]).toContain(`cli-test@pod-1 host=`)
        expect(lines[1]).toContain(`pid=${process.pid}`)
        expect(lines[1]).not.toContain(one.owner.slice(0, 36))

        expect(json.code, json.stderr).toBe(0)
        const listed = JSON.parse(json.stdout) as {
          key: string
          fence: number
          owner: string
          remainingMs: number
        }[]
        expect(listed.map((lock) => [lock.key, lock.fence])).toEqual([
          ['orders:1', one.fence],
          ['orders:2', two.fence],
          ['users:%_*?[x]', odd.fence],
        ])
        for (const lock of listed) {
          expect((lock as { holder?: string }).holder).toMatch(/^cli-test@pod-1 host=\S+ pid=\d+$/)
          expect(lock.remainingMs).toBeGreaterThan(30_000)
          expect(typeof lock.owner).toBe('string')
        }
        expect((JSON.parse(orders.stdout) as { key: string }[]).map((lock) => lock.key)).toEqual([
          'orders:1',
          'orders:2',
        ])
        await Promise.all([one.release(), two.release(), odd.release()])
      },
      CASE_TIMEOUT_MS,
    )

    it(
      'another process: locks shows its lock and label, jobs its every() runs and where they ran, release --force takes the lock away',
      async () => {
        const worker = startWorker(JSON.stringify(store.spec))
        try {
          await until(
            'the worker to hold its lock and run its jobs',
            () => worker.stdout().includes('ready'),
            60_000,
          )
          await until(
            'both jobs to be recorded',
            async () => (await lw.jobs()).filter((job) => job.lastRun !== undefined).length === 2,
            30_000,
          )
          const pid = worker.child.pid
          const [locks, jobs, jobsJson] = await Promise.all([
            runBin(at('locks')),
            runBin(at('jobs')),
            runBin(at('jobs', '--json')),
          ])
          expect(locks.code, locks.stderr).toBe(0)
          const lockLine = locks.stdout.split('\n').find((line) => line.startsWith('held-by-worker '))
          expect(lockLine).toContain(`worker@pod-9 host=`)
          expect(lockLine).toContain(`pid=${pid}`)

          expect(jobs.code, jobs.stderr).toBe(0)
          const lines = jobs.stdout.trim().split('\n')
          expect(lines[0]).toMatch(/^NAME\s+SCHEDULE\s+LAST RUN\s+OUTCOME\s+DURATION\s+WHERE\s+NEXT RUN$/)
          expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).toEqual(['cleanup', 'report'])
          expect(lines[1]).toContain('every 1h')
          expect(lines[1]).toContain('failed: Error: no space left on device')
          expect(lines[2]).toMatch(/ ran /)
          expect(lines[2]).toContain(`worker@pod-9 host=`)
          expect(lines[2]).toContain(`pid=${pid}`)
          expect(lines[2]).toMatch(/ in \S+$/)

          expect(jobsJson.code, jobsJson.stderr).toBe(0)
          const listed = JSON.parse(jobsJson.stdout) as JobSummary[]
          const report = listed.find((job) => job.name === 'report')
          expect(report?.schedule).toEqual({ kind: 'interval', intervalMs: 3_600_000 })
          expect(report?.lastRun).toMatchObject({ outcome: 'ran', label: { name: 'worker@pod-9', pid } })
          expect(report?.nextRunAt).toBeGreaterThan(report?.lastRun?.scheduledAt ?? Infinity)
          const cleanup = listed.find((job) => job.name === 'cleanup')
          expect(cleanup?.lastRun?.error).toBe('Error: no space left on device')

          const [one, none] = await Promise.all([
            runCli(at('jobs', 'cleanup')),
            runCli(at('jobs', 'no-such-job')),
          ])
          expect(one.code, one.stderr).toBe(0)
          expect(one.stdout.split('\n')[0]).toMatch(/^cleanup: every 1h, next run in /)
          expect(one.stdout).toContain('failed: Error: no space left on device')
          expect(none.code).toBe(1)
          expect(none.stderr).toContain('no job no-such-job recorded')

          const released = await runBin(at('release', 'held-by-worker', '--force'))
          expect(released.code, released.stderr).toBe(0)
          expect(released.stdout).toContain('was held by worker@pod-9')
          // The worker notices at its next extension (every ttl/3); meanwhile the key is free for anyone.
          const taken = await lw.tryAcquire('held-by-worker', { ttl: '30s' })
          expect(taken).not.toBeNull()
          await until('the worker to see its lock lost', () => worker.stdout().includes('lost'), 30_000)
          await taken?.release()
        } finally {
          worker.child.kill('SIGTERM')
          await worker.exited
        }
      },
      WORKER_CASE_TIMEOUT_MS,
    )

    it(
      'peek shows the holder (exit 1 when free); cache get and del',
      async () => {
        const held = await lw.acquire('report', { ttl: '60s' })
        const price = lw.cached({ key: () => 'price:ACME', ttl: '60s' }, async () => ({ amount: 42 }))
        await price()
        const [peekHeld, peekFree, cacheGet] = await Promise.all([
          runCli(at('peek', 'report', '--json')),
          runCli(at('peek', 'nobody-holds-this')),
          runCli(at('cache', 'get', 'price:ACME', '--json')),
        ])
        expect(peekHeld.code, peekHeld.stderr).toBe(0)
        expect(JSON.parse(peekHeld.stdout)).toMatchObject({ key: 'report', fence: held.fence })
        expect(peekFree.code).toBe(1)
        expect(peekFree.stderr).toContain('nobody-holds-this is free')
        expect(cacheGet.code, cacheGet.stderr).toBe(0)
        expect(JSON.parse(cacheGet.stdout).value).toContain('42')

        expect((await runCli(at('cache', 'del', 'price:ACME'))).code).toBe(0)
        expect((await runCli(at('cache', 'get', 'price:ACME'))).code).toBe(1)
        await held.release()
      },
      CASE_TIMEOUT_MS,
    )

    it(
      'release refuses without --force; with it the key is freed and the holder’s signal aborts',
      async () => {
        const stuck = await lw.acquire('stuck', { ttl: '3s', autoExtend: true })
        const refused = await runCli(at('release', 'stuck'))
        expect(refused.code).toBe(2)
        expect(refused.stderr).toContain('--force')
        expect((await lw.peek('stuck'))?.fence).toBe(stuck.fence)

        const released = await runCli(at('release', 'stuck', '--force'))
        expect(released.code, released.stderr).toBe(0)
        expect(released.stdout).toContain(`fence ${stuck.fence}`)
        // The holder notices at its next extension (every ttl/3).
        await until('the holder to see its lease lost', () => stuck.signal.aborted)
        expect(stuck.signal.reason).toBeInstanceOf(LockLostError)
        expect(await lw.peek('stuck')).toBeNull()
        expect((await runCli(at('release', 'stuck', '--force'))).code).toBe(1)
      },
      CASE_TIMEOUT_MS,
    )

    it(
      'exec runs the command under the lock with LOCKWORK_FENCE and returns its exit code',
      async () => {
        const script = `
      console.log(JSON.stringify({ fence: process.env.LOCKWORK_FENCE, key: process.env.LOCKWORK_KEY }))
      process.exit(7)`
        const first = await runCli([...at('exec', 'nightly'), '--', ...node(script)])
        expect(first.code, first.stderr).toBe(7)
        const seen = JSON.parse(first.stdout) as { fence: string; key: string }
        expect(seen.key).toBe('nightly')
        expect(Number(seen.fence)).toBeGreaterThan(0)
        expect(await lw.peek('nightly')).toBeNull()

        const second = await runCli([...at('exec', 'nightly'), '--', ...node(script)])
        expect(Number((JSON.parse(second.stdout) as { fence: string }).fence)).toBeGreaterThan(
          Number(seen.fence),
        )
        const missing = await runCli([...at('exec', 'nightly'), '--', 'no-such-command-lockwork'])
        expect(missing.code).toBe(127)
        expect(await lw.peek('nightly')).toBeNull()
      },
      CASE_TIMEOUT_MS,
    )

    it(
      'a second exec fails busy with --wait 0 and runs after the first with a wait',
      async () => {
        const go = join(work, `${store.name}-go`)
        const log = join(work, `${store.name}-log`)
        writeFileSync(log, '')
        const first = startCli([
          ...at('exec', 'deploy'),
          '--',
          ...node(
            `const fs = require('fs')
        const [go, log] = process.argv.slice(1)
        const timer = setInterval(() => {
          if (!fs.existsSync(go)) return
          clearInterval(timer)
          fs.appendFileSync(log, 'first-end:' + process.env.LOCKWORK_FENCE + '\\n')
        }, 20)`,
            go,
            log,
          ),
        ])
        await until('the first exec to hold the key', async () => (await lw.peek('deploy')) !== null)

        const busy = await runCli([...at('exec', 'deploy'), '--', ...node('process.exit(0)')])
        expect(busy.code).toBe(4)
        expect(busy.stderr).toContain('deploy is held')

        const second = startCli([
          ...at('exec', 'deploy', '--wait', '60s'),
          '--',
          ...node(
            `require('fs').appendFileSync(process.argv[1], 'second-start:' + process.env.LOCKWORK_FENCE + '\\n')`,
            log,
          ),
        ])
        await new Promise((resolve) => setTimeout(resolve, 1_500))
        expect(readFileSync(log, 'utf8')).toBe('')
        writeFileSync(go, '')
        const [firstExit, secondExit] = await Promise.all([first.exited, second.exited])
        expect(firstExit.code, firstExit.stderr).toBe(0)
        expect(secondExit.code, secondExit.stderr).toBe(0)
        const lines = readFileSync(log, 'utf8').trim().split('\n')
        expect(lines.map((line) => line.split(':')[0])).toEqual(['first-end', 'second-start'])
        const fences = lines.map((line) => Number(line.split(':')[1]))
        expect(fences[1]).toBeGreaterThan(fences[0] as number)
      },
      CASE_TIMEOUT_MS,
    )

    it(
      'exec passes SIGTERM on to the command, returns its exit code and releases the key',
      async () => {
        const marker = join(work, `${store.name}-term`)
        const run = startCli([
          ...at('exec', 'worker'),
          '--',
          ...node(
            `process.on('SIGTERM', () => { require('fs').writeFileSync(process.argv[1], 'term'); process.exit(42) })
        console.log('ready')
        setInterval(() => {}, 1000)`,
            marker,
          ),
        ])
        await until('the command to start', () => run.stdout().includes('ready'))
        run.child.kill('SIGTERM')
        const exit = await run.exited
        expect(exit.code, exit.stderr).toBe(42)
        expect(existsSync(marker)).toBe(true)
        expect(await lw.peek('worker')).toBeNull()
      },
      CASE_TIMEOUT_MS,
    )

    // The loss path is the core's (lock.signal), the same on every store: one store is enough.
    it.runIf(store.name === 'sqlite')(
      'exec stops the command with SIGTERM and exits 6 when the lease is taken away',
      async () => {
        const marker = join(work, `${store.name}-lost`)
        const run = startCli([
          ...at('exec', 'fragile', '--ttl', '1500ms'),
          '--',
          ...node(
            `process.on('SIGTERM', () => { require('fs').writeFileSync(process.argv[1], 'term'); process.exit(0) })
          console.log('ready')
          setInterval(() => {}, 1000)`,
            marker,
          ),
        ])
        await until('the command to start', () => run.stdout().includes('ready'))
        expect(await lw.forceRelease('fragile')).toBe(true)
        const exit = await run.exited
        expect(exit.code, exit.stderr).toBe(6)
        expect(exit.stderr).toContain('lost the lease on fragile')
        expect(existsSync(marker)).toBe(true)
      },
      CASE_TIMEOUT_MS,
    )
  })
}
