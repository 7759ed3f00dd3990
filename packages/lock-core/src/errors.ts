/** Stable machine-readable codes carried by every lockwork error. */
export type LockworkErrorCode =
  | 'LOCKWORK_BUSY'
  | 'LOCKWORK_TIMEOUT'
  | 'LOCKWORK_LOST'
  | 'LOCKWORK_INVALID_ARGUMENT'
  | 'LOCKWORK_BACKEND'
  | 'LOCKWORK_COMPUTE_FAILED'

/**
 * Marks every lockwork error, in every copy of this package: an app can end
 * up with two copies (two versions, or a CommonJS and an ES build of a
 * dependency), and `instanceof` must still work across them.
 */
const BRAND: unique symbol = Symbol.for('lockwork.error') as never

/** The code each of lockwork's own error classes stands for (`null` for LockworkError itself: any code). */
const CLASS_CODES = new WeakMap<object, LockworkErrorCode | null>()

/**
 * The base class of every error lockwork throws; `code` is stable across versions.
 *
 * `instanceof` works across copies of `@lockwork/core`: an error thrown by
 * one copy is an instance of the same-named class of another (checked by a
 * `Symbol.for('lockwork.error')` brand and `code`).
 */
export class LockworkError extends Error {
  static {
    CLASS_CODES.set(LockworkError, null)
  }

  readonly code: LockworkErrorCode

  constructor(code: LockworkErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    Object.defineProperty(this, BRAND, { value: 1 })
  }

  /** `error instanceof LockBusyError` and so on, also for an error from another copy of this package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noUselessThisAlias: one named alias keeps noThisInStatic to one line
    // biome-ignore lint/complexity/noThisInStatic: instanceof calls this on the class it checks, a subclass too
    const target = this
    if (Function.prototype[Symbol.hasInstance].call(target, value)) return true
    if (typeof value !== 'object' || value === null || (value as { [BRAND]?: unknown })[BRAND] !== 1)
      return false
    // Only lockwork's own classes recognise foreign copies; a subclass of yours stays exact.
    const code = CLASS_CODES.get(target)
    if (code === undefined) return false
    return code === null || (value as { code?: unknown }).code === code
  }
}

/** The key is held and the caller asked not to wait (`wait: 0`, `onLocked: 'throw'`). */
export class LockBusyError extends LockworkError {
  static {
    CLASS_CODES.set(LockBusyError, 'LOCKWORK_BUSY')
  }

  /** The key, without the prefix. */
  readonly key: string
  /** The holder's remaining lease in ms when the attempt failed, if known. */
  readonly remainingMs: number | undefined
  /** Who held the key (its owner label, e.g. `api@pod-7 host=web-3 pid=4121`), if known. */
  readonly holderLabel: string | undefined

  /**
   * `options.holderLabel` names who holds the key; `options.message` replaces
   * the default message (a semaphore says how many permits are in use).
   */
  constructor(
    key: string,
    remainingMs?: number,
    options?: { message?: string | undefined; holderLabel?: string | undefined },
  ) {
    const holderLabel = options?.holderLabel
    super(
      'LOCKWORK_BUSY',
      options?.message ??
        `lock "${key}" is held${holderLabel === undefined ? '' : ` by ${holderLabel}`}${remainingMs === undefined ? '' : ` (for another ${remainingMs} ms)`}`,
    )
    this.key = key
    this.remainingMs = remainingMs
    this.holderLabel = holderLabel
  }
}

/** The caller waited for the key and it was still held when the wait ended. */
export class LockTimeoutError extends LockworkError {
  static {
    CLASS_CODES.set(LockTimeoutError, 'LOCKWORK_TIMEOUT')
  }

  /** The key, without the prefix. */
  readonly key: string
  /** How long the caller waited, in ms. */
  readonly waitedMs: number
  /** Who held the key when last seen (its owner label, e.g. `api@pod-7 host=web-3 pid=4121`), if known. */
  readonly holderLabel: string | undefined

