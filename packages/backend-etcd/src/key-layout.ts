/**
 * Where the backend keeps its data in etcd, and how values are encoded.
 *
 * For a lock key `k` under the key prefix `p` (default `lockwork/`):
 *
 * - `p` + `lock/` + `k`: the owner token. Its create revision is the fence.
 * - `p` + `exp/` + `k`: the lease deadline in milliseconds since the epoch, as
 *   16 zero-padded decimal digits, so etcd can compare it byte by byte with a
 *   time inside a transaction.
 * - `p` + `cache/` + `k`: a cache entry, the padded deadline, then
 *   `<computeMs>:` and the encoded value.
 *
 * Both lock keys are written together, with the same etcd lease, and deleted
 * together; the etcd lease only collects them after the deadline (see the
 * README: the deadline in the value decides, the etcd lease is the garbage
 * collector).
 */

/** Digits of an encoded deadline: milliseconds since the epoch up to the year 2286. */
const DEADLINE_DIGITS = 16

/** The keys of one lock (or cache entry) as bytes. */
export interface LockKeys {
  readonly owner: Buffer
  readonly deadline: Buffer
}

/** The owner and deadline keys of lock `key`. */
export function lockKeys(prefix: string, key: string): LockKeys {
  return {
    owner: Buffer.from(`${prefix}lock/${key}`),
    deadline: Buffer.from(`${prefix}exp/${key}`),
  }
}

/** The key of cache entry `key`. */
export function cacheKey(prefix: string, key: string): Buffer {
  return Buffer.from(`${prefix}cache/${key}`)
}

/** A deadline (ms since the epoch) as 16 padded digits. */
export function encodeDeadline(epochMs: number): Buffer {
  return Buffer.from(encodeDeadlineText(epochMs))
}

function encodeDeadlineText(epochMs: number): string {
  return String(Math.max(0, Math.floor(epochMs))).padStart(DEADLINE_DIGITS, '0')
}

/** The deadline at the start of `value` (an encoded deadline or cache entry). */
export function decodeDeadline(value: Buffer): number {
  const text = value.subarray(0, DEADLINE_DIGITS).toString('latin1')
  const deadline = Number(text)
  if (text.length !== DEADLINE_DIGITS || !Number.isSafeInteger(deadline)) {
    throw new Error(`unexpected deadline value in etcd: ${JSON.stringify(text)}`)
  }
  return deadline
}

/** A cache entry as stored: the deadline, `<computeMs>:` and the value. */
export function encodeCacheEntry(deadline: number, computeMs: number, value: string): Buffer {
  return Buffer.from(`${encodeDeadlineText(deadline)}${Math.max(0, Math.round(computeMs))}:${value}`)
}

/** The parts of a stored cache entry. */
export function decodeCacheEntry(stored: Buffer): { deadline: number; computeMs: number; value: string } {
  const deadline = decodeDeadline(stored)
  const text = stored.toString('utf8', DEADLINE_DIGITS)
  const colon = text.indexOf(':')
  const computeMs = Number(text.slice(0, colon))
  if (colon < 0 || !Number.isFinite(computeMs)) throw new Error('unexpected cache entry in etcd')
  return { deadline, computeMs, value: text.slice(colon + 1) }
}

/** The size in bytes of the value in a stored cache entry (what follows `<computeMs>:`). */
export function decodeCacheEntrySize(stored: Buffer): number {
  const colon = stored.indexOf(0x3a, DEADLINE_DIGITS)
  if (colon < 0) throw new Error('unexpected cache entry in etcd')
  return stored.length - colon - 1
}

/** The end of etcd's range for every key starting with `start`: its last byte below 0xff plus one. */
export function prefixEnd(start: Buffer): Buffer {
  const end = Buffer.from(start)
  for (let i = end.length - 1; i >= 0; i--) {
    const byte = end[i] ?? 0
    if (byte < 0xff) {
      end[i] = byte + 1
      return end.subarray(0, i + 1)
    }
  }
  return Buffer.from([0])
}
