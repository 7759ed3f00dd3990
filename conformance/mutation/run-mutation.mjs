#!/usr/bin/env node
// `pnpm mutation [stryker options]`: runs StrykerJS with ./stryker.config.mjs
// from the repository root (extra options, e.g. `--mutate <file>`, pass
// through), then summarises reports/mutation/mutation.json per package into
// reports/mutation/summary.md: the score and every mutant that survived.
//
// `pnpm mutation --summary-only` re-reads an existing report.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
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

const DETECTED = new Set(['Killed', 'Timeout'])
const UNDETECTED = new Set(['Survived', 'NoCoverage'])
const { files } = JSON.parse(readFileSync(report, 'utf8'))
const groups = new Map()
const survivors = []
for (const [file, { mutants, source }] of Object.entries(files)) {
  const name = relative(root, join(root, file))
  const g = groups.get(group(name)) ?? { detected: 0, undetected: 0, invalid: 0, ignored: 0 }
  groups.set(group(name), g)
  const lines = source.split('\n')
  for (const mutant of mutants) {
    if (DETECTED.has(mutant.status)) g.detected++
    else if (UNDETECTED.has(mutant.status)) {
      g.undetected++
      const line = mutant.location.start.line
      survivors.push({
        file: name,
        line,
        status: mutant.status,
        mutator: mutant.mutatorName,
        replacement: (mutant.replacement ?? '').replace(/\s+/g, ' ').slice(0, 100),
        original: (lines[line - 1] ?? '').trim().slice(0, 100),
      })
    } else if (mutant.status === 'Ignored') g.ignored++
    else g.invalid++
  }
}

const pct = (g) => (g.detected + g.undetected === 0 ? 100 : (100 * g.detected) / (g.detected + g.undetected))
const out = [
  '# Mutation score of the conformance suite',
  '',
  '| package | killed | survived | score | ignored | invalid (type errors) |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
]
for (const [name, g] of [...groups].sort(([a], [b]) => a.localeCompare(b)))
  out.push(
    `| ${name} | ${g.detected} | ${g.undetected} | ${pct(g).toFixed(1)} % | ${g.ignored} | ${g.invalid} |`,
  )
out.push('', `## Survivors (${survivors.length})`, '')
survivors.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)
for (const s of survivors)
  out.push(
    `- \`${s.file}:${s.line}\` ${s.mutator}${s.status === 'NoCoverage' ? ' (no coverage)' : ''}: \`${s.original}\` → \`${s.replacement}\``,
  )
const summary = `${out.join('\n')}\n`
mkdirSync(dirname(join(reportDir, 'summary.md')), { recursive: true })
writeFileSync(join(reportDir, 'summary.md'), summary)
process.stdout.write(
  `\n${summary}\nFull report: reports/mutation/index.html; this summary: reports/mutation/summary.md\n`,
)
