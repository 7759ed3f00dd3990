#!/usr/bin/env node
// `pnpm mutation [stryker options]`: runs StrykerJS with ./stryker.config.mjs
// from the repository root (extra options, e.g. `--mutate <file>`, pass
// through), then summarises reports/mutation/mutation.json per package into
// reports/mutation/summary.md: the score and every mutant that survived.
//
// `pnpm mutation --summary-only` re-reads an existing report. `pnpm mutation:sqlite`
// and `pnpm mutation:core` run ./stryker.sqlite.config.mjs and ./stryker.core.config.mjs
// (one package against the suite on one backend).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { outOfReach } from './out-of-reach.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
const argv = process.argv.slice(2).filter((arg) => arg !== '--')
// `--config <file>`: another configuration (e.g. ./stryker.sqlite.config.mjs) instead of ./stryker.config.mjs.
const configAt = argv.indexOf('--config')
const config =
  configAt === -1
    ? relative(root, fileURLToPath(new URL('./stryker.config.mjs', import.meta.url)))
    : argv.splice(configAt, 2)[1]
const reportDir = join(root, 'reports', 'mutation')
const report = join(reportDir, 'mutation.json')

const args = argv
const summaryOnly = args.includes('--summary-only')

if (!summaryOnly) {
  const stryker = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'stryker.cmd' : 'stryker')
  const started = performance.now()
  const run = spawnSync(stryker, ['run', config, ...args], { cwd: root, stdio: 'inherit' })
  const minutes = ((performance.now() - started) / 60_000).toFixed(1)
  process.stdout.write(`\nStryker finished in ${minutes} min (exit ${run.status})\n`)
  if (run.status !== 0) process.exit(run.status ?? 1)
}

if (!existsSync(report)) {
  process.stderr.write(`no report at ${relative(root, report)}: run pnpm mutation first\n`)
  process.exit(1)
}

/** Which package a mutated file belongs to, for the per-package score. */
const group = (file) =>
  file.includes('backend-memory')
    ? '@lockwork/memory'
    : file.includes('backend-sqlite')
      ? '@lockwork/sqlite'
      : '@lockwork/core (wait.ts, lock.ts)'

/**
 * Survivors shown to be equivalent (no test can tell them from the original), with the reason.
 * An entry matches a mutant by file, mutator, replacement (when given) and a part of its line
 * (the whole line, trimmed, with `wholeLine: true`), and by the lines right before it (trimmed,
 * in order) when `linesBefore` is given, for lines such as `try {` that occur more than once.
 */
const equivalents = JSON.parse(readFileSync(new URL('./equivalent-mutants.json', import.meta.url), 'utf8'))
const equivalentFor = (s) =>
  equivalents.find(
    (e) =>
      e.file === s.file &&
      e.mutator === s.mutator &&
      (e.wholeLine ? s.original === e.line : s.original.includes(e.line)) &&
      (e.linesBefore === undefined ||
        e.linesBefore.every((l, i) => l === s.before[s.before.length - e.linesBefore.length + i])) &&
      (e.replacement === undefined || e.replacement === s.replacement),
  )

