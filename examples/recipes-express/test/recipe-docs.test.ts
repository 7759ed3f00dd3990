import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/**
 * The recipes in docs/recipes quote their examples' source in blocks marked
 * `<!-- doc-test skip: excerpt of <file> ... -->`: the doc check cannot
 * type-check them (they import a framework it does not install), so this
 * test keeps each one a verbatim excerpt of the file it names, which the
 * example type-checks and tests. Indentation is ignored; line order is not.
 */
const root = fileURLToPath(new URL('../../../', import.meta.url))
const recipes = join(root, 'docs/recipes')
const EXCERPT = /<!--\s*doc-test skip: excerpt of (\S+)[^>]*-->\s*\n```ts\n([\s\S]*?)\n```/g

const trimmed = (text: string): string[] => text.split('\n').map((line) => line.trim())

function containsLines(source: string[], excerpt: string[]): boolean {
  for (let start = 0; start + excerpt.length <= source.length; start++) {
    if (excerpt.every((line, i) => source[start + i] === line)) return true
  }
  return false
}

describe('excerpts in docs/recipes', () => {
  const docs = readdirSync(recipes).filter((name) => name.endsWith('.md'))
  const excerpts = docs.flatMap((doc) =>
    [...readFileSync(join(recipes, doc), 'utf8').matchAll(EXCERPT)].map((match) => ({
      doc,
      file: match[1] ?? '',
      code: match[2] ?? '',
    })),
  )

  it('there are excerpts to check', () => {
    expect(excerpts.length).toBeGreaterThan(0)
  })

  it.each(excerpts)('$doc quotes $file verbatim', ({ file, code }) => {
    const source = trimmed(readFileSync(join(root, file), 'utf8'))
    expect(containsLines(source, trimmed(code))).toBe(true)
  })
})
