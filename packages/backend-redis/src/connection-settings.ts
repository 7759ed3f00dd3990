import { InvalidArgumentError } from '@lockwork/core'
import type { IoredisConnectionOptions } from './client-types.js'

/**
 * The ioredis settings a backend uses for the connection it opens from `url`,
 * made for locks: a lock request fails within seconds when Redis is
 * unreachable instead of waiting in ioredis' offline queue through 20
 * reconnection attempts (about 73 s with ioredis' defaults).
 *
 * - `connectTimeout` 2 s: a host that does not answer counts as down after 2 s.
 * - `maxRetriesPerRequest` 1: a command waits for at most two connection
 *   attempts, then rejects.
 * - `retryStrategy`: reconnect after 100 ms, 200 ms, … at most 1 s apart, for
 *   ever (the backend recovers by itself when Redis is back).
 * - `disconnectTimeout` 100 ms: ioredis arms this timer on `disconnect()` even
 *   for a socket that is already closed (Redis was down), and it kept the
 *   process alive for 2 s after `close()`.
 *
 * The offline queue stays on so the first commands wait for the connection
 * being set up, bounded by the settings above. Options you pass in
 * `redisOptions` override these.
 */
export const LOCK_CONNECTION_DEFAULTS = {
  connectTimeout: 2_000,
  maxRetriesPerRequest: 1,
  retryStrategy: (attempt: number): number => Math.min(attempt * 100, 1_000),
  disconnectTimeout: 100,
} as const satisfies IoredisConnectionOptions

/** The few ioredis settings the backend checks on a connection. */
export interface CheckedSettings {
  readonly enableOfflineQueue?: boolean | undefined
  readonly maxRetriesPerRequest?: number | null | undefined
}

/**
 * Rejects settings under which a lock request can wait for Redis without
 * bound: the offline queue on and `maxRetriesPerRequest: null` (the setting
 * BullMQ asks for) keep a command queued until Redis comes back, so `acquire`
 * would ignore its `wait` and a `withLock` would hang through an outage.
 */
export function checkConnectionSettings(settings: CheckedSettings, argument: string): void {
  if (settings.enableOfflineQueue !== false && settings.maxRetriesPerRequest === null) {
    throw new InvalidArgumentError(
      argument,
      'maxRetriesPerRequest: null with the offline queue on holds a lock request until Redis is back, ' +
        'however long that takes; use a connection with maxRetriesPerRequest set to a small number ' +
        '(e.g. 1), or pass `url` and let the backend open one made for locks',
    )
  }
}

/**
 * Checks a `url` option: a non-empty `redis://` or `rediss://` URL, or the
 * absolute path of a Unix socket. Returns the endpoint to name in errors
 * (host:port or the socket path; never the password).
 */
export function parseRedisUrl(url: unknown): string {
  if (typeof url !== 'string' || url.trim() === '') {
    throw new InvalidArgumentError(
      'options.url',
      `expected a redis:// or rediss:// URL, got ${url === '' ? 'an empty string' : typeof url}`,
    )
  }
  if (url.startsWith('/')) return url.split('?')[0] ?? url
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new InvalidArgumentError(
      'options.url',
      'expected a redis:// or rediss:// URL, got an unparsable string',
    )
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new InvalidArgumentError(
      'options.url',
      `expected a redis:// or rediss:// URL, got a ${parsed.protocol.replace(/:$/, '')}: URL`,
    )
  }
  return `${parsed.hostname || 'localhost'}:${parsed.port || '6379'}`
}

/** What a connection's settings say about where it goes, for error messages (never the password). */
export function endpointOf(options: {
  host?: string | undefined
  port?: number | undefined
  path?: string | null | undefined
}): string {
  if (typeof options.path === 'string' && options.path !== '') return options.path
  return `${options.host ?? 'localhost'}:${options.port ?? 6379}`
}
