/**
 * The adapter contract every lockwork backend implements.
 *
 * Small on purpose: every method is one atomic attempt against the store. It
 * never waits, never sleeps and never retries; waiting, backoff,
 * auto-extension, single-flight and scheduling live once in the core.
 *
 * Keys arrive already prefixed and validated by the core (non-empty, at most
 * {@link MAX_FULL_KEY_LENGTH} UTF-16 code units, no unpaired surrogates, and
 * no control characters other than the U+001F the core puts between a prefix
 * and a key). Durations arrive as positive
 * integer milliseconds. A backend must treat keys as opaque parameters, never
 * splice them into SQL or Lua. Owner tokens are opaque strings of up to
 * `MAX_OWNER_LENGTH` (255) UTF-16 code units of printable Unicode, stored and
 * compared exactly.
 */
export interface LockBackend {
  /** A short name for messages and metrics, e.g. `'redis'`. */
  readonly name: string

  /**
   * Takes `key` for `owner` for `ttlMs` if it is free or expired. Atomic: of
   * any number of concurrent calls for a free key exactly one succeeds. If the
   * key is already held by the same `owner`, succeeds again with the same
   * fence (idempotent, so a request resent after a reconnect cannot orphan a
   * lease) and leaves the expiry unchanged or refreshed. Otherwise reports
   * the current holder.
   */
  acquire(key: string, owner: string, ttlMs: number): Promise<AcquireResult>

  /** Sets the remaining lease of `key` to `ttlMs` if `owner` holds it and it has not expired. */
  extend(key: string, owner: string, ttlMs: number): Promise<boolean>

  /** Frees `key` if `owner` holds it and it has not expired; wakes waiters where the backend can. */
  release(key: string, owner: string): Promise<boolean>

  /** The current unexpired holder of `key`, or `null` when it is free. */
  peek(key: string): Promise<LockInfo | null>

  /** Reads a cache entry with its remaining lifetime, or `undefined` on a miss or after expiry. */
  getCached(key: string): Promise<StoredCacheEntry | undefined>

  /** Writes (or overwrites) a cache entry that expires after `ttlMs`. */
  setCached(key: string, entry: CacheEntry, ttlMs: number): Promise<void>

  /** Deletes a cache entry; returns whether one existed. */
  deleteCached(key: string): Promise<boolean>

  /**
   * Optional wake-on-release: resolves when `key` is released or expires, when
   * `timeoutMs` ends, or when `signal` aborts (it never rejects for those).
   * It may resolve early (a spurious wake-up); the core simply tries again.
   * Implementations must not miss a release that happens after the call
   * starts: subscribe first, then check whether the key is already free.
   */
  waitForRelease?(key: string, timeoutMs: number, signal?: AbortSignal): Promise<void>

