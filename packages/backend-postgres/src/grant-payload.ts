/**
 * The notification a release sends when it hands a lock to a queued owner
 * (grant-on-release, see `grant-statements.ts`):
 *
 * `U+0003 <key> U+0001 <fence>:<expiry, server ms since the epoch>:<owner>`
 *
 * No key can contain a control character other than U+001F (the core
 * refuses them), so the prefix never starts a lock's plain release payload
 * (the bare key) nor a semaphore's (U+0002 and the key), and the first
 * U+0001 ends the key. The owner comes last: it may contain `:`.
 */

/** The first character of a grant notification. */
export const GRANT_PAYLOAD_PREFIX = '\u0003'

/** Ends the key in a grant notification. */
const KEY_END = '\u0001'

/**
 * The SQL expression of a grant notification's payload, inside the
 * release's `RETURNING` (`t` is the lease row as updated: the grantee's
 * owner, fence and expiry).
 */
export const GRANT_PAYLOAD_SQL = `chr(3) || t.key || chr(1) || t.fence::text || ':'
    || round(extract(epoch FROM t.expires_at) * 1000, 3)::text || ':' || t.owner`

/** A grant as its notification tells it. */
export interface GrantNotice {
  readonly fence: number
  /** When the granted lease ends, in ms since the epoch on the server's clock. */
  readonly expiresMs: number
  readonly owner: string
}

/**
 * The subscription a notification is delivered to: for a grant, the grant
 * prefix and the key ({@link grantRoute}); otherwise the payload itself.
 */
export function routeOf(payload: string): string {
  if (!payload.startsWith(GRANT_PAYLOAD_PREFIX)) return payload
  const end = payload.indexOf(KEY_END)
  return end < 0 ? payload : payload.slice(0, end)
}

/** The subscription that receives the grants of lock `key`. */
export function grantRoute(key: string): string {
  return GRANT_PAYLOAD_PREFIX + key
}

/** Parses a grant notification; `undefined` for any other payload. */
export function parseGrant(payload: string): GrantNotice | undefined {
  if (!payload.startsWith(GRANT_PAYLOAD_PREFIX)) return undefined
  const end = payload.indexOf(KEY_END)
  const first = payload.indexOf(':', end + 1)
  const second = payload.indexOf(':', first + 1)
  if (end < 0 || first < 0 || second < 0) return undefined
  const fence = Number(payload.slice(end + 1, first))
  const expiresMs = Number(payload.slice(first + 1, second))
  if (!Number.isSafeInteger(fence) || !Number.isFinite(expiresMs)) return undefined
  return { fence, expiresMs, owner: payload.slice(second + 1) }
}
