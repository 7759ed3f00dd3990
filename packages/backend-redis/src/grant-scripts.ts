import type { ScriptDefinition } from './scripts.js'

/**
 * The Lua scripts of grant-on-release (see `grant-wait.ts`): a waiter queues
 * itself for a lock key, keeps its entry alive while it waits, and leaves
 * the queue when it stops waiting; `RELEASE` (in `scripts.ts`) hands the
 * key to the oldest live entry.
 *
 * For a lock key `k` with hash tag `t` the queue is two keys:
 *
 * - `<keyPrefix>{t}:queue:<k>`: sorted set, owner → the server time in µs
 *   when it queued (arrival order);
 * - `<keyPrefix>{t}:queued:<k>`: hash, owner → `"<live until, server ms>:<ttl ms>"`.
 *
 * Both expire {@link QUEUE_KEY_TTL_FACTOR} liveness periods after the last
 * entry was written, so a queue whose waiters all died leaves nothing behind.
 * Every script reads the server's clock (`TIME`), and returns it in ms, so the
 * waiter can place the server's later grant time on its own clock.
 */

/** How many liveness periods the queue keys outlive their last write. */
export const QUEUE_KEY_TTL_FACTOR = 2

/**
 * KEYS: lock, fence counter, queue, queue entries, waiting marker.
 * ARGV: owner, ttl ms, liveness ms, marker ttl ms.
 *
 * → `{0, now}` when the key is free (not queued: try `acquire`);
 * `{2, now, fence, pttl}` when `owner` already holds it (an earlier grant);
 * `{1, now, pttl}` when queued (or refreshed, keeping its place) behind the
 * holder whose lease has `pttl` left. It also sets the waiting marker (for
 * at least the wait's timeout): a release looks at the queue only when the
 * key is marked, and publishes `released` when it finds no live entry.
 */
export const ENQUEUE: ScriptDefinition = {
  numberOfKeys: 5,
  lua: `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holder = redis.call('GET', KEYS[1])
if not holder then return {0, now} end
if holder == ARGV[1] then
  return {2, now, tonumber(redis.call('GET', KEYS[2])) or 0, redis.call('PTTL', KEYS[1])}
end
local live = tonumber(ARGV[3])
if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  redis.call('ZADD', KEYS[3], string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2])), ARGV[1])
end
redis.call('HSET', KEYS[4], ARGV[1], string.format('%.0f', now + live) .. ':' .. ARGV[2])
redis.call('PEXPIRE', KEYS[3], live * ${QUEUE_KEY_TTL_FACTOR})
redis.call('PEXPIRE', KEYS[4], live * ${QUEUE_KEY_TTL_FACTOR})
if redis.call('PTTL', KEYS[5]) < tonumber(ARGV[4]) then
  redis.call('SET', KEYS[5], '1', 'PX', ARGV[4])
end
return {1, now, redis.call('PTTL', KEYS[1])}
`,
}

/**
 * KEYS: lock, fence counter, queue, queue entries, waiting marker.
 * ARGV: owner, ttl ms, liveness ms.
 *
 * Keeps a queued entry alive: → `{1, now}` when still queued (its liveness
 * deadline moved on, and the waiting marker lives at least as long as the
 * queue keys, so the next release looks at the queue), `{2, now, fence, pttl}`
 * when `owner` holds the key (a grant whose message may still be on its
 * way), `{0, now}` when neither (a release skipped it as dead: the waiter
 * should look again).
 */
export const REFRESH: ScriptDefinition = {
  numberOfKeys: 5,
  lua: `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return {2, now, tonumber(redis.call('GET', KEYS[2])) or 0, redis.call('PTTL', KEYS[1])}
end
if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then return {0, now} end
local live = tonumber(ARGV[3])
redis.call('HSET', KEYS[4], ARGV[1], string.format('%.0f', now + live) .. ':' .. ARGV[2])
redis.call('PEXPIRE', KEYS[3], live * ${QUEUE_KEY_TTL_FACTOR})
redis.call('PEXPIRE', KEYS[4], live * ${QUEUE_KEY_TTL_FACTOR})
if redis.call('PTTL', KEYS[5]) < live * ${QUEUE_KEY_TTL_FACTOR} then
  redis.call('SET', KEYS[5], '1', 'PX', live * ${QUEUE_KEY_TTL_FACTOR})
end
return {1, now}
`,
}

/**
 * KEYS: lock, fence counter, queue, queue entries. ARGV: owner.
 *
 * Leaves the queue. → `{fence, pttl}` when `owner` holds the key (a grant
 * came first: the caller decides whether to keep it), nil otherwise.
 */
export const WITHDRAW: ScriptDefinition = {
  numberOfKeys: 4,
  lua: `
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return {tonumber(redis.call('GET', KEYS[2])) or 0, redis.call('PTTL', KEYS[1])}
end
return false
`,
}

/** The start of a grant message on a release channel: `g:<fence>:<ttl ms>:<server ms>:<owner>`. */
export const GRANT_PREFIX = 'g:'

/** A grant as its message tells it. */
export interface GrantMessage {
  readonly fence: number
  readonly ttlMs: number
  /** The server's clock when it granted, in ms. */
  readonly serverMs: number
  readonly owner: string
}

/** Parses a grant message; `undefined` for any other message (`released`, a reconnect). */
export function parseGrant(message: string): GrantMessage | undefined {
  if (!message.startsWith(GRANT_PREFIX)) return undefined
  const first = message.indexOf(':', 2)
  const second = message.indexOf(':', first + 1)
  const third = message.indexOf(':', second + 1)
  if (first < 0 || second < 0 || third < 0) return undefined
  const fence = Number(message.slice(2, first))
  const ttlMs = Number(message.slice(first + 1, second))
  const serverMs = Number(message.slice(second + 1, third))
  if (!Number.isFinite(fence) || !Number.isFinite(ttlMs) || !Number.isFinite(serverMs)) return undefined
  return { fence, ttlMs, serverMs, owner: message.slice(third + 1) }
}
