/**
 * `pnpm bench`: lockwork against the raw floor and its peers, per backend,
 * interleaved in one run. See bench/README.md for what each row means.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ContenderInfo } from './child/protocol.js'
import { Child } from './children.js'
import { BACKENDS, type BackendName, type Budget, budgetFor, parseBenchArgs, SECTIONS, USAGE } from './cli.js'
import { type CrowdOptions, runCrowds } from './crowd.js'
import { evaluateGoals } from './goals.js'
import { runHandoffs } from './handoff.js'
import { describeMachine, packageVersions } from './machine.js'
import { type BackendSuite, runPairs } from './pairs.js'
import { fmt, fullReport, goalTable, machineLine, ratio, summaryTable } from './report.js'
import type { Results } from './results.js'
import { inCi, postgresUrl, probePostgres, probeRedis, redisUrl } from './services.js'
import { runStampedes, STRATEGIES } from './stampede.js'
import { type BenchCluster, deleteEtcdKeys, etcdSuite, openBenchCluster } from './suites/etcd.js'
import { memorySuite } from './suites/memory.js'
import { withOwnProcessRows } from './suites/own-process.js'
import { dropPostgresObjects, postgresSuite } from './suites/postgres.js'
import { connectRedis, deleteRedisKeys, redisSuite } from './suites/redis.js'
import { sqliteDirectory, sqliteSuite } from './suites/sqlite.js'
import { ratiosSvg } from './svg.js'
import { openTarget, type RunConfig } from './targets.js'

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url))
const startedAt = performance.now()

/** A progress line on stderr, stamped with the time since the start. */
function progress(message: string): void {
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1).padStart(6)
  process.stderr.write(`[${seconds}s] ${message}\n`)
}

/** Starts a process that spins on one core until it is killed (`--busy`). */
function startSpinner(): ChildProcess {
  const spinner = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' })
  spinner.unref()
  return spinner
}

/** Stops the spinner started by {@link startSpinner} and waits until it has exited. */
async function stopSpinner(spinner: ChildProcess): Promise<void> {
  if (spinner.exitCode !== null || spinner.signalCode !== null) return
  const exited = new Promise<void>((resolve) => spinner.once('exit', () => resolve()))
  spinner.kill('SIGKILL')
  await exited
}

/** A line nobody can miss. */
function loud(message: string): void {
  process.stderr.write(`\n⚠️  ${message}\n\n`)
}