const DETECTED = new Set(['Killed', 'Timeout'])
const UNDETECTED = new Set(['Survived', 'NoCoverage'])
const { files } = JSON.parse(readFileSync(report, 'utf8'))
const groups = new Map()
const survivors = []
const staticMutants = []
const unreached = new Map()
for (const [file, { mutants, source }] of Object.entries(files)) {
  const name = relative(root, join(root, file))
  const g = groups.get(group(name)) ?? {
    valid: 0,
    detected: 0,
    undetected: 0,
    outOfReach: 0,
    outOfReachDetected: 0,
    equivalent: 0,
    invalid: 0,
  }
  groups.set(group(name), g)
  const lines = source.split('\n')
  for (const mutant of mutants) {
    if (mutant.status === 'Ignored' && /static/i.test(mutant.statusReason ?? '')) {
      // Not run at all (`--ignoreStatic`): counted in no score, listed for judging by reading.
      g.notRunStatic = (g.notRunStatic ?? 0) + 1
      const { line } = mutant.location.start
      staticMutants.push({
        file: name,
        line,
        status: 'static, not run',
        mutator: mutant.mutatorName,
        replacement: (mutant.replacement ?? '').replace(/\s+/g, ' ').slice(0, 100),
        original: (lines[line - 1] ?? '').trim().slice(0, 120),
        before: lines.slice(Math.max(0, line - 4), line - 1).map((l) => l.trim()),
      })
      continue
    }
    if (mutant.status === 'Ignored' && mutant.statusReason !== undefined) {
      // Not mutated at all because out of reach: counted as undetected in Stryker's score, for comparable numbers.
      g.valid++
      g.undetected++
      g.outOfReach++
      const list = unreached.get(mutant.statusReason) ?? []
      list.push(`${name.replace(/^.*\//, '')}:${mutant.location.start.line}`)
      unreached.set(mutant.statusReason, list)
      continue
    }
    const detected = DETECTED.has(mutant.status)
    if (!detected && !UNDETECTED.has(mutant.status)) {
      g.invalid++
      continue
    }
    g.valid++
    if (detected) g.detected++
    else g.undetected++
    const { line, column } = mutant.location.start
    const reason = outOfReach(name, source, line, column)
    if (reason !== undefined) {
      g.outOfReach++
      if (detected) g.outOfReachDetected++
      else {
        const list = unreached.get(reason) ?? []
        list.push(`${name.replace(/^.*\//, '')}:${line}`)
        unreached.set(reason, list)
      }
      continue
    }
    if (detected) continue
    const survivor = {
      file: name,
      line,
      status: mutant.status,
      mutator: mutant.mutatorName,
      replacement: (mutant.replacement ?? '').replace(/\s+/g, ' ').slice(0, 100),
      original: (lines[line - 1] ?? '').trim().slice(0, 120),
      before: lines.slice(Math.max(0, line - 4), line - 1).map((l) => l.trim()),
    }
    survivor.equivalent = equivalentFor(survivor)
    if (survivor.equivalent) g.equivalent++
    survivors.push(survivor)
  }
}

const pct = (part, all) => `${(all === 0 ? 100 : (100 * part) / all).toFixed(1)} %`
const out = [
  '# Mutation score of the conformance suite',
  '',
  'The raw score counts every mutant that type-checks: killed or timed out / all, where the rest',
  'includes mutants no test ran and code out of reach. The score on reachable code leaves out the code',
  'the suite cannot reach through the contract (listed below with the reason) and the survivors shown to',
  'be equivalent.',
  '',
  '| package | mutants | killed | not killed | raw score | out of reach | equivalent | score on reachable code |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
]
for (const [name, g] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
  const reachable = g.valid - g.outOfReach - g.equivalent
  out.push(
    `| ${name} | ${g.valid} | ${g.detected} | ${g.undetected} | ${pct(g.detected, g.valid)} | ${g.outOfReach} | ${g.equivalent} | ${pct(g.detected - g.outOfReachDetected, reachable)} |`,
  )
}
survivors.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)
const entry = (s) =>
  `- \`${s.file}:${s.line}\` ${s.mutator}${s.status === 'NoCoverage' ? ' (no coverage)' : ''}: \`${s.original}\` → \`${s.replacement}\``
const unexplained = survivors.filter((s) => !s.equivalent)
out.push('', `## Survivors not shown equivalent (${unexplained.length})`, '')
for (const s of unexplained) out.push(entry(s))
out.push('', `## Equivalent survivors (${survivors.length - unexplained.length})`, '')
for (const s of survivors.filter((s) => s.equivalent)) out.push(`${entry(s)}  \n  ${s.equivalent.reason}`)
out.push('', '## Code out of the suite’s reach (mutants not killed)', '')
for (const [reason, where] of unreached) out.push(`- ${reason}: ${where.length} (${where.join(', ')})`)
if (staticMutants.length > 0) {
  out.push(
    '',
    `## Static mutants not run (${staticMutants.length}, \`--ignoreStatic\`; in no score above)`,
    '',
    'Code that runs while instances are created, outside any one case: each such mutant would run the',
    'whole suite. Judge them by reading, or run again without `--ignoreStatic`.',
    '',
  )
  staticMutants.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)
  for (const s of staticMutants) {
    const equivalent = equivalentFor(s)
    out.push(equivalent ? `${entry(s)}  \n  ${equivalent.reason}` : entry(s))
  }
}
const summary = `${out.join('\n')}\n`
mkdirSync(reportDir, { recursive: true })
writeFileSync(join(reportDir, 'summary.md'), summary)
process.stdout.write(
  `\n${summary}\nFull report: reports/mutation/index.html; this summary: reports/mutation/summary.md\n`,
)
