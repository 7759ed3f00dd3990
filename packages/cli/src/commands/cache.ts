import type { Lockwork } from '@lockwork/core'
import { type CommandResult, ok } from '../command-result.js'
import { EXIT_CODES } from '../exit-codes.js'

/**
 * `lockwork cache get|del`: reads (as stored: the codec's encoding, devalue
 * by default) or deletes the cache entry of a `cached` key. A missing entry
 * exits 1.
 */
export async function cacheCommand(
  lw: Lockwork,
  action: 'get' | 'del',
  key: string,
  options: { json?: boolean },
): Promise<CommandResult> {
  // The key as `cached` stores it: the client's key with its prefix (validated by peek's rules).
  await lw.peek(key)
  const fullKey = lw.fullKey(key)
  if (action === 'del') {
    const deleted = await lw.backend.deleteCached(fullKey)
    return deleted
      ? ok(`deleted ${key}`)
      : { output: `no cache entry for ${key}`, exitCode: EXIT_CODES.notFound }
  }
  const entry = await lw.backend.getCached(fullKey)
  if (entry === undefined) {
    return { output: options.json ? 'null' : `no cache entry for ${key}`, exitCode: EXIT_CODES.notFound }
  }
  if (options.json) return ok(JSON.stringify({ key, ...entry }, null, 2))
  return ok(entry.value)
}