async function main(): Promise<number> {
  const options = parseBenchArgs(process.argv.slice(2))
  if (options.help) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  const budget: Budget = budgetFor(options.quick)
  const complete =
    !options.quick &&
    !options.busy &&
    options.backends.length === BACKENDS.length &&
    options.sections.length === SECTIONS.length
  const stem = complete ? 'latest' : options.busy ? 'busy' : 'quick'
  const jsonPath = options.jsonPath ?? join(RESULTS_DIR, `${stem}.json`)
  const runId = randomBytes(4).toString('hex')
  const keyPrefix = `bench-${runId}:`
  const sqlite = sqliteDirectory()
  let config: RunConfig = { runId, sqliteDir: sqlite.dir }
  let failures = 0

  const results: Results = {
    schema: 1,
    generatedAt: new Date().toISOString(),
    mode: options.quick ? 'quick' : 'full',
    ...(options.busy ? { busy: true } : {}),
    durationSec: 0,
    machine: describeMachine(),
    versions: packageVersions(),
    servers: {},
    skipped: [],
    budget,
    uncontended: {},
    concurrency: {},
    handoff: [],
    stampede: [],
    crowd: [],
    goals: [],
    notes: [],
  }
  results.servers.sqlite = results.versions.sqlite ?? 'unknown'
  progress(`lockwork bench (${results.mode}, run ${runId}) on ${machineLine(results)}`)

  // Which backends can run.
  const backends: BackendName[] = []
  let etcd: BenchCluster | undefined
  for (const backend of options.backends) {
    if (backend === 'redis' || backend === 'postgres') {
      const probe = backend === 'redis' ? await probeRedis() : await probePostgres()
      const url = backend === 'redis' ? redisUrl : postgresUrl.replace(/:[^:@/]*@/, ':***@')
      if (!probe.ok) {
        const reason = `no ${backend} at ${url} (${probe.reason})`
        if (inCi) throw new Error(`${backend} is required under CI=true: ${reason}`)
        loud(
          `SKIPPING every ${backend} row: ${reason}. Start the server or set ${backend === 'redis' ? 'REDIS_URL' : 'DATABASE_URL'}.`,
        )
        results.skipped.push({ backend, reason })
        continue
      }
      results.servers[backend] = probe.version
    }
    if (backend === 'etcd') {
      try {
        etcd = await openBenchCluster()
      } catch (error) {
        const reason = `no etcd cluster (${describeError(error)})`
        if (inCi) throw new Error(`etcd is required under CI=true: ${reason}`)
        loud(`SKIPPING every etcd row: ${reason}. Install etcd-server or set ETCD_ENDPOINTS.`)
        results.skipped.push({ backend, reason })
        continue
      }
      results.servers.etcd = etcd.version
      config = { ...config, etcdEndpoints: etcd.endpoints }
    }
    backends.push(backend)
  }

  const cleanups: (() => Promise<void>)[] = [async () => sqlite.remove()]
  if (options.busy) {
    const spinner = startSpinner()
    progress(`--busy: a spinning process (pid ${spinner.pid ?? '?'}) keeps one core busy until the end`)
    cleanups.push(async () => stopSpinner(spinner))
  }
  if (backends.includes('redis')) {
    cleanups.push(async () => {
      const client = await connectRedis()
      await deleteRedisKeys(client, keyPrefix.slice(0, -1))
      client.disconnect()
    })
  }
  if (backends.includes('postgres')) cleanups.push(() => dropPostgresObjects(runId))
  const etcdCluster = etcd
  if (etcdCluster !== undefined) {
    cleanups.push(async () => {
      await deleteEtcdKeys(etcdCluster.endpoints, `lockwork-bench-${runId}/`)
      await deleteEtcdKeys(etcdCluster.endpoints, keyPrefix)
      await etcdCluster.close()
    })
  }

  try {
    // Uncontended pairs and throughput under concurrency, one backend at a time.
    const pairSections = options.sections.filter((s) => s === 'uncontended' || s === 'concurrency')
    for (const backend of pairSections.length > 0 ? backends : []) {
      let suite: BackendSuite | undefined
      try {
        suite = await openSuite(backend, config, keyPrefix, sqlite.dir)
        for (const section of pairSections) {
          const loops = section === 'uncontended' ? 1 : budget.loops
          progress(
            `${backend}: ${section} (${suite.variants.length} variants × ${budget.rounds} rounds × ${budget.sliceMs} ms)`,
          )
          const figures = await runPairs(suite, {
            keyPrefix: `${keyPrefix}${section}:`,
            rounds: budget.rounds,
            sliceMs: budget.sliceMs,
            loops,
            onRound: (round, rounds) => {
              if (round % 4 === 0 || round === rounds) progress(`  round ${round}/${rounds}`)
            },
          })
          results[section][backend] = figures
          for (const f of figures) {
            progress(
              `  ${f.label.padEnd(48)} ${fmt(f.pairsPerSec).padStart(9)} pairs/s  p50 ${fmt(f.latencyUs.p50, 1).padStart(8)} µs  p99 ${fmt(f.latencyUs.p99, 1).padStart(9)} µs  ${ratio(f.ratio)}`,
            )
          }
        }
      } catch (error) {
        failures++
        loud(`${backend} pair benchmarks failed: ${describeError(error)}`)
        results.notes.push(`${backend}: pair benchmarks failed: ${describeError(error)}`)
      } finally {
        await suite?.close().catch(() => {})
      }
    }

    // Hand-off, stampede and crowd: two child processes.
    const multi = backends.filter((b) => b !== 'memory')
    const wantHandoff = options.sections.includes('handoff') && multi.length > 0
    const wantStampede = options.sections.includes('stampede') && backends.length > 0
    const wantCrowd = options.sections.includes('crowd') && backends.length > 0
    const memoryTarget =
      backends.includes('memory') && (wantStampede || wantCrowd) ? openTarget('memory', config) : undefined
    const crowdOptions: CrowdOptions = {
      keyPrefix,
      waiters: budget.crowdWaiters,
      sectionMs: 1,
      waitMs: 30_000,
    }
    const runCrowdRows = async (children: readonly Child[]) => {
      progress(`crowd: ${budget.crowdWaiters} waiters on one key × 1 ms sections on ${backends.join(', ')}`)
      results.crowd = await runCrowds(backends, children, memoryTarget, crowdOptions)
      for (const f of results.crowd) {
        progress(
          `  ${f.backend.padEnd(10)} ${String(f.done).padStart(5)} through, ${f.timedOut} timed out in ${fmt(f.totalMs / 1000, 1)} s  ${fmt(f.attemptsPerHandoff, 2)} attempts, ${fmt(f.wakeUpsPerHandoff, 2)} wake-ups per hand-off`,
        )
      }
    }
    const strategies = STRATEGIES
    if (options.sections.includes('handoff') && backends.includes('memory')) {
      results.notes.push('memory has no hand-off row: it serves one process')
    }
    if (wantHandoff || ((wantStampede || wantCrowd) && multi.length > 0)) {
      progress('starting two child processes')
      const children: [Child, Child] = [new Child('A'), new Child('B')]
      try {
        const inits = await Promise.all(
          children.map((child) => child.call({ op: 'init', config, backends: multi })),
        )
        const contenders: readonly ContenderInfo[] = inits[0]?.contenders ?? []
        if (wantHandoff) {
          progress(`hand-off: ${contenders.length} contenders × ${budget.handoffs} hand-offs, interleaved`)
          results.handoff = await runHandoffs(children, contenders, {
            keyPrefix,
            handoffs: budget.handoffs,
            perRound: budget.handoffsPerRound,
            onRound: (round, rounds) => {
              if (round % 3 === 0 || round === rounds) progress(`  round ${round}/${rounds}`)
            },
          })
          for (const f of results.handoff) {
            progress(
              `  ${`${f.backend} ${f.label}`.padEnd(56)} p50 ${fmt(f.latencyUs.p50).padStart(8)} µs  p99 ${fmt(f.latencyUs.p99).padStart(9)} µs  ${ratio(f.ratioToFloor)} floor`,
            )
          }
        }
        if (wantStampede) {
          progress(
            `stampede: ${strategies.join(', ')} on ${backends.join(', ')} × ${budget.stampedeRuns} runs`,
          )
          results.stampede = await runStampedes(backends, children, memoryTarget, {
            keyPrefix,
            runs: budget.stampedeRuns,
            callers: budget.stampedeCallers,
            computeMs: budget.computeMs,
            strategies,
            onRun: (run, runs) => progress(`  run ${run}/${runs}`),
          })
          for (const f of results.stampede) {
            progress(
              `  ${`${f.backend} ${f.label}`.padEnd(40)} computations ${f.computations.join(',').padEnd(16)} p50 ${fmt(f.latencyMs.p50)} ms  p99 ${fmt(f.latencyMs.p99)} ms`,
            )
          }
        }
        if (wantCrowd) await runCrowdRows(children)
      } catch (error) {
        failures++
        loud(`hand-off/stampede/crowd failed: ${describeError(error)}`)
        results.notes.push(`hand-off/stampede/crowd failed: ${describeError(error)}`)
      } finally {
        await Promise.all(children.map((child) => child.close()))
        await memoryTarget?.close()
      }
    } else if (memoryTarget) {
      if (wantStampede) {
        results.stampede = await runStampedes(backends, [], memoryTarget, {
          keyPrefix,
          runs: budget.stampedeRuns,
          callers: budget.stampedeCallers,
          computeMs: budget.computeMs,
          strategies,
        })
      }
      if (wantCrowd) await runCrowdRows([])
      await memoryTarget.close()
    }
  } finally {
    for (const cleanup of cleanups) {
      await cleanup().catch((error: unknown) => loud(`cleanup failed: ${describeError(error)}`))
    }
  }

  results.goals = evaluateGoals(results)
  results.durationSec = (performance.now() - startedAt) / 1000
  const report = fullReport(results)
  process.stdout.write(`\n${report}`)

  mkdirSync(dirname(jsonPath), { recursive: true })
  mkdirSync(RESULTS_DIR, { recursive: true })
  writeFileSync(jsonPath, `${JSON.stringify(results, jsonReplacer, 2)}\n`)
  writeFileSync(join(RESULTS_DIR, `${stem}.md`), report)
  writeFileSync(join(RESULTS_DIR, stem === 'latest' ? 'ratios.svg' : 'quick-ratios.svg'), ratiosSvg(results))
  if (complete) writeFileSync(join(RESULTS_DIR, 'README-section.md'), readmeSection(results))
  progress(`wrote ${jsonPath}`)
  return failures > 0 ? 1 : 0
}

