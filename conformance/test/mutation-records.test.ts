import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/**
 * The records behind the mutation scores in conformance/mutation/RESULTS.md
 * must still describe the code they judge. A StrykerJS run takes tens of
 * minutes; these checks take a second, so they run with every test run and
 * tell when a change to the mutated code has made a record stale (then run
 * `pnpm mutation:sqlite`, `pnpm mutation:core` or `pnpm mutation` and judge the
 * survivors again).
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MUTATION = new URL('../mutation/', import.meta.url)

interface EquivalentMutant {
  readonly file: string
  readonly line: string
  readonly mutator: string
  readonly replacement?: string
  readonly wholeLine?: boolean
  readonly linesBefore?: readonly string[]
  readonly reason: string
}

const read = (file: string): string => readFileSync(new URL(file, `file://${ROOT}/`), 'utf8')
const equivalents = JSON.parse(
  readFileSync(new URL('equivalent-mutants.json', MUTATION), 'utf8'),
) as EquivalentMutant[]
const results = readFileSync(new URL('RESULTS.md', MUTATION), 'utf8')

async function mutatedFiles(): Promise<string[]> {
  const files = new Set<string>()
  for (const name of ['stryker.config.mjs', 'stryker.sqlite.config.mjs', 'stryker.core.config.mjs']) {
    const config = (await import(new URL(name, MUTATION).href)) as { default: { mutate: string[] } }
    for (const file of config.default.mutate) files.add(file)
  }
  return [...files].sort()
}

describe('mutation records', () => {
  it('every equivalent mutant names a mutated file, a line still in it, and a reason', async () => {
    const files = await mutatedFiles()
    expect(equivalents.length).toBeGreaterThan(0)
    for (const e of equivalents) {
      const where = `${e.file}: ${e.line}`
      expect(files, where).toContain(e.file)
      const lines = read(e.file).split('\n')
      const found = lines.some(
        (l, i) =>
          (e.wholeLine ? l.trim() === e.line : l.includes(e.line)) &&
          (e.linesBefore ?? []).every((before, j, all) => lines[i - all.length + j]?.trim() === before),
      )
      expect(found, `stale equivalent-mutants.json entry, no longer in the code: ${where}`).toBe(true)
      expect(e.reason.trim().length, `no reason for ${where}`).toBeGreaterThan(20)
    }
  })

  it('every out-of-reach rule still matches code in the file it is about', async () => {
    const { unusedRules } = (await import(new URL('out-of-reach.mjs', MUTATION).href)) as {
      unusedRules: (file: string, source: string) => string[]
    }
    for (const file of await mutatedFiles()) {
      expect(unusedRules(file, read(file)), `out-of-reach.mjs rules that match nothing in ${file}`).toEqual(
        [],
      )
    }
  })

  it('every Stryker disable comment in the mutated code gives its reason, and RESULTS.md lists it', async () => {
    for (const file of await mutatedFiles()) {
      const lines = read(file).split('\n')
      lines.forEach((text, index) => {
        const comment = /Stryker disable\b(.*)$/.exec(text)
        if (!comment) return
        const where = `${file}:${index + 1}`
        const reason = /:\s*(\S.*)$/.exec(comment[1]!)?.[1]?.trim() ?? ''
        expect(reason.length, `a Stryker disable comment without a reason at ${where}`).toBeGreaterThan(10)
        expect(results.includes(reason), `RESULTS.md does not list the disable comment at ${where}`).toBe(
          true,
        )
      })
    }
  })
})