  /**
   * Optional grant-on-release: waits in the backend's queue for `key` as
   * `owner`, asking for a lease of `ttlMs`. While the call lasts, `owner`
   * stays queued in arrival order (the backend keeps the entry alive); a
   * release of `key` hands the lease straight to the oldest live queued
   * owner (a new fence, `ttlMs` on the backend's clock) and tells it, so the
   * waiter holds the key without another `acquire`.
   *
   * Resolves with the {@link LockGrant} when `owner` was handed the key (then
   * `owner` holds it exactly as after a successful `acquire`). Resolves
   * `undefined` when the key may be free (it was free when the wait began,
   * the holder's lease ran out, or a release found no live queued owner),
   * at `timeoutMs`, on abort or on close: by then `owner` is no longer
   * queued. A grant that raced with such an end is still reported (also
   * after an abort): the caller then holds the key and must release it if it
   * no longer wants it. It never rejects for those; it rejects with a
   * `BackendError` when the backend fails.
   *
   * Queued owners whose process stopped keeping their entry alive are
   * skipped after a bound the backend documents. A caller that never waited
   * may still take a free key with `acquire`. The core calls this, where
   * present, for plain locks instead of `waitForRelease`.
   */
  waitForGrant?(
    key: string,
    owner: string,
    ttlMs: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<LockGrant | undefined>

  /**
   * Optional listing, for operators: one page of the unexpired locks and
   * cache entries whose keys start with `options.prefix`, compared literally
   * (never as a pattern: `%`, `_`, `*`, `?`, `[` are plain characters). Locks
   * come first, then cache entries. One bounded piece of work per call, never
   * a wait. Pass the page's `cursor` back for the next page; an entry that
   * exists from the first call to the last is listed exactly once, and an
   * expired one is never listed. A page may hold fewer than `limit` entries,
   * even none, while more follow: the listing ends when `cursor` is `undefined`.
   */
  list?(options: ListOptions): Promise<ListPage>

  /** Frees the backend's own resources. Idempotent; any call after it rejects with a `BackendError`. */
  close(): Promise<void>

  // ---- Optional capability: counting semaphores (used by `lw.semaphore` and `lw.rwlock`). ----
  // A backend implements all four of acquirePermits / extendPermits / releasePermits / peekPermits,
  // or none. Semaphores live in their own namespace: semaphore `k` and lock `k` are unrelated.

  /**
   * One atomic attempt to take `permits` of the semaphore `key` for `owner`
   * for `ttlMs`. Holders whose lease has expired are ignored (and may be
   * dropped). Succeeds when the permits of the unexpired holders plus
   * `permits` are at most `limit`: the limit is the caller's, so a new limit
   * applies to new acquisitions and never evicts a holder. If `owner`
   * already holds permits of `key`, succeeds again with the same fence and
   * permits (idempotent, like {@link LockBackend.acquire}), leaving the expiry
   * unchanged or refreshed. The fence comes from one counter per semaphore:
   * strictly increasing across successful acquisitions of `key`, never reused,
   * also after every holder expired. `permits` and `limit` arrive as integers
   * with 1 ≤ permits ≤ limit ≤ {@link MAX_SEMAPHORE_LIMIT}.
   */
  acquirePermits?(
    key: string,
    owner: string,
    permits: number,
    limit: number,
    ttlMs: number,
  ): Promise<PermitAcquireResult>

  /** Sets the remaining lease of `owner`'s permits of `key` to `ttlMs` if they have not expired. */
  extendPermits?(key: string, owner: string, ttlMs: number): Promise<boolean>

  /** Frees `owner`'s permits of `key` if they have not expired; wakes waiters where the backend can. */
  releasePermits?(key: string, owner: string): Promise<boolean>

  /** The unexpired holders of semaphore `key` (an empty list when none). */
  peekPermits?(key: string): Promise<PermitHolders>

  /**
   * Optional wake-on-release for semaphores: resolves when permits of `key`
   * are released or expire, when `timeoutMs` ends, or when `signal` aborts (it
   * never rejects for those). It may resolve early. It must not miss a
   * release after the call starts: subscribe first, then resolve at once if
   * `permits` of `limit` are already free.
   */
  waitForPermits?(
    key: string,
    permits: number,
    limit: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void>
}

/** What {@link LockBackend.list} lists: only locks, only cache entries, or both when absent. */
export type ListKind = 'locks' | 'cache'

/** Options of {@link LockBackend.list}. */
export interface ListOptions {
  /** Only keys that start with this exact text, as the backend sees keys (prefix included); `''` lists every key. */
  readonly prefix: string
  /** The `cursor` of the previous page; absent for the first page. Opaque: only the backend that made it reads it. */
  readonly cursor?: string | undefined
  /** The most entries (locks plus cache entries) on one page: an integer from 1 to {@link MAX_LIST_LIMIT}. */
  readonly limit: number
  /** Only locks or only cache entries; both when absent. */
  readonly kind?: ListKind | undefined
}

/** One page of {@link LockBackend.list}. */
export interface ListPage {
  /** Unexpired locks, with the key as the backend sees it. */
  readonly locks: readonly ListedLock[]
  /** Unexpired cache entries, with the key as the backend sees it. */
  readonly cacheEntries: readonly ListedCacheEntry[]
  /** Where the next page starts, or `undefined` when this was the last one. */
  readonly cursor: string | undefined
}

/** A held lock as {@link LockBackend.list} reports it. */
export interface ListedLock extends LockInfo {
  /** The key, as the backend sees it. */
  readonly key: string
  /** How many callers wait for it, where the backend knows (the memory backend); absent elsewhere. */
  readonly waiting?: number
}

/** A cache entry as {@link LockBackend.list} reports it. */
export interface ListedCacheEntry {
  /** The key, as the backend sees it. */
  readonly key: string
  /** The size of the encoded value, in UTF-8 bytes. */
  readonly size: number
  /** Milliseconds until the entry expires, on the backend's own clock. */
  readonly remainingMs: number
}

/** The largest page {@link LockBackend.list} is asked for. */
export const MAX_LIST_LIMIT = 1000

/** The outcome of one {@link LockBackend.acquirePermits} attempt. */
export type PermitAcquireResult =
  | { readonly acquired: true; readonly fence: number; readonly ttlMs: number }
  | { readonly acquired: false; readonly holders: PermitHolders }

/** The unexpired holders of one semaphore, measured on the backend's clock. */
export interface PermitHolders {
  /** The sum of the holders' permits. */
  readonly inUse: number
  /** One entry per holder, in no particular order. */
  readonly holders: readonly PermitHolder[]
}

/** One holder of a semaphore's permits. */
export interface PermitHolder {
  /** The holder's owner token. */
  readonly owner: string
  /** How many permits it holds. */
  readonly permits: number
  /** The fence its acquisition got. */
  readonly fence: number
  /** Milliseconds until its permits expire, on the backend's own clock. */
  readonly remainingMs: number
}

/** The largest semaphore limit a backend must support. */
export const MAX_SEMAPHORE_LIMIT = 1_000_000

/** The outcome of one {@link LockBackend.acquire} attempt. */
export type AcquireResult =
  | { readonly acquired: true; readonly fence: number; readonly ttlMs: number }
  | { readonly acquired: false; readonly holder: LockInfo }

/** A lease handed to a queued owner on release ({@link LockBackend.waitForGrant}). */
export interface LockGrant {
  /** The fence of the new lease: strictly increasing across successive holders, as for `acquire`. */
  readonly fence: number
  /** Milliseconds the lease lasts at least, counted from when the wait resolved (on the caller's clock). */
  readonly remainingMs: number
}

/** Who holds a key, with its fence and remaining lease measured on the backend's clock. */
export interface LockInfo {
  /** The holder's owner token. */
  readonly owner: string
  /** The holder's fencing token: strictly increasing across successive holders of one key. */
  readonly fence: number
  /** Milliseconds until the lease expires, on the backend's own clock. */
  readonly remainingMs: number
}

/** What `cached` stores: an encoded value and how long it took to compute. */
export interface CacheEntry {
  /** The value as encoded by the codec. */
  readonly value: string
  /** How long the computation took, in ms (used for probabilistic early refresh). */
  readonly computeMs: number
}

/** A cache entry as read back, with its remaining lifetime on the backend's clock. */
export interface StoredCacheEntry extends CacheEntry {
  /** Milliseconds until the entry expires. */
  readonly remainingMs: number
}

/** Longest key accepted, in UTF-16 code units, not counting the prefix. */
export const MAX_KEY_LENGTH = 512

/** Longest prefix accepted, in UTF-16 code units. */
export const MAX_PREFIX_LENGTH = 128

/** Longest key a backend receives: a prefix, one separator and a key. */
export const MAX_FULL_KEY_LENGTH = MAX_PREFIX_LENGTH + 1 + MAX_KEY_LENGTH

/** Longest duration accepted (2^31 − 1 ms, about 24.8 days: the longest Node.js timer). */
export const MAX_DURATION_MS = 2_147_483_647
