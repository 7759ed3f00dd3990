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
import type { IKeyValue, IRequestOp, ITxnResponse } from 'etcd3'
import { decodeCacheEntrySize, decodeDeadline, prefixEnd } from './key-layout.js'

/**
 * `list` on etcd: key-ordered range reads, one transaction per kind a page
 * reaches.
 *
 * A listing prefix `q` becomes the etcd range [`<p>lock/q`, end), where end is
 * the first key after every key that starts with it (etcd's own prefix
 * range): `q` is compared byte by byte and nothing in it is a pattern. Locks
 * are read as two ranges of one transaction, the owner keys and the deadline
 * keys over the same interval with the same limit; both keys of a lock are
 * written and deleted together, so at the transaction's revision the two
 * ranges hold the same keys. Cache entries are one range.
 *
 * Keyset paging: the cursor holds the kind and the last key read (not the
 * last key listed: entries past their deadline are read, skipped, and still
 * move the cursor). The next page starts right after it, so an entry present
 * from the first call to the last is listed exactly once, whatever was added
 * or removed in between. etcd sorts keys by their UTF-8 bytes, which is code
 * point order. Expiry is judged by this client's wall clock, as `peek` judges
 * it: an entry is listed only while its deadline is ahead.
 */

/** What `list` needs from the backend. */
export interface EtcdListContext {
  /** The backend's key prefix. */
  readonly prefix: string
  /** Sends one read-only transaction. */
  readonly read: (requests: IRequestOp[]) => Promise<ITxnResponse>
}

/** The key segment of each kind (see `key-layout.ts`). */
const SEGMENT: Record<ListKind, string> = { locks: 'lock/', cache: 'cache/' }

/** Where a page starts: the kind, and the last key read of it (absent: its first key). */
interface Position {
  readonly index: number
  readonly after: string | undefined
}

function readCursor(cursor: string | undefined, kinds: readonly ListKind[]): Position {
  if (cursor === undefined) return { index: 0, after: undefined }
  const state = decodeListCursor(cursor)
  const index = kinds.indexOf(state.kind as ListKind)
  if (index < 0 || (state.after !== undefined && typeof state.after !== 'string')) {
    throw new InvalidArgumentError('options.cursor', 'is not a cursor returned by this backend’s list')
  }
  return { index, after: state.after as string | undefined }
}

/** The etcd range of the keys under `segment` that start with `prefix` and sort after `after`. */
function rangeOf(
  head: Buffer,
  prefix: string,
  after: string | undefined,
): { key: Buffer; range_end: Buffer } {
  const start = Buffer.concat([head, Buffer.from(prefix)])
  // The least key after `after` is `after` followed by a zero byte.
  const next = after === undefined ? start : Buffer.concat([head, Buffer.from(after), Buffer.from([0])])
  return { key: Buffer.compare(next, start) > 0 ? next : start, range_end: prefixEnd(start) }
}

/** The listed key: the etcd key without its head. */
function keyOf(kv: IKeyValue, head: Buffer): string {
  return kv.key.subarray(head.length).toString('utf8')
}

/** One page of `list` on etcd (see the module comment). */
export async function listEtcd(context: EtcdListContext, options: ListOptions): Promise<ListPage> {
  const kinds: readonly ListKind[] = options.kind === undefined ? ['locks', 'cache'] : [options.kind]
  const start = readCursor(options.cursor, kinds)
  const locks: ListedLock[] = []
  const cacheEntries: ListedCacheEntry[] = []
  let after = start.after
  let room = options.limit
  for (let index = start.index; index < kinds.length; index++) {
    const kind = kinds[index] as ListKind
    const head = Buffer.from(context.prefix + SEGMENT[kind])
    const limit = String(room)
    const requests: IRequestOp[] = [{ request_range: { ...rangeOf(head, options.prefix, after), limit } }]
    const deadlineHead = Buffer.from(`${context.prefix}exp/`)
    // The deadline keys of the same interval.
    if (kind === 'locks')
      requests.push({ request_range: { ...rangeOf(deadlineHead, options.prefix, after), limit } })
    after = undefined
    const reply = await context.read(requests)
    const now = Date.now()
    const read = reply.responses[0]?.response_range
    const kvs = read?.kvs ?? []
    if (kind === 'locks') {
      const deadlines = new Map<string, number>()
      for (const kv of reply.responses[1]?.response_range?.kvs ?? []) {
        deadlines.set(kv.key.subarray(deadlineHead.length).toString('latin1'), decodeDeadline(kv.value))
      }
      for (const kv of kvs) {
        const deadline = deadlines.get(kv.key.subarray(head.length).toString('latin1'))
        if (deadline === undefined || deadline <= now) continue
        locks.push({
          key: keyOf(kv, head),
          owner: kv.value.toString('utf8'),
          fence: Number(kv.create_revision),
          remainingMs: deadline - now,
        })
      }
    } else {
      for (const kv of kvs) {
        const remainingMs = decodeDeadline(kv.value) - now
        if (remainingMs <= 0) continue
        cacheEntries.push({ key: keyOf(kv, head), size: decodeCacheEntrySize(kv.value), remainingMs })
      }
    }
    const last = kvs.at(-1)
    if (read?.more === true && last !== undefined) {
      return { locks, cacheEntries, cursor: encodeListCursor({ kind, after: keyOf(last, head) }) }
    }
    room -= kvs.length
    if (room <= 0 && index + 1 < kinds.length) {
      // The page is full and this kind is done: the next page starts at the next kind's first key.
      return { locks, cacheEntries, cursor: encodeListCursor({ kind: kinds[index + 1] }) }
    }
  }
  return { locks, cacheEntries, cursor: undefined }
}
