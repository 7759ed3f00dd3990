/**
 * Every Lua script the Redis backend runs, in one place.
 *
 * Keys and owners reach the scripts only as `KEYS` and `ARGV`, never spliced
 * into the Lua text. All `KEYS` of one call share a hash tag, so each script
 * runs on a single Redis Cluster slot (no CROSSSLOT). The release channel is
 * passed in `ARGV`: classic `PUBLISH` is not bound to a slot (in a cluster it is
 * broadcast to every node), and ioredis' `keyPrefix` is not applied to it, just
 * as it is not applied to the subscriber's `SUBSCRIBE`.
 *
 * Results never contain a Lua `nil` inside a table (it would truncate the
 * reply); a missing fence counter reads as 0.
 */

/** A script's Lua text and how many of its arguments are `KEYS` (the rest are `ARGV`). */
export interface ScriptDefinition {
  readonly lua: string
  readonly numberOfKeys: number
}

/**
 * KEYS: lock, fence counter. ARGV: owner, ttl ms.
 *
 * Free → `SET NX PX`, `INCR` the fence counter → the fence (an integer).
 * A counter that did not exist (a new key, or a server that restarted without
 * persistence) starts at the server's time in microseconds since the epoch,
 * so fences keep rising across data loss as long as the server's clock does
 * and a key is taken less than once per microsecond on average. (2^53 µs is
 * the year 2255: fences stay exact JavaScript integers.)
 * Held by the same owner → refresh the expiry, keep the fence → the fence
 * (a command resent after a reconnect must not orphan the lease).
 * Held by another → `{fence, pttl, owner}`.
 *
 * The common case answers a bare integer: the cheapest reply to encode and parse.
 */
export const ACQUIRE: ScriptDefinition = {
  numberOfKeys: 2,
  lua: `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local fence = redis.call('INCR', KEYS[2])
  if fence == 1 then
    local now = redis.call('TIME')
    fence = tonumber(now[1]) * 1000000 + tonumber(now[2])
    redis.call('SET', KEYS[2], string.format('%.0f', fence))
  end
  return fence
end
local holder = redis.call('GET', KEYS[1])
local fence = tonumber(redis.call('GET', KEYS[2])) or 0
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return fence
end
return {fence, redis.call('PTTL', KEYS[1]), holder}
`,
}

/** KEYS: lock. ARGV: owner, ttl ms. Compare-and-`PEXPIRE` → 1 or 0. */
export const EXTEND: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`,
}

/**
 * KEYS: lock, release record, waiting marker, fence counter, queue, queue entries.
 * ARGV: owner, release channel, record ttl ms.
 *
 * Compare-and-delete → 1; 0 when `owner` does not hold the key. One `DEL`
 * removes the lease and the waiting marker: the lease exists (its owner was
 * just read), so 1 deleted key means nobody marked the key, and the release
 * is done (the common case: three commands, no queue lookup, no `PUBLISH`;
 * in a Redis Cluster a classic `PUBLISH` is broadcast to every node).
 *
 * A marked key may have queued waiters: every waiter sets the marker, for
 * `waitForRelease` (see {@link PEEK_AND_MARK}) and grant-on-release alike
 * (`ENQUEUE` sets it and `REFRESH` keeps it alive while the entry is
 * queued; see `grant-scripts.ts`). Then the hand-over: it pops queued
 * entries oldest first, drops those whose liveness deadline has passed on
 * the server's clock, and hands the key to the first live one — its owner,
 * its ttl, the next fence from the counter — and `PUBLISH`es the grant,
 * `g:<fence>:<ttl>:<server ms>:<owner>`. With no live entry it `PUBLISH`es
 * `released`. While entries are left in the queue it sets the marker again,
 * for as long as the queue keys live, so the next release looks at the queue
 * too. A waiter woken by the message that still finds the key held waits
 * again, and marks it again. At most 100 dead entries are dropped per
 * release (the rest expire with the queue keys), so the script stays short.
 *
 * A release also writes a short-lived record under a key unique to this call
 * (`<base>freed:<call id>`): ioredis resends a command whose reply was lost
 * when the connection dropped, and that resend finds the key already freed —
 * by this very call, or handed on by it. The record makes it answer 1 again
 * instead of a wrong 0. A second, separate release call has another call id
 * and still gets 0.
 */
export const RELEASE: ScriptDefinition = {
  numberOfKeys: 6,
  lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  if redis.call('DEL', KEYS[1], KEYS[3]) == 1 then return 1 end
  if redis.call('EXISTS', KEYS[5]) == 1 then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local granted = false
    for _ = 1, 100 do
      local head = redis.call('ZPOPMIN', KEYS[5])
      if #head == 0 then break end
      local waiter = head[1]
      local entry = redis.call('HGET', KEYS[6], waiter)
      redis.call('HDEL', KEYS[6], waiter)
      if entry then
        local deadline, ttl = string.match(entry, '^(%d+):(%d+)$')
        if deadline and tonumber(deadline) >= now then
          redis.call('SET', KEYS[1], waiter, 'PX', ttl)
          local fence = redis.call('INCR', KEYS[4])
          if fence == 1 then
            fence = tonumber(t[1]) * 1000000 + tonumber(t[2])
            redis.call('SET', KEYS[4], string.format('%.0f', fence))
          end
          redis.call('PUBLISH', ARGV[2], 'g:' .. string.format('%.0f', fence) .. ':' .. ttl .. ':' .. string.format('%.0f', now) .. ':' .. waiter)
          granted = true
          break
        end
      end
    end
    local left = redis.call('PTTL', KEYS[5])
    if left > 0 then redis.call('SET', KEYS[3], '1', 'PX', left) end
    if granted then return 1 end
  end
  redis.call('PUBLISH', ARGV[2], 'released')
  return 1
end
if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
return 0
`,
}

/** KEYS: lock, fence counter. → `{owner, fence, pttl}`, or nil when free. */
export const PEEK: ScriptDefinition = {
  numberOfKeys: 2,
  lua: `
local owner = redis.call('GET', KEYS[1])
if not owner then return false end
return {owner, tonumber(redis.call('GET', KEYS[2])) or 0, redis.call('PTTL', KEYS[1])}
`,
}

/**
 * KEYS: lock, fence counter, waiting marker. ARGV: marker ttl ms.
 *
 * {@link PEEK} for a waiter already subscribed to the release channel: when
 * the key is held it also sets the waiting marker (or lengthens it to at
 * least the ttl), so the holder's release publishes. One atomic step: a
 * release either came before (→ nil, the key is free) or sees the marker.
 */
export const PEEK_AND_MARK: ScriptDefinition = {
  numberOfKeys: 3,
  lua: `
local owner = redis.call('GET', KEYS[1])
if not owner then return false end
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
end
return {owner, tonumber(redis.call('GET', KEYS[2])) or 0, redis.call('PTTL', KEYS[1])}
`,
}

/** KEYS: cache entry. → `{stored value, pttl}`, or nil on a miss. */
export const GET_CACHED: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
local value = redis.call('GET', KEYS[1])
if not value then return false end
return {value, redis.call('PTTL', KEYS[1])}
`,
}
