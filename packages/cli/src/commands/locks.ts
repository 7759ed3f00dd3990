import type { ListedLock, Lockwork } from '@lockwork/core'
import { type CommandResult, ok } from '../command-result.js'
import { lockJson, locksTable } from '../format.js'

/** Every lock held under the client's prefix whose key starts with `startsWith`, all pages, sorted by key. */
export async function allLocks(lw: Lockwork, startsWith = ''): Promise<ListedLock[]> {
  const locks: ListedLock[] = []
  let cursor: string | undefined
  do {
    const page = await lw.list({
      prefix: startsWith,
      kind: 'locks',
      limit: 500,
      ...(cursor === undefined ? {} : { cursor }),
    })
    locks.push(...page.locks)
    cursor = page.cursor
  } while (cursor !== undefined)
  return locks.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
}

/** `lockwork locks`: the held locks as a table, or as JSON. */
export async function locksCommand(
  lw: Lockwork,
  options: { startsWith?: string; json?: boolean },
): Promise<CommandResult> {
  const locks = await allLocks(lw, options.startsWith)
  return ok(options.json ? JSON.stringify(locks.map(lockJson), null, 2) : locksTable(locks))
}