  /**
   * `options.holderLabel` names who held the key last; `options.message`
   * replaces the default message (a semaphore says how many permits are in use).
   */
  constructor(
    key: string,
    waitedMs: number,
    options?: { message?: string | undefined; holderLabel?: string | undefined },
  ) {
    const holderLabel = options?.holderLabel
    super(
      'LOCKWORK_TIMEOUT',
      options?.message ??
        `lock "${key}" was still held${holderLabel === undefined ? '' : ` by ${holderLabel}`} after waiting ${waitedMs} ms`,
    )
    this.key = key
    this.waitedMs = waitedMs
    this.holderLabel = holderLabel
  }
}

/** Why a held lease was lost. */
export type LockLostReason =
  /** The lease ran out before it was extended. */
  | 'expired'
  /** Another owner holds the key now. */
  | 'taken'
  /** The key was freed by someone else (e.g. `forceRelease`). */
  | 'released-elsewhere'
  /** An extension was refused or kept failing until the lease ran out. */
  | 'extend-failed'
  /** This handle was already released. */
  | 'released'
  /**
   * `release()` failed (the backend did not answer): the handle no longer
   * claims to hold, and the lease ends by itself at its ttl on the backend
   * unless a retried `release()` frees it earlier.
   */
  | 'release-failed'

/** A lease the caller held has been lost: it expired, was force-released, or could not be extended. */
export class LockLostError extends LockworkError {
  static {
    CLASS_CODES.set(LockLostError, 'LOCKWORK_LOST')
  }

  /** The key, without the prefix. */
  readonly key: string
  /** What happened to the lease. */
  readonly reason: LockLostReason

  constructor(key: string, reason: LockLostReason, options?: { cause?: unknown }) {
    super('LOCKWORK_LOST', `lock "${key}" was lost (${reason})`, options)
    this.key = key
    this.reason = reason
  }
}

/** An argument was rejected before any backend call; nothing was changed. */
export class InvalidArgumentError extends LockworkError {
  static {
    CLASS_CODES.set(InvalidArgumentError, 'LOCKWORK_INVALID_ARGUMENT')
  }

  /** The name of the offending argument, e.g. `'key'` or `'options.ttl'`. */
  readonly argument: string

  constructor(argument: string, problem: string, options?: { cause?: unknown }) {
    super('LOCKWORK_INVALID_ARGUMENT', `invalid ${argument}: ${problem}`, options)
    this.argument = argument
  }
}

/** The backend failed (connection refused, lost or timed out, closed, ...); `cause` holds the original error. */
export class BackendError extends LockworkError {
  static {
    CLASS_CODES.set(BackendError, 'LOCKWORK_BACKEND')
  }

  /** The backend's name. */
  readonly backend: string

  constructor(backend: string, message: string, options?: { cause?: unknown }) {
    super('LOCKWORK_BACKEND', `${backend} backend: ${message}`, options)
    this.backend = backend
  }
}

/**
 * A `cached` computation failed in another process while this caller waited
 * for it. Carries the original error's name and message; the original error
 * object itself reaches callers in the process that ran the computation.
 */
export class ComputeFailedError extends LockworkError {
  static {
    CLASS_CODES.set(ComputeFailedError, 'LOCKWORK_COMPUTE_FAILED')
  }

  /** The key, without the prefix. */
  readonly key: string

  constructor(key: string, message: string) {
    super('LOCKWORK_COMPUTE_FAILED', `computing "${key}" failed elsewhere: ${message}`)
    this.key = key
  }
}

/**
 * Wraps anything a backend driver threw into a {@link BackendError}, keeping
 * lockwork's own errors as they are. Backends use it around every call.
 */
export function toBackendError(backend: string, operation: string, error: unknown): LockworkError {
  if (error instanceof LockworkError) return error
  const detail = error instanceof Error ? error.message : String(error)
  return new BackendError(backend, `${operation} failed: ${detail}`, { cause: error })
}
