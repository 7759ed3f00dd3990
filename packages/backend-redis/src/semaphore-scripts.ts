/**
 * The Lua scripts of the Redis backend's counting semaphores, one per
 * operation, each one atomic attempt.
 *
 * One semaphore `k` is three keys under one hash tag (one cluster slot):
 *
 * - a sorted set of holders: member the owner token, score the instant its
 *   permits expire, in ms on the server's clock (`TIME` + ttl);
 * - a hash: field the owner token, value `"<permits>:<fence>"`; plus the
 *   field `"\xff"` with the sum of the holders' permits. A single 0xFF byte
 *   is never valid UTF-8, so no owner token (a JavaScript string, sent as
 *   UTF-8) can be that field;
 * - the fence counter, a plain integer that never expires, like a lock's.
 *
 * A holder whose score is at or before the server's time has expired: it
 * neither counts nor can extend or release. An acquisition drops such holders
 * first (and their permits from the total). The sorted set and the hash expire together (`PEXPIREAT`
 * of the latest holder's expiry), so a semaphore nobody holds leaves nothing
 * behind but its fence counter.
 *
 * KEYS of every script: holders (sorted set), permits (hash), then a
 * script-specific one. Keys and owners arrive only as `KEYS` and `ARGV`;
 * the release channel too is an `ARGV` (see `scripts.ts`).
 */

import type { ScriptDefinition } from './scripts.js'

/** `now`: the server's clock in ms. */
const NOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`

/** Lets both keys live exactly as long as the holder that expires last (the set is not empty). */
const KEEP_UNTIL_LAST_EXPIRY = `
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local at = string.format('%.0f', tonumber(last[2]))
redis.call('PEXPIREAT', KEYS[1], at)
redis.call('PEXPIREAT', KEYS[2], at)
`

/**
 * KEYS: holders, permits, fence counter. ARGV: owner, permits, limit, ttl ms.
 *
 * First drops the holders whose expiry has passed, and their permits from
 * the total. Then: `owner` already holds permits → refresh its expiry,
 * answer its fence. Room for `permits` under `limit` → `INCR` the fence
 * counter (a counter that did not exist starts at the server's time in µs,
 * as a lock's does), record the holder → the fence (an integer).
 * No room → the unexpired holders, flat: `{owner, permits, fence, remaining ms, …}`.
 * A refusal counts the holders one by one, so a stored total that disagrees
 * with them (it never should) is corrected there instead of refusing wrongly.
 */
export const ACQUIRE_PERMITS: ScriptDefinition = {
  numberOfKeys: 3,
  lua: `${NOW}
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #expired > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('DEL', KEYS[2])
  else
    local freed = 0
    for i = 1, #expired do
      local held = redis.call('HGET', KEYS[2], expired[i])
      if held then
        freed = freed + tonumber(string.match(held, '^(%d+)'))
        redis.call('HDEL', KEYS[2], expired[i])
      end
    end
    redis.call('HINCRBY', KEYS[2], '\\255', -freed)
  end
end
local expiry = now + tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[2], ARGV[1], '\\255')
if state[1] then
  redis.call('ZADD', KEYS[1], expiry, ARGV[1])
  ${KEEP_UNTIL_LAST_EXPIRY}
  return tonumber(string.match(state[1], ':(%d+)$'))
end
local permits = tonumber(ARGV[2])
local inUse = tonumber(state[2]) or 0
if inUse + permits > tonumber(ARGV[3]) then
  local holders = {}
  local counted = 0
  local live = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  for i = 1, #live, 2 do
    local value = redis.call('HGET', KEYS[2], live[i])
    if value then
      local count, fence = string.match(value, '^(%d+):(%d+)$')
      counted = counted + tonumber(count)
      holders[#holders + 1] = live[i]
      holders[#holders + 1] = count
      holders[#holders + 1] = fence
      holders[#holders + 1] = tonumber(live[i + 1]) - now
    end
  end
  if counted + permits > tonumber(ARGV[3]) then return holders end
  inUse = counted
end
local fence = redis.call('INCR', KEYS[3])
if fence == 1 then
  fence = tonumber(time[1]) * 1000000 + tonumber(time[2])
  redis.call('SET', KEYS[3], string.format('%.0f', fence))
end
redis.call('ZADD', KEYS[1], expiry, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':' .. string.format('%.0f', fence), '\\255', inUse + permits)
${KEEP_UNTIL_LAST_EXPIRY}
return fence
`,
}

/**
 * KEYS: holders, permits. ARGV: owner, ttl ms.
 * `owner` holds unexpired permits → its expiry becomes now + ttl → 1; otherwise 0.
 */
export const EXTEND_PERMITS: ScriptDefinition = {
  numberOfKeys: 2,
  lua: `${NOW}
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) <= now then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
${KEEP_UNTIL_LAST_EXPIRY}
return 1
`,
}

/**
 * KEYS: holders, permits, release record. ARGV: owner, release channel, record ttl ms.
 *
 * `owner` holds unexpired permits → drop them (the last holder takes both
 * keys with it), write the record of this call (see `RELEASE` in
 * `scripts.ts`: a resend after a reconnect answers 1 too), `PUBLISH` → 1.
 * Otherwise 1 if this very call already released, else 0. Other holders'
 * expired entries are left to the next acquisition.
 */
export const RELEASE_PERMITS: ScriptDefinition = {
  numberOfKeys: 3,
  lua: `${NOW}
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) > now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('DEL', KEYS[2])
  else
    local held = redis.call('HGET', KEYS[2], ARGV[1])
    if held then
      redis.call('HDEL', KEYS[2], ARGV[1])
      redis.call('HINCRBY', KEYS[2], '\\255', -tonumber(string.match(held, '^(%d+)')))
    end
  end
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
  redis.call('PUBLISH', ARGV[2], 'released')
  return 1
end
if redis.call('EXISTS', KEYS[3]) == 1 then return 1 end
return 0
`,
}

/**
 * KEYS: holders, permits. → the unexpired holders, flat:
 * `{owner, permits, fence, remaining ms, …}`. Reads only.
 */
export const PEEK_PERMITS: ScriptDefinition = {
  numberOfKeys: 2,
  lua: `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('(%.0f', now), '+inf', 'WITHSCORES')
local holders = {}
for i = 1, #live, 2 do
  local value = redis.call('HGET', KEYS[2], live[i])
  if value then
    local count, fence = string.match(value, '^(%d+):(%d+)$')
    holders[#holders + 1] = live[i]
    holders[#holders + 1] = count
    holders[#holders + 1] = fence
    holders[#holders + 1] = tonumber(live[i + 1]) - now
  end
end
return holders
`,
}
