import type { LockInfo } from './backend.js'
import { throwIfClientClosed } from './closed-error.js'
import { type Duration, describe, toMs } from './duration.js'
import { InvalidArgumentError, LockBusyError, LockLostError } from './errors.js'
import { attemptLock, type KeyOption, keyResolver, type PartialKeyOption } from './helper-support.js'
import type { Lock } from './lock.js'
import type { Lockwork } from './lockwork.js'
import { optionalBoolean, optionsObject, requireFunction } from './options.js'
import { labelOf, ownerToken } from './owner-label.js'

/** Options of {@link Lockwork.once}. */
export interface OnceOptions<A extends unknown[], L = undefined> {
  /**
   * The lock key: a string, or a function of the call's arguments (it gets
   * exactly the arguments `fn` gets, so its default parameter values apply).
   * It is an ordinary lock key, so `lw.peek(key)` sees a running call.
   */
  readonly key: KeyOption<A>
  /** Lease length while `fn` runs. Default: the client's `defaultTtl`. */
  readonly ttl?: Duration
  /** Keep extending the lease while `fn` runs, so it may outlast `ttl`. Default `true`. */
  readonly autoExtend?: boolean
  /** What a call does while the key is held: resolve `lockedValue` (`'skip'`, default) or reject with `LockBusyError` (`'throw'`). */
  readonly onLocked?: 'skip' | 'throw'
  /**
   * Keep the key held after `fn` ends until this much time has passed since
   * the call took it (a throttle: "at most one run per `holdFor`", ShedLock's
   * `lockAtLeastFor`). Also after `fn` throws. Default: release at once.
   */
  readonly holdFor?: Duration
  /** What a skipped call resolves to. Default `undefined`. */
  readonly lockedValue?: L
}

/**
 * {@link OnceOptions} whose key function takes only the first few of `fn`'s
 * parameters, e.g. `{ key: (id: string) => id }` for `fn(id, extra)`.
 */
export type OnceOptionsPartialKey<A extends unknown[], L = undefined> = Omit<OnceOptions<A, L>, 'key'> & {
  readonly key: PartialKeyOption<A>
}

/**
 * The function {@link Lockwork.once} returns: `fn` guarded by a lock.
 * Resolves `fn`'s result, or `lockedValue` when the key was held.
 */
export interface OnceFunction<A extends unknown[], R> {
  (...args: A): Promise<R>
  /** The key a call with these arguments would lock. */
  key(...args: A): string
  /** Who holds the key for these arguments right now (`remainingMs` says for how long), or `null`. */
  peek(...args: A): Promise<LockInfo | null>
}

/**
 * Builds the function behind {@link Lockwork.once}; every option is
 * validated here, before any call.
 */
export function createOnce<A extends unknown[], R, L>(
  lw: Lockwork,
  options: OnceOptions<A, L> | OnceOptionsPartialKey<A, L>,
  fn: (...args: A) => R | Promise<R>,
): OnceFunction<A, Awaited<R> | L> {
  const opts = optionsObject(options)
  requireFunction(fn, 'fn')
  const resolveKey = keyResolver<A>(opts.key)
  const ttlMs = opts.ttl === undefined ? lw.defaultTtlMs : toMs(opts.ttl, 'options.ttl')
  const holdForMs = opts.holdFor === undefined ? 0 : toMs(opts.holdFor, 'options.holdFor', true)
  const autoExtend = optionalBoolean(opts.autoExtend, 'options.autoExtend', true)
  const onLocked = opts.onLocked ?? 'skip'
  if (onLocked !== 'skip' && onLocked !== 'throw') {
    throw new InvalidArgumentError(
      'options.onLocked',
      `expected 'skip' or 'throw', got ${describe(onLocked)}`,
    )
  }
  const lockedValue = opts.lockedValue as L
  // The lease covers the whole window, so a short ttl cannot end the hold early.
  const leaseMs = Math.max(ttlMs, holdForMs)

  const call = async (...args: A): Promise<Awaited<R> | L> => {
    throwIfClientClosed(lw, 'once')
    const key = resolveKey(args)
    const startedAt = performance.now()
    // With holdFor, extension is driven here so it can stop when fn ends without releasing.
    const attempt = await attemptLock(
      lw.backend,
      ownerToken(lw.label),
      lw.fullKey(key),
      key,
      leaseMs,
      autoExtend && holdForMs === 0,
      lw.onReleaseError,
    )
    if (attempt.lock === undefined) {
      if (onLocked === 'throw')
        throw new LockBusyError(key, attempt.holder.remainingMs, {
          holderLabel: labelOf(attempt.holder.owner)?.text,
        })
      return lockedValue
    }
    const lock = attempt.lock
    const keepAlive = autoExtend && holdForMs > 0 ? keepExtending(lock, leaseMs) : undefined
    let result: Awaited<R>
    try {
      result = await fn(...args)
    } catch (error) {
      await finish(lock, startedAt, keepAlive)
      throw error
    }
    await finish(lock, startedAt, keepAlive)
    return result
  }

  /**
   * Ends a run: releases, or with `holdFor` shortens the lease to what is left
   * of the window. Never changes `fn`'s outcome: the lease is no longer
   * extended, so it ends by itself within its ttl. A failed release goes to
   * the client's `onReleaseError`; a failed shortening only keeps the key
   * held a little longer.
   */
  const finish = async (lock: Lock, startedAt: number, keepAlive: (() => Promise<void>) | undefined) => {
    await keepAlive?.()
    const leftMs = Math.ceil(holdForMs - (performance.now() - startedAt))
    if (leftMs <= 0) return lock[Symbol.asyncDispose]()
    try {
      await lock.extend(leftMs)
    } catch {
      // See above.
    }
  }

  return Object.assign(call, {
    key: (...args: A) => resolveKey(args),
    peek: async (...args: A) => lw.peek(resolveKey(args)),
  })
}

/**
 * Extends `lock` to `ttlMs` every `ttlMs / 3` until the returned stop
 * function is called or the lease is lost. A failing extension is retried on
 * the next beat; the handle's own deadline reports a real loss. Stopping
 * waits for an extension in flight, so it cannot land after a later one.
 */
function keepExtending(lock: Lock, ttlMs: number): () => Promise<void> {
  let inFlight: Promise<void> = Promise.resolve()
  const timer = setInterval(
    () => {
      inFlight = lock.extend(ttlMs).catch((error: unknown) => {
        if (error instanceof LockLostError) clearInterval(timer)
      })
    },
    Math.max(1, Math.floor(ttlMs / 3)),
  )
  timer.unref()
  return () => {
    clearInterval(timer)
    return inFlight
  }
}
