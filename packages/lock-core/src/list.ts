import {
  type ListedCacheEntry,
  type ListedLock,
  type ListKind,
  type LockBackend,
  MAX_LIST_LIMIT,
} from './backend.js'
import { describe } from './duration.js'
import { BackendError, InvalidArgumentError } from './errors.js'
import { INTERNAL_SEPARATOR, joinKey, validateKey } from './key.js'
import { optionsObject } from './options.js'

/** Options of {@link Lockwork.list}. */
export interface LockworkListOptions {
  /** Only keys that start with this text (compared literally, under the client's prefix). Default `''`: every key. */
  readonly prefix?: string
  /** The `cursor` of the previous page; absent for the first page. */
  readonly cursor?: string
  /** The most entries on one page, 1 to 1000. Default 100. */
  readonly limit?: number
  /** `'locks'` or `'cache'` for only one kind; both by default. */
  readonly kind?: ListKind
}

/** One page of {@link Lockwork.list}: keys are the client's keys, without its prefix. */
export interface LockworkListPage {
  /** Held locks. */
  readonly locks: readonly ListedLock[]
  /** Unexpired cache entries of `cached` functions. */
  readonly cacheEntries: readonly ListedCacheEntry[]
  /** Pass as `cursor` for the next page; `undefined` after the last one. */
  readonly cursor: string | undefined
}

/** The default page size of {@link Lockwork.list}. */
export const DEFAULT_LIST_LIMIT = 100

/**
 * One page of the locks and cache entries under `clientPrefix` whose keys
 * start with `options.prefix`. Entries lockwork keeps for itself (`every`
 * ticks, keys under a longer prefix) are left out, so a page may be short
 * while more follow.
 */
export async function listPage(
  backend: LockBackend,
  clientPrefix: string,
  options: LockworkListOptions | undefined,
): Promise<LockworkListPage> {
  const opts = optionsObject(options)
  const prefix =
    opts.prefix === undefined || opts.prefix === '' ? '' : validateKey(opts.prefix, 'options.prefix')
  const limit = opts.limit ?? DEFAULT_LIST_LIMIT
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new InvalidArgumentError(
      'options.limit',
      `expected an integer from 1 to ${MAX_LIST_LIMIT}, got ${describe(limit)}`,
    )
  }
  if (opts.cursor !== undefined && (typeof opts.cursor !== 'string' || opts.cursor === '')) {
    throw new InvalidArgumentError('options.cursor', `expected a cursor string, got ${describe(opts.cursor)}`)
  }
  if (opts.kind !== undefined && opts.kind !== 'locks' && opts.kind !== 'cache') {
    throw new InvalidArgumentError('options.kind', `expected 'locks' or 'cache', got ${describe(opts.kind)}`)
  }
  if (typeof backend.list !== 'function') {
    throw new BackendError(
      backend.name,
      `the ${backend.name} backend cannot list locks (it has no list method); use a version of it that has`,
    )
  }
  // joinKey with an empty key: the client's prefix and its separator, or nothing.
  const head = clientPrefix === '' ? '' : joinKey(clientPrefix, '')
  const page = await backend.list({
    prefix: head + prefix,
    cursor: opts.cursor,
    limit,
    kind: opts.kind,
  })
  const own = <T extends { readonly key: string }>(entry: T): T | undefined => {
    if (!entry.key.startsWith(head)) return undefined
    const key = entry.key.slice(head.length)
    return key === '' || key.includes(INTERNAL_SEPARATOR) ? undefined : { ...entry, key }
  }
  return {
    locks: page.locks.map(own).filter((entry) => entry !== undefined),
    cacheEntries: page.cacheEntries.map(own).filter((entry) => entry !== undefined),
    cursor: page.cursor,
  }
}
