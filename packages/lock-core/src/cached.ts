import { MAX_DURATION_MS, type StoredCacheEntry } from './backend.js'
import { throwIfClientClosed } from './closed-error.js'
import { type Codec, decodeOwnText, encodeValue, resolveCodec } from './codec.js'
import { type Duration, describe, toMs } from './duration.js'
import { ComputeFailedError, InvalidArgumentError, LockBusyError, LockTimeoutError } from './errors.js'
import {
  attemptLock,
  deriveKey,
  errorSummary,
  type KeyOption,
  keyResolver,
  newBackoff,
  type PartialKeyOption,
  waitForHolder,
} from './helper-support.js'
import type { Lock } from './lock.js'
import type { Lockwork } from './lockwork.js'
import { optionsObject, requireFunction } from './options.js'
import { labelOf, ownerToken } from './owner-label.js'
import { type CacheComputeStartMessage, channels } from './telemetry.js'

/** Options of {@link Lockwork.cached}. */
export interface CachedOptions<A extends unknown[], T> {
  /**
   * The cache key: a string, or a function of the call's arguments (it gets
   * exactly the arguments `fn` gets, so its default parameter values apply).
   */
  readonly key: KeyOption<A>
  /** How long a computed value is fresh. Default: the client's `defaultTtl`. */
  readonly ttl?: Duration
  /**
   * After `ttl`, keep serving the old value for up to this long while exactly
   * one caller (across every process) recomputes it in the background. Default 0.
   */
  readonly staleFor?: Duration
  /**
   * Probabilistic early recomputation (XFetch): a caller that reads a fresh
   * value recomputes it in the background when
   * `now − computeMs·β·ln(random()) ≥ expiry`, so hot keys are refreshed
   * shortly before they expire instead of all at once. `true` is β = 1; a
   * number is β (> 1 refreshes earlier). Default `false` (off).
   */
  readonly earlyRefresh?: boolean | number
  /**
   * How values become stored text and back. Default {@link devalueCodec}
   * (Date, Map, Set, BigInt, undefined, NaN, typed arrays… round-trip; class
   * instances, functions and symbols are an `InvalidArgumentError`); pass
   * {@link jsonCodec} for plain JSON.
   */
  readonly codec?: Codec<T>
  /**
   * The lease of the compute lock that makes one caller compute while the
   * others wait; it is auto-extended while `fn` runs, so it only bounds how
   * long others wait for a process that died mid-computation. Default: the
   * client's `defaultTtl`.
   */
  readonly lockTtl?: Duration
  /**
   * How long a call waits for another process's computation before it gives
   * up with `LockTimeoutError` (`0`: `LockBusyError` at once). Default: as
   * long as that computation's lock is alive.
   */
  readonly wait?: Duration
}

/**
 * {@link CachedOptions} whose key function takes only the first few of
 * `fn`'s parameters, e.g. `{ key: (sym: string) => sym }` for `fn(sym, signal)`.
 */
export type CachedOptionsPartialKey<A extends unknown[], T> = Omit<CachedOptions<A, T>, 'key'> & {
  readonly key: PartialKeyOption<A>
}

/**
 * The function {@link Lockwork.cached} returns: `fn` behind a shared cache,
 * computed once per key across every process sharing the backend.
 */
export interface CachedFunction<A extends unknown[], T> {
  (...args: A): Promise<T>
  /** Deletes the cached value for these arguments; resolves whether one existed. */
  invalidate(...args: A): Promise<boolean>
  /** The cached value for these arguments (fresh or stale), or `undefined`; never computes. */
  peek(...args: A): Promise<T | undefined>
  /** The cache key a call with these arguments uses. */
  key(...args: A): string
}

/** How long the marker of a failed computation lives, so waiters elsewhere can read it. */
const ERROR_MARKER_TTL_MS = 30_000

/** What the marker of a failed computation holds. */
interface ErrorMarker {
  readonly fence: number
  readonly name: string
  readonly message: string
}

/** The keys one cache key uses in the backend. */
interface DerivedKeys {
  /** The key as the caller named it. */
  readonly key: string
  /** The cache entry: `prefix + key`, in the backend's cache namespace. */
  readonly entry: string
  /** The compute lock, in the lock namespace. */
  readonly lock: string
  /** The marker of a failed computation, in the cache namespace. */
  readonly error: string
}

/**
 * Builds the function behind {@link Lockwork.cached}; every option is
 * validated here, before any call.
 */
