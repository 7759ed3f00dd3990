import type { Lockwork } from '@lockwork/core'
import { type CommandResult, ok } from '../command-result.js'
import { EXIT_CODES } from '../exit-codes.js'
import { formatRemaining, holderOf, lockJson } from '../format.js'

/** `lockwork peek`: who holds `key`; a free key prints `free` (`null` with `--json`) and exits 1. */
export async function peekCommand(
  lw: Lockwork,
  key: string,
  options: { json?: boolean },
): Promise<CommandResult> {
  const holder = await lw.peek(key)
  if (holder === null)
    return { output: options.json ? 'null' : `${key} is free`, exitCode: EXIT_CODES.notFound }
  if (options.json) return ok(JSON.stringify(lockJson({ key, ...holder }), null, 2))
  return ok(
    [
      `key:        ${key}`,
      `holder:     ${holderOf(holder)}`,
      `fence:      ${holder.fence}`,
      `expires in: ${formatRemaining(holder.remainingMs)}`,
    ].join('\n'),
  )
}
