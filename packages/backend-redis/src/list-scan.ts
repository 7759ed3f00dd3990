import { createHash } from 'node:crypto'
import {
  decodeListCursor,
  encodeListCursor,
  InvalidArgumentError,
  type ListedCacheEntry,
  type ListedLock,
  type ListKind,
  type ListOptions,
  type ListPage,
} from '@lockwork/core'
import type { CommandPort } from './command-port.js'
import { PEEK, type ScriptDefinition } from './scripts.js'

/**
 * `list` on Redis: `SCAN` with a `MATCH` pattern over every master, the
 * caller's prefix escaped so that `*`, `?`, `[`, `]` and `\` match only
 * themselves. Each key found is then read with a script (owner, fence and
 * `PTTL`; or the cached value's size and `PTTL`), so what is listed is
 * unexpired when read.
 *
 * `SCAN` returns keys in batches that do not fit a page size; the keys of a
 * batch not yet returned travel in the cursor, with the `SCAN` cursor and the
 * master being scanned, so a page never exceeds its limit and nothing is
 * skipped. `SCAN` itself guarantees that a key present for the whole listing
 * is found; only while Redis shrinks its keyspace table can one be found twice.
 */

/** KEYS: cache entry. → `{size of the value in bytes, pttl}`, or nil on a miss. */
export const LIST_CACHED: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
local stored = redis.call('GET', KEYS[1])
if not stored then return false end
local colon = string.find(stored, ':', 1, true)
if not colon then return false end
return {#stored - colon, redis.call('PTTL', KEYS[1])}
`,
}

/** `SCAN` calls one page may make before it returns (possibly short) with a cursor. */
const SCAN_CALLS_PER_PAGE = 50

/** The `SCAN` `COUNT` hint: the page size, within these bounds. */
const MIN_SCAN_COUNT = 100
const MAX_SCAN_COUNT = 1000

/** What `list` needs from the backend. */
export interface RedisListContext {
  /** The commands of the backend's client (standalone or cluster). */
  readonly port: CommandPort
  /** The backend's key prefix (before the hash tag). */
  readonly keyPrefix: string
  /** Runs a script (EVALSHA with EVAL fallback) with the backend's error wrapping. */
  readonly evaluate: (
    script: ScriptDefinition & { readonly sha: string },
    args: (string | number)[],
  ) => Promise<unknown>
  /** Wraps a driver error as the backend's `BackendError`. */
  readonly fail: (error: unknown) => Error
}

/** Where a listing stands: the kind, the master, the `SCAN` cursor, and the keys found but not yet returned. */
interface ScanState {
  kind: ListKind
  node: number
  scan: string
  pending: string[]
}

const PEEK_SCRIPT = withSha(PEEK)
const LIST_CACHED_SCRIPT = withSha(LIST_CACHED)

function withSha(script: ScriptDefinition): ScriptDefinition & { readonly sha: string } {
  return { ...script, sha: createHash('sha1').update(script.lua).digest('hex') }
}

/** Escapes Redis glob metacharacters so `text` matches only itself in `SCAN MATCH`. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}

/** The hash-tagged start of every Redis key of `key` (as the backend builds it). */
function baseOf(keyPrefix: string, key: string): string {
  return `${keyPrefix}{${createHash('sha1').update(key).digest('hex').slice(0, 8)}}:`
}

const SEGMENT: Record<ListKind, string> = { locks: 'lock:', cache: 'cache:' }

function badCursor(): InvalidArgumentError {
  return new InvalidArgumentError('options.cursor', 'is not a cursor returned by this backend’s list')
}

function readState(cursor: string | undefined, kinds: readonly ListKind[]): ScanState {
  if (cursor === undefined) return { kind: kinds[0] as ListKind, node: 0, scan: '0', pending: [] }
  const state = decodeListCursor(cursor)
  const { kind, node, scan, pending } = state
  if (
    !kinds.includes(kind as ListKind) ||
    typeof node !== 'number' ||
    !Number.isInteger(node) ||
    node < 0 ||
    typeof scan !== 'string' ||
    !/^\d+$/.test(scan) ||
    !Array.isArray(pending) ||
    !pending.every((key) => typeof key === 'string')
  ) {
    throw badCursor()
  }
  return { kind: kind as ListKind, node, scan, pending: pending as string[] }
}

/** One page of `list` on Redis. */
export async function listRedis(context: RedisListContext, options: ListOptions): Promise<ListPage> {
  const { port, keyPrefix } = context
  const kinds: readonly ListKind[] = options.kind === undefined ? ['locks', 'cache'] : [options.kind]
  const state = readState(options.cursor, kinds)
  const clientPrefix = port.clientKeyPrefix
  let nodes: Awaited<ReturnType<CommandPort['scanTargets']>>
  try {
    nodes = await port.scanTargets()
  } catch (error) {
    throw context.fail(error)
  }
  const locks: ListedLock[] = []
  const cacheEntries: ListedCacheEntry[] = []
  const count = Math.min(MAX_SCAN_COUNT, Math.max(MIN_SCAN_COUNT, options.limit))
  let room = options.limit
  let scans = 0

  const read = async (kind: ListKind, keys: string[]): Promise<void> => {
    if (kind === 'locks') {
      const replies = await Promise.all(
        keys.map((key) => {
          const base = baseOf(keyPrefix, key)
          return context.evaluate(PEEK_SCRIPT, [`${base}lock:${key}`, `${base}fence:${key}`])
        }),
      )
      replies.forEach((reply, i) => {
        if (!Array.isArray(reply)) return
        const [owner, fence, pttl] = reply as unknown[]
        const remainingMs = Number(pttl)
        if (remainingMs > 0)
          locks.push({ key: keys[i] as string, owner: String(owner), fence: Number(fence), remainingMs })
      })
    } else {
      const replies = await Promise.all(
        keys.map((key) => context.evaluate(LIST_CACHED_SCRIPT, [`${baseOf(keyPrefix, key)}cache:${key}`])),
      )
      replies.forEach((reply, i) => {
        if (!Array.isArray(reply)) return
        const [size, pttl] = reply as unknown[]
        const remainingMs = Number(pttl)
        // -1: no expiry (not written by setCached, but listed rather than hidden).
        if (remainingMs > 0 || remainingMs === -1)
          cacheEntries.push({
            key: keys[i] as string,
            size: Number(size),
            remainingMs: remainingMs === -1 ? Number.MAX_SAFE_INTEGER : remainingMs,
          })
      })
    }
  }

  for (;;) {
    // Return what an earlier batch found first.
    while (state.pending.length > 0 && room > 0) {
      const batch = state.pending.splice(0, room)
      const before = locks.length + cacheEntries.length
      await read(state.kind, batch)
      room -= locks.length + cacheEntries.length - before
    }
    if (room === 0 && state.pending.length > 0) break
    if (state.node >= nodes.length) {
      const next = kinds.indexOf(state.kind) + 1
      if (next >= kinds.length) return { locks, cacheEntries, cursor: undefined }
      state.kind = kinds[next] as ListKind
      state.node = 0
      state.scan = '0'
      continue
    }
    if (room === 0 || scans >= SCAN_CALLS_PER_PAGE) break
    const head = escapeGlob(clientPrefix + keyPrefix)
    const segment = SEGMENT[state.kind]
    const pattern = `${head}{????????}:${segment}${escapeGlob(options.prefix)}*`
    let reply: [string, string[]]
    try {
      const node = nodes[state.node]
      if (node === undefined) throw new Error(`no master ${state.node} to scan`)
      reply = await node.scan(state.scan, pattern, count)
    } catch (error) {
      throw context.fail(error)
    }
    scans++
    const [next, found] = reply
    const skip = clientPrefix.length + keyPrefix.length + '{12345678}:'.length + segment.length
    state.pending = [...new Set(found)].map((raw) => raw.slice(skip))
    if (next === '0') {
      state.node++
      state.scan = '0'
    } else {
      state.scan = next
    }
  }
  const cursor = encodeListCursor({ ...state })
  return { locks, cacheEntries, cursor }
}
