import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { blockFileName, blockSource, docBlocks } from '../src/doc-blocks.js'

const dir = mkdtempSync(join(tmpdir(), 'lockwork-doc-blocks-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function parse(markdown: string) {
  const file = join(dir, 'README.md')
  writeFileSync(file, markdown)
  return docBlocks(file, dir)
}

describe('docBlocks', () => {
  it('finds every ts block with its line, and none of the other languages', () => {
    const blocks = parse(
      ['# x', '```sh', 'npm i', '```', '', '```ts', 'const a = 1', '```', '```js', 'x', '```'].join('\n'),
    )
    expect(blocks).toEqual([
      { file: 'README.md', line: 6, code: 'const a = 1', preamble: '', mode: 'check', reason: '' },
    ])
  })

  it('reads the doc-test comment before a block: preamble, run, skip with its reason', () => {
    const blocks = parse(
      [
        '<!-- doc-test',
        'declare const id: string',
        '-->',
        '```ts',
        'console.log(id)',
        '```',
        '<!-- doc-test run -->',
        '',
        '```typescript',
        'await lw.close()',
        '```',
        '<!-- doc-test skip: wrong on purpose -->',
        '```ts',
        'if (',
        '```',
      ].join('\n'),
    )
    expect(blocks.map((b) => [b.line, b.mode, b.preamble, b.reason])).toEqual([
      [4, 'check', 'declare const id: string', ''],
      [9, 'run', '', ''],
      [13, 'skip', '', 'wrong on purpose'],
    ])
    expect(blockFileName(blocks[0]!)).toBe('README.md-L4.mts')
    expect(blockSource(blocks[0]!)).toBe(
      '// README.md:4\ndeclare const id: string\n// ---- the block as the reader sees it\nconsole.log(id)\nexport {}\n',
    )
  })

  it('rejects a directive it does not know', () => {
    expect(() => parse(['<!-- doc-test runn -->', '```ts', 'x', '```'].join('\n'))).toThrow(
      /unknown doc-test directive "runn"/,
    )
  })

  it('ignores an ordinary comment before a block', () => {
    expect(parse(['<!-- a note -->', '```ts', 'x', '```'].join('\n'))[0]!.mode).toBe('check')
  })
})
