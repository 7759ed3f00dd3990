import { createHash } from 'node:crypto'
import { type LockBackend, type LockInfo, MAX_FULL_KEY_LENGTH } from './backend.js'
import { describe } from './duration.js'
import { InvalidArgumentError } from './errors.js'
import { leaseFresh, renewIfExpired } from './fresh-lease.js'
import { INTERNAL_SEPARATOR, validateKey } from './key.js'
import { Lock } from './lock.js'
import { INITIAL_BACKOFF_MS, jitter, MAX_BACKOFF_MS, sleep } from './wait.js'

/**
 * Internal plumbing shared by `once`, `cached` and `every`: keys from
 * arguments, keys lockwork derives for itself, one-attempt locks that report
 * their holder, and waiting for a holder to go away.
 */

/** A helper's `key` option: a fixed key, or a function of the call's arguments. */
export type KeyOption<A extends unknown[]> = string | ((...args: A) => string)

/**
 * `T`, in a position TypeScript does not infer `T` from. The helpers' second
 * overloads use it so that `fn`'s parameters alone decide the argument types
 * and the key function may take fewer of them.
 */
export type NotInferred<T> = [T][T extends unknown ? 0 : never]

/** A `key` option whose function may take only the first few of `fn`'s parameters. */
export type PartialKeyOption<A extends unknown[]> = string | ((...args: NotInferred<A>) => string)

/**
 * Validates a helper's `key` option up front and returns a function that
 * computes (and validates) the key of one call. A key function that throws
 * or returns something that is not a valid key gives an
 * {@link InvalidArgumentError} naming `argument` (the thrown error as `cause`).
 * The key function receives exactly the arguments of the call, so default
 * parameter values declared on it apply as they would on `fn`.
 */
export function keyResolver<A extends unknown[]>(
  key: unknown,
  argument = 'options.key',
): (args: A) => string {
  if (typeof key === 'string') {
    const fixed = validateKey(key, argument)
    return () => fixed
  }
  if (typeof key !== 'function') {
    throw new InvalidArgumentError(
      argument,
      `expected a string or a function of the arguments, got ${describe(key)}`,
    )
  }
  const keyOf = key as (...args: A) => unknown
  return (args) => {
    let computed: unknown
    try {
      computed = keyOf(...args)
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error)
      throw new InvalidArgumentError(argument, `the key function threw: ${detail}`, { cause: error })
    }
    return validateKey(computed, argument)
  }
}

/**
 * A key lockwork derives for its own use: `prefix + SEP + kind + SEP + rest`,
 * where SEP is {@link INTERNAL_SEPARATOR}. User keys cannot contain SEP, so a
 * derived key never equals a user key. When it would be longer than a
 * backend is promised, `rest` is replaced by `SEP + sha256(rest)`.
 */
export function deriveKey(prefix: string, kind: string, rest: string): string {
  const head = prefix + INTERNAL_SEPARATOR + kind + INTERNAL_SEPARATOR
  if (head.length + rest.length <= MAX_FULL_KEY_LENGTH) return head + rest
  return head + INTERNAL_SEPARATOR + createHash('sha256').update(rest).digest('base64url')
}

/** The outcome of {@link attemptLock}: the lock, or who holds the key. */
export type LockAttempt =
  | { readonly lock: Lock; readonly holder?: undefined }
  | { readonly lock?: undefined; readonly holder: LockInfo }

/**
 * One attempt to take `fullKey` for `owner` (a token from `ownerToken`; never waits). Unlike `tryAcquire` it reports
 * the current holder, with its fence, when the key is held. A lease whose
 * reply came after its local deadline is extended at once, or, when it is
 * already gone, tried once more; if that fails too the key is reported as
 * held by nobody in particular (owner `''`, no time left).
 */
export async function attemptLock(
  backend: LockBackend,
  owner: string,
  fullKey: string,
  displayKey: string,
  ttlMs: number,
  autoExtend: boolean,
  onReleaseError?: (error: unknown, key: string) => void,
): Promise<LockAttempt> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const sentAt = performance.now()
    const result = await backend.acquire(fullKey, owner, ttlMs)
    if (!result.acquired) return { holder: result.holder }
    const acquired = { fence: result.fence, ttlMs: result.ttlMs, sentAt }
    const acquisition = leaseFresh(acquired)
      ? acquired
      : await renewIfExpired(backend, fullKey, owner, acquired)
    if (acquisition !== undefined) {
      const init = { backend, fullKey, key: displayKey, owner, acquisition, autoExtend, onReleaseError }
      return { lock: new Lock(init) }
    }
  }
  return { holder: { owner: '', fence: 0, remainingMs: 0 } }
}

/** Backoff state for {@link waitForHolder} on a backend without `waitForRelease`. */
export interface Backoff {
  nextMs: number
}

/** A fresh {@link Backoff}. */
export function newBackoff(): Backoff {
  return { nextMs: INITIAL_BACKOFF_MS }
}

/**
 * Waits until `holder` may have let go of `fullKey`: the backend's
 * wake-on-release where it has one, otherwise jittered exponential backoff
 * (the same schedule `acquire` uses). Never waits longer than `maxMs` nor
 * past the holder's remaining lease, and returns when `signal` aborts. May
 * return early; the caller re-checks.
 */
export async function waitForHolder(
  backend: LockBackend,
  fullKey: string,
  holder: LockInfo,
  maxMs: number,
  backoff: Backoff,
  signal?: AbortSignal,
): Promise<void> {
  const bound = Math.max(1, Math.min(maxMs, holder.remainingMs + 1))
  if (backend.waitForRelease) {
    await backend.waitForRelease(fullKey, Math.ceil(bound), signal)
    return
  }
  await sleep(Math.min(jitter(backoff.nextMs), bound), signal)
  backoff.nextMs = Math.min(backoff.nextMs * 2, MAX_BACKOFF_MS)
}

/** A short description of an error for messages and markers. */
export function errorSummary(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name, message: error.message }
  return { name: 'Error', message: String(error) }
}