async function openSuite(
  backend: BackendName,
  config: RunConfig,
  keyPrefix: string,
  dir: string,
): Promise<BackendSuite> {
  switch (backend) {
    case 'memory':
      return withOwnProcessRows(await memorySuite(), 'memory', dir)
    case 'sqlite':
      return withOwnProcessRows(await sqliteSuite(dir), 'sqlite', dir)
    case 'redis':
      return redisSuite(keyPrefix.slice(0, -1))
    case 'postgres':
      return postgresSuite(config.runId)
    case 'etcd':
      if (config.etcdEndpoints === undefined) throw new Error('etcd has no endpoints in this run')
      return etcdSuite(config.etcdEndpoints, keyPrefix)
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** Rounds floats in the JSON to 3 decimals (µs and ratios need no more). */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isInteger(value))
    return Number.isFinite(value) ? Math.round(value * 1000) / 1000 : null
  return value
}

/** The "Benchmarks" section for the root README. */
function readmeSection(results: Results): string {
  return [
    '## Benchmarks',
    '',
    '`pnpm bench` measures every backend through the public API against the raw floor (the least a lock can do with the same driver) and against its peers, interleaved in one run. Ratios are medians of per-round ratios: they matter more than the absolute figures, which drift on a shared machine.',
    '',
    `Latest full run: ${machineLine(results)}.`,
    '',
    summaryTable(results),
    '',
    "Floors: memory = node-cache get/set/get/del; sqlite = a raw WAL upsert + delete with better-sqlite3; redis = `SET NX PX` + `EVALSHA` compare-and-delete on one ioredis connection; postgres = the bare lease-table upsert (drawing a fence) + owner-checked delete in the same commit mode (the advisory lock of the pair table is a reference: it writes nothing). Hand-off: release → the other process's acquire resolves, against a bare PUBLISH → SUBSCRIBE (Redis) or NOTIFY → LISTEN (PostgreSQL). Stampede: cold key, 200 ms computation, 2 processes × 50 callers (memory 1 × 100).",
    '',
    '### Goals',
    '',
    goalTable(results.goals),
    '',
    'Every row, the 64-loop throughput and the peers in full: [bench/results/latest.md](bench/results/latest.md); chart: [bench/results/ratios.svg](bench/results/ratios.svg); method and how to read the ratios: [bench/README.md](bench/README.md).',
    '',
  ].join('\n')
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    loud(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    process.exitCode = 1
  },
)
