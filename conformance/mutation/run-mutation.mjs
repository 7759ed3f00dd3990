#!/usr/bin/env node
// `pnpm mutation [stryker options]`: runs StrykerJS with ./stryker.config.mjs
// from the repository root (extra options, e.g. `--mutate <file>`, pass
// through), then summarises reports/mutation/mutation.json per package into
// reports/mutation/summary.md: the score and every mutant that survived.
//
// `pnpm mutation --summary-only` re-reads an existing report.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const config = relative(root, fileURLToPath(new URL('./stryker.config.mjs', import.meta.url)))
const reportDir = join(root, 'reports', 'mutation')
const report = join(reportDir, 'mutation.json')

const args = process.argv.slice(2).filter((arg) => arg !== '--')
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

/** Survivors shown to be equivalent (no test can tell them from the original), with the reason. */
const equivalents = JSON.parse(readFileSync(new URL('./equivalent-mutants.json', import.meta.url), 'utf8'))
const equivalentFor = (s) =>
  equivalents.find(
    (e) =>
      e.file === s.file &&
      e.mutator === s.mutator &&
      s.original.includes(e.line) &&
      (e.replacement === undefined || e.replacement === s.replacement),
  )

const DETECTED = new Set(['Killed', 'Timeout'])
const UNDETECTED = new Set(['Survived', 'NoCoverage'])
const { files } = JSON.parse(readFileSync(report, 'utf8'))
const groups = new Map()
const survivors = []
for (const [file, { mutants, source }] of Object.entries(files)) {
  const name = relative(root, join(root, file))
  const g = groups.get(group(name)) ?? { detected: 0, undetected: 0, equivalent: 0, invalid: 0, ignored: 0 }
  groups.set(group(name), g)
  const lines = source.split('\n')
  for (const mutant of mutants) {
    if (DETECTED.has(mutant.status)) g.detected++
    else if (UNDETECTED.has(mutant.status)) {
      g.undetected++
      const line = mutant.location.start.line
      const survivor = {
        file: name,
        line,
        status: mutant.status,
        mutator: mutant.mutatorName,
        replacement: (mutant.replacement ?? '').replace(/\s+/g, ' ').slice(0, 100),
        original: (lines[line - 1] ?? '').trim().slice(0, 120),
      }
      survivor.equivalent = equivalentFor(survivor)
      if (survivor.equivalent) g.equivalent++
      survivors.push(survivor)
    } else if (mutant.status === 'Ignored') g.ignored++
    else g.invalid++
  }
}

const pct = (killed, all) => (all === 0 ? 100 : (100 * killed) / all).toFixed(1)
const out = [
  '# Mutation score of the conformance suite',
  '',
  'Killed includes timeouts; survived includes mutants no test ran (no coverage). The score without',
  'equivalents sets aside the survivors listed as equivalent, as `// Stryker disable` comments would.',
  '',
  '| package | killed | survived | of them equivalent | score | score without equivalents | type errors |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
]
for (const [name, g] of [...groups].sort(([a], [b]) => a.localeCompare(b)))
  out.push(
    `| ${name} | ${g.detected} | ${g.undetected} | ${g.equivalent} | ${pct(g.detected, g.detected + g.undetected)} % | ${pct(g.detected, g.detected + g.undetected - g.equivalent)} % | ${g.invalid} |`,
  )
survivors.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)
const entry = (s) =>
  `- \`${s.file}:${s.line}\` ${s.mutator}${s.status === 'NoCoverage' ? ' (no coverage)' : ''}: \`${s.original}\` → \`${s.replacement}\``
const unexplained = survivors.filter((s) => !s.equivalent)
out.push('', `## Survivors not shown equivalent (${unexplained.length})`, '')
for (const s of unexplained) out.push(entry(s))
out.push('', `## Equivalent survivors (${survivors.length - unexplained.length})`, '')
for (const s of survivors.filter((s) => s.equivalent)) out.push(`${entry(s)}  \n  ${s.equivalent.reason}`)
const summary = `${out.join('\n')}\n`
mkdirSync(reportDir, { recursive: true })
writeFileSync(join(reportDir, 'summary.md'), summary)
process.stdout.write(
  `\n${summary}\nFull report: reports/mutation/index.html; this summary: reports/mutation/summary.md\n`,
)