export function createCached<A extends unknown[], T>(
  lw: Lockwork,
  options: CachedOptions<A, T> | CachedOptionsPartialKey<A, T>,
  fn: (...args: A) => T | Promise<T>,
): CachedFunction<A, T> {
  const opts = optionsObject(options)
  requireFunction(fn, 'fn')
  const resolveKey = keyResolver<A>(opts.key)
  const ttlMs = opts.ttl === undefined ? lw.defaultTtlMs : toMs(opts.ttl, 'options.ttl')
  const staleMs = opts.staleFor === undefined ? 0 : toMs(opts.staleFor, 'options.staleFor', true)
  const beta = earlyRefreshBeta(opts.earlyRefresh)
  const codec = resolveCodec<T>(opts.codec)
  const lockTtlMs = opts.lockTtl === undefined ? lw.defaultTtlMs : toMs(opts.lockTtl, 'options.lockTtl')
  const waitMs = opts.wait === undefined ? undefined : toMs(opts.wait, 'options.wait', true)
  const storeTtlMs = Math.min(MAX_DURATION_MS, ttlMs + staleMs)
  const backend = lw.backend

  /** Calls in flight in this process, by cache key: concurrent calls share one. */
  const inflight = new Map<string, Promise<T>>()
  /** Keys this process is refreshing in the background. */
  const refreshing = new Set<string>()

  const keysOf = (key: string): DerivedKeys => ({
    key,
    entry: lw.fullKey(key),
    lock: deriveKey(lw.prefix, 'cached', key),
    error: deriveKey(lw.prefix, 'error', key),
  })

  /** Reads and decodes an entry; one the codec cannot read counts as a miss. */
  const read = async (keys: DerivedKeys): Promise<{ value: T; entry: StoredCacheEntry } | undefined> => {
    const entry = await backend.getCached(keys.entry)
    if (entry === undefined) return undefined
    try {
      return { value: codec.decode(entry.value), entry }
    } catch {
      return undefined
    }
  }

  /** Runs `fn`, stores its encoded value and returns it as every other reader will see it. */
  const computeAndStore = async (keys: DerivedKeys, args: A, background = false): Promise<T> => {
    const startedAt = performance.now()
    const traced = channels.cacheComputeStart.hasSubscribers || channels.cacheComputeEnd.hasSubscribers
    const start: CacheComputeStartMessage | undefined = traced
      ? { backend: backend.name, key: keys.key, background }
      : undefined
    if (start !== undefined) channels.cacheComputeStart.publish(start)
    try {
      const value = await fn(...args)
      const computeMs = Math.max(0, Math.round(performance.now() - startedAt))
      const text = encodeValue(codec, value, keys.key)
      // Round-trip before storing: an entry no reader can decode is never written.
      const decoded = decodeOwnText(codec, text, keys.key)
      await backend.setCached(keys.entry, { value: text, computeMs }, storeTtlMs)
      if (start !== undefined) {
        channels.cacheComputeEnd.publish({ start, outcome: 'ok', computeMs: performance.now() - startedAt })
      }
      return decoded
    } catch (error) {
      if (start !== undefined) {
        const computeMs = performance.now() - startedAt
        channels.cacheComputeEnd.publish({ start, outcome: 'error', computeMs, error })
      }
      throw error
    }
  }

  /** Computes while holding the compute lock; on failure, leaves a marker for the waiters elsewhere. */
  const computeHolding = async (keys: DerivedKeys, lock: Lock, args: A): Promise<T> => {
    try {
      // Someone may have stored a value between our miss and our lock.
      const again = await read(keys)
      if (again !== undefined && again.entry.remainingMs > staleMs) return again.value
      return await computeAndStore(keys, args)
    } catch (error) {
      const marker: ErrorMarker = { fence: lock.fence, ...errorSummary(error) }
      await backend
        .setCached(keys.error, { value: JSON.stringify(marker), computeMs: 0 }, ERROR_MARKER_TTL_MS)
        .catch(() => undefined)
      throw error
    } finally {
      // Releasing wakes the waiters; if it fails (reported to onReleaseError), the lease still ends within lockTtl.
      await lock[Symbol.asyncDispose]()
    }
  }

  /** The marker of a failed computation, if there is a readable one. */
  const readMarker = async (keys: DerivedKeys): Promise<ErrorMarker | undefined> => {
    const stored = await backend.getCached(keys.error)
    if (stored === undefined) return undefined
    try {
      const marker = JSON.parse(stored.value) as Partial<ErrorMarker>
      if (typeof marker.fence !== 'number') return undefined
      return { fence: marker.fence, name: String(marker.name), message: String(marker.message) }
    } catch {
      return undefined
    }
  }

  /** Recomputes in the background (stale or early refresh) if no one else is; never rejects. */
  const refreshInBackground = (keys: DerivedKeys, args: A, seen: StoredCacheEntry): void => {
    if (refreshing.has(keys.entry)) return
    refreshing.add(keys.entry)
    const refresh = async (): Promise<void> => {
      const attempt = await attemptLock(
        backend,
        ownerToken(lw.label),
        keys.lock,
        keys.key,
        lockTtlMs,
        true,
        lw.onReleaseError,
      )
      if (attempt.lock === undefined) return
      try {
        // A longer remaining lifetime than we saw means someone stored a new value meanwhile.
        const again = await backend.getCached(keys.entry)
        if (again !== undefined && again.remainingMs > seen.remainingMs) return
        await computeAndStore(keys, args, true)
      } finally {
        await attempt.lock[Symbol.asyncDispose]()
      }
    }
    refresh()
      // A failed refresh leaves the old value in place until it expires; the next miss computes again.
      .catch(() => undefined)
      .finally(() => refreshing.delete(keys.entry))
  }

  /** One call, across processes: read, or compute under the lock, or wait for whoever computes. */
  const load = async (keys: DerivedKeys, args: A): Promise<T> => {
    const startedAt = performance.now()
    const backoff = newBackoff()
    let waitedOn: number | undefined
    let looked = !channels.cacheLookup.hasSubscribers
    for (;;) {
      const hit = await read(keys)
      if (!looked) {
        looked = true
        const outcome = hit === undefined ? 'miss' : hit.entry.remainingMs > staleMs ? 'hit' : 'stale'
        channels.cacheLookup.publish({ backend: backend.name, key: keys.key, outcome })
      }
      if (hit !== undefined) {
        const freshMs = hit.entry.remainingMs - staleMs
        if (freshMs <= 0 || (beta > 0 && -hit.entry.computeMs * beta * Math.log(Math.random()) >= freshMs)) {
          refreshInBackground(keys, args, hit.entry)
        }
        return hit.value
      }
      if (waitedOn !== undefined) {
        const marker = await readMarker(keys)
        if (marker !== undefined && marker.fence === waitedOn) {
          throw new ComputeFailedError(keys.key, `${marker.name}: ${marker.message}`)
        }
      }
      const attempt = await attemptLock(
        backend,
        ownerToken(lw.label),
        keys.lock,
        keys.key,
        lockTtlMs,
        true,
        lw.onReleaseError,
      )
      if (attempt.lock !== undefined) return computeHolding(keys, attempt.lock, args)
      waitedOn = attempt.holder.fence
      const elapsed = performance.now() - startedAt
      if (waitMs !== undefined && elapsed >= waitMs) {
        const holderLabel = labelOf(attempt.holder.owner)?.text
        if (waitMs === 0) throw new LockBusyError(keys.key, attempt.holder.remainingMs, { holderLabel })
        throw new LockTimeoutError(keys.key, Math.round(elapsed), { holderLabel })
      }
      const leftMs = waitMs === undefined ? Number.POSITIVE_INFINITY : waitMs - elapsed
      await waitForHolder(backend, keys.lock, attempt.holder, leftMs, backoff)
    }
  }

  const call = async (...args: A): Promise<T> => {
    throwIfClientClosed(lw, 'cached')
    const keys = keysOf(resolveKey(args))
    const shared = inflight.get(keys.entry)
    if (shared !== undefined) return shared
    const loading = load(keys, args).finally(() => {
      if (inflight.get(keys.entry) === loading) inflight.delete(keys.entry)
    })
    inflight.set(keys.entry, loading)
    return loading
  }

  return Object.assign(call, {
    invalidate: async (...args: A) => {
      throwIfClientClosed(lw, 'cached.invalidate')
      return backend.deleteCached(lw.fullKey(resolveKey(args)))
    },
    peek: async (...args: A) => {
      throwIfClientClosed(lw, 'cached.peek')
      return (await read(keysOf(resolveKey(args))))?.value
    },
    key: (...args: A) => resolveKey(args),
  })
}

/** Validates `earlyRefresh`: `false`/absent → 0 (off), `true` → 1, a positive finite number → itself. */
function earlyRefreshBeta(value: unknown): number {
  if (value === undefined || value === false) return 0
  if (value === true) return 1
  if (typeof value === 'number' && Number.isFinite(value) && value > 0 && value <= 100) return value
  throw new InvalidArgumentError(
    'options.earlyRefresh',
    `expected a boolean or a number β in (0, 100], got ${describe(value)}`,
  )
}
