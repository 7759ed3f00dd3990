import type { ListedCacheEntry, ListedLock, ListKind, ListOptions, ListPage } from './backend.js'
import { InvalidArgumentError } from './errors.js'

/**
 * Encodes a backend's listing position as an opaque cursor string
 * (base64url of its JSON). For adapter authors implementing
 * `LockBackend.list`; read it back with {@link decodeListCursor}.
 */
export function encodeListCursor(state: Readonly<Record<string, unknown>>): string {
  return Buffer.from(JSON.stringify(state), 'utf8').toString('base64url')
}

/**
 * Reads a cursor made by {@link encodeListCursor}.
 *
 * @throws InvalidArgumentError (`options.cursor`) when `cursor` is not one.
 */
export function decodeListCursor(cursor: string): Record<string, unknown> {
  let state: unknown
  try {
    state = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    state = undefined
  }
  if (typeof state !== 'object' || state === null || Array.isArray(state)) {
    throw new InvalidArgumentError('options.cursor', 'is not a cursor returned by this backend’s list')
  }
  return state as Record<string, unknown>
}

/**
 * The least string greater than every string that starts with `prefix`, in
 * code point order (the order of SQLite's `BINARY` collation and of
 * PostgreSQL's `COLLATE "C"` on UTF-8 text), or `undefined` when there is
 * none (an empty prefix, or one made only of U+10FFFF). With it a prefix
 * becomes a range, `key >= prefix AND key < upper`, that an index can serve
 * and that never treats `%` or `_` as a pattern.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const points = Array.from(prefix, (char) => char.codePointAt(0) as number)
  while (points.length > 0) {
    const last = points.pop() as number
    if (last < 0x10ffff) {
      // Skip the surrogate range: it never occurs as a code point in a valid key.
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1
      return String.fromCodePoint(...points, next)
    }
  }
  return undefined
}

/**
 * Where a key-ordered store reads one kind of entry: up to `limit` unexpired
 * entries whose keys start with `prefix` and, when `after` is given, sort
 * after it, in ascending key order.
 */
export interface KeyOrderedSource {
  /** Unexpired locks in ascending key order. */
  locks(prefix: string, after: string | undefined, limit: number): Promise<readonly ListedLock[]>
  /** Unexpired cache entries in ascending key order. */
  cacheEntries(prefix: string, after: string | undefined, limit: number): Promise<readonly ListedCacheEntry[]>
}

/**
 * Implements `LockBackend.list` for a store that can read entries in key
 * order (SQL tables, sorted maps): keyset paging, locks first, then cache
 * entries, with a cursor that holds the kind and the last key returned. At
 * most two reads per page.
 */
export async function listByKey(options: ListOptions, source: KeyOrderedSource): Promise<ListPage> {
  const kinds: readonly ListKind[] = options.kind === undefined ? ['locks', 'cache'] : [options.kind]
  let kindIndex = 0
  let after: string | undefined
  if (options.cursor !== undefined) {
    const state = decodeListCursor(options.cursor)
    kindIndex = kinds.indexOf(state.kind as ListKind)
    if (kindIndex < 0 || typeof state.after !== 'string') {
      throw new InvalidArgumentError('options.cursor', 'is not a cursor returned by this backend’s list')
    }
    after = state.after
  }
  const locks: ListedLock[] = []
  const cacheEntries: ListedCacheEntry[] = []
  let room = options.limit
  for (; kindIndex < kinds.length; kindIndex++) {
    const kind = kinds[kindIndex] as ListKind
    const rows =
      kind === 'locks'
        ? await source.locks(options.prefix, after, room)
        : await source.cacheEntries(options.prefix, after, room)
    if (kind === 'locks') locks.push(...(rows as readonly ListedLock[]))
    else cacheEntries.push(...(rows as readonly ListedCacheEntry[]))
    const last = rows.at(-1)
    if (rows.length >= room && last !== undefined) {
      return { locks, cacheEntries, cursor: encodeListCursor({ kind, after: last.key }) }
    }
    room -= rows.length
    after = undefined
  }
  return { locks, cacheEntries, cursor: undefined }
}
