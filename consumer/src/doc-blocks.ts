import { readFileSync } from 'node:fs'
import { relative } from 'node:path'

/**
 * One fenced TypeScript block of a Markdown file, with the hidden context a
 * `<!-- doc-test ... -->` comment right before it gives (see CONTRIBUTING.md).
 */
export interface DocBlock {
  /** The Markdown file, relative to the repository root. */
  readonly file: string
  /** The line of the opening fence (1-based). */
  readonly line: number
  /** The code as a reader sees it. */
  readonly code: string
  /** Code put before the block when it is checked (declarations of what the fragment assumes). */
  readonly preamble: string
  /** `check` (type-check), `run` (type-check, then run against the real servers), or `skip`. */
  readonly mode: 'check' | 'run' | 'skip'
  /** Why a block is skipped (`<!-- doc-test skip: why -->`). */
  readonly reason: string
}

const FENCE = /^(\s*)(```+|~~~+)\s*([\w-]*)/
const TYPESCRIPT = new Set(['ts', 'typescript', 'mts', 'cts'])
/** `<!-- doc-test [run|skip[: reason]]` + optional preamble lines + `-->`. */
const DIRECTIVE = /<!--\s*doc-test\b([^\n]*)\n?([\s\S]*?)-->\s*$/

/** Every TypeScript block of `path`, with its directive if one precedes it. */
export function docBlocks(path: string, root: string): DocBlock[] {
  const lines = readFileSync(path, 'utf8').split('\n')
  const blocks: DocBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!)
    if (!open) continue
    const [, indent, fence, lang] = open
    let end = i + 1
    while (end < lines.length && !lines[end]!.trimStart().startsWith(fence!)) end++
    if (TYPESCRIPT.has(lang!.toLowerCase())) {
      const code = lines
        .slice(i + 1, end)
        .map((line) => (line.startsWith(indent!) ? line.slice(indent!.length) : line))
        .join('\n')
      const directive = directiveBefore(lines, i)
      blocks.push({ file: relative(root, path), line: i + 1, code, ...directive })
    }
    i = end
  }
  return blocks
}

/** The `<!-- doc-test -->` comment ending on the lines just above `fenceLine` (blank lines allowed). */
function directiveBefore(
  lines: readonly string[],
  fenceLine: number,
): Pick<DocBlock, 'mode' | 'preamble' | 'reason'> {
  let end = fenceLine - 1
  while (end >= 0 && lines[end]!.trim() === '') end--
  if (end < 0 || !lines[end]!.trimEnd().endsWith('-->')) return { mode: 'check', preamble: '', reason: '' }
  let start = end
  while (start >= 0 && !lines[start]!.includes('<!--')) start--
  const match = DIRECTIVE.exec(lines.slice(Math.max(0, start), end + 1).join('\n'))
  if (!match) return { mode: 'check', preamble: '', reason: '' }
  const flags = match[1]!.trim()
  const preamble = match[2]!.trim()
  if (/^skip(:|\s|$)/.test(flags)) return { mode: 'skip', preamble, reason: flags.replace(/^skip:?\s*/, '') }
  if (flags === 'run') return { mode: 'run', preamble, reason: '' }
  if (flags !== '') throw new Error(`unknown doc-test directive "${flags}" before line ${fenceLine + 1}`)
  return { mode: 'check', preamble, reason: '' }
}

/** A file name for a block: `packages-backend-redis-README.md-L18.mts`. */
export function blockFileName(block: DocBlock, extension = '.mts'): string {
  return `${block.file.replace(/[\\/]/g, '-')}-L${block.line}${extension}`
}

/** The module checked for a block: its preamble, then the code; `export {}` keeps it a module. */
export function blockSource(block: DocBlock): string {
  const header = `// ${block.file}:${block.line}\n`
  const preamble = block.preamble === '' ? '' : `${block.preamble}\n// ---- the block as the reader sees it\n`
  return `${header}${preamble}${block.code}\nexport {}\n`
}
