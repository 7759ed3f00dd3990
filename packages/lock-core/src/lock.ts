import type { LockBackend } from './backend.js'
import { type Duration, toMs } from './duration.js'
import { LockLostError, type LockLostReason } from './errors.js'
import { type LeaseOperations, lockOperations } from './lease-operations.js'
import { channels, type LeaseKind, leaseKind } from './telemetry.js'
import type { Acquisition } from './wait.js'
import { wakeLocalWaiter } from './waiter-queue.js'

/** How a {@link Lock} was created; internal to the core. */
export interface LockInit {
  readonly backend: LockBackend
  /** The full key (prefix included). */
  readonly fullKey: string
  /** The key as the caller named it. */
  readonly key: string
  readonly owner: string
  readonly acquisition: Acquisition
  /** The kind of lease held: a lock (the default) or a semaphore's permits. */
  readonly operations?: LeaseOperations
  readonly autoExtend: boolean
  /** Called once when the handle stops holding: released or lost (the client's tracking of held locks). */
  readonly onSettled?: (lock: Lock) => void
  /** Told about a release that failed at the end of an `await using` scope. */
  readonly onReleaseError?: ((error: unknown, key: string) => void) | undefined
  /** `performance.now()` when the acquisition began, for telemetry's `waitedMs` (default: the winning attempt's). */
  readonly startedAt?: number
  /** A `performance.now()` reading taken after the lease came back, if the caller has one (spares telemetry a clock read). */
  readonly now?: number
}

type LockState = 'held' | 'released' | 'lost'

/** How often a watched lease is re-checked when the backend has no wake-up, in ms (bounds). */
const MIN_POLL_MS = 50
const MAX_POLL_MS = 1_000

/**
 * A held lease. Release it with {@link Lock.release} or `await using`.
 *
 * The handle keeps a conservative local deadline: the lease cannot expire on
 * the backend before `ttl` has passed since the request was sent, so when
 * that deadline passes without a successful extension, {@link Lock.signal}
 * aborts with a {@link LockLostError}. Reading `signal` also starts watching
 * for the lease being freed or taken by someone else.
 *
 * States: held; released (by {@link Lock.release}); lost (expired, taken,
 * freed elsewhere, extension refused); or release failed: `release()`
 * rejected, so `held` is `false`, `signal` aborts with a `LockLostError`
 * whose reason is `'release-failed'` (the backend's error as `cause`), and
 * the lease ends by itself at its ttl on the backend. `release()` may be
 * retried then; it resolves `true` if the retry freed the lease.
 */
export class Lock implements AsyncDisposable {
  /** The key as passed to `acquire` (without the prefix). */
  readonly key: string
  /** The fencing token: strictly larger than every earlier holder's of this key. Pass it to the resource you protect. */
  readonly fence: number
  /** This acquisition's owner token: 122 random bits, then the client's owner label (`<uuid> api@pod-7 host=web-3 pid=4121`). */
  readonly owner: string

  #backend: LockBackend
  readonly #operations: LeaseOperations
  #fullKey: string
  #ttlMs: number
  #deadline: number
  #state: LockState = 'held'
  /** Created on the first read of {@link Lock.signal}. */
  #controller: AbortController | undefined
  /** Why the lease was lost, once it is. */
  #lostReason: LockLostError | undefined
  /**
   * Whether the expiry timer runs: once `signal` has been read, or with
   * auto-extension. Until then nobody can observe the moment of expiry, and
   * `held`, `remainingMs`, `extend` and `release` check the deadline themselves.
   */
  #timed: boolean
  #expiryTimer: NodeJS.Timeout | undefined
  #extendTimer: NodeJS.Timeout | undefined
  #watch: AbortController | undefined
  #releasing: Promise<boolean> | undefined
  /** Whether the last `release()` failed, and whether the lease was held when it was sent. */
  #releaseFailed: { readonly wasHeld: boolean } | undefined
  #lastExtendError: unknown
  /** When the winning attempt was sent (telemetry's `heldMs` counts from it). */
  readonly #acquiredAt: number
  /** Whether the handle's one terminal telemetry event (released or lost) has been published. */
  #endPublished = false
  #onSettled: ((lock: Lock) => void) | undefined
  readonly #onReleaseError: ((error: unknown, key: string) => void) | undefined

  /** @internal Created by `Lockwork.acquire`; not meant to be constructed directly. */
  constructor(init: LockInit) {
    this.key = init.key
    this.owner = init.owner
    this.fence = init.acquisition.fence
    this.#backend = init.backend
    this.#operations = init.operations ?? lockOperations
    this.#fullKey = init.fullKey
    this.#ttlMs = init.acquisition.ttlMs
    this.#deadline = init.acquisition.sentAt + init.acquisition.ttlMs
    this.#timed = init.autoExtend
    this.#onSettled = init.onSettled
    this.#onReleaseError = init.onReleaseError
    this.#acquiredAt = init.acquisition.sentAt
    if (init.autoExtend) {
      this.#armExpiry()
      this.#scheduleAutoExtend(this.#nextExtendDelay())
    }
    if (channels.acquired.hasSubscribers) {
      const waitedMs = (init.now ?? performance.now()) - (init.startedAt ?? this.#acquiredAt)
      channels.acquired.publish({
        kind: this.#kind(),
        backend: this.#backend.name,
        key: this.key,
        owner: this.owner,
        fence: this.fence,
        waitedMs,
      })
    }
  }

  /**
   * Aborts, with a {@link LockLostError} as its `reason`, when the lease is
   * lost: it expired, an extension failed, or someone else freed or took the
   * key. Never aborts on a normal {@link Lock.release}.
   */
  get signal(): AbortSignal {
    this.#checkDeadline()
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#lostReason !== undefined) this.#controller.abort(this.#lostReason)
    }
    if (this.#state === 'held') {
      if (!this.#timed) {
        this.#timed = true
        this.#armExpiry()
      }
      if (!this.#watch) this.#startWatching()
    }
    return this.#controller.signal
  }

  /** Whether this handle still holds its lease, as far as it knows. */
  get held(): boolean {
    this.#checkDeadline()
    return this.#state === 'held'
  }

  /** Milliseconds left on the lease by the local, conservative deadline (0 once released or lost). */
  get remainingMs(): number {
    return this.#state === 'held' ? Math.max(0, Math.floor(this.#deadline - performance.now())) : 0
  }

  /**
   * Resets the lease to `ttl` from now (default: the ttl it was acquired with).
   *
   * @throws LockLostError when the lease is no longer held (released, expired or taken).
   * @throws BackendError when the backend fails; the lease is then unchanged.
   */
  async extend(ttl?: Duration): Promise<void> {
    const ttlMs = ttl === undefined ? this.#ttlMs : toMs(ttl, 'ttl')
    this.#checkDeadline()
    if (this.#state !== 'held') throw this.#lostError(this.#state === 'released' ? 'released' : undefined)
    const sentAt = performance.now()
    const extended = await this.#operations
      .extend(this.#backend, this.#fullKey, this.owner, ttlMs)
      .catch((error: unknown) => {
        this.#publishExtended('error', false)
        throw error
      })
    this.#publishExtended(extended ? 'ok' : 'refused', false)
    if (!extended) {
      this.#markLost('extend-failed')
      throw this.#lostError()
    }
    // A deadline that passed while the extension was in flight counts, timer or not.
    this.#checkDeadline()
    if (this.#state !== 'held') throw this.#lostError()
    this.#ttlMs = ttlMs
    this.#deadline = sentAt + ttlMs
    this.#armExpiry()
  }

  /**
   * Frees the lease. Idempotent: returns `true` when this call freed it,
   * `false` when it was already released or no longer held by this owner.
   *
   * If the backend fails, rejects with a `BackendError`, and the handle is
   * in the release-failed state: `held` is `false` and `signal` aborts
   * (reason `'release-failed'`), because nothing extends the lease any more
   * and the handle cannot tell whether the backend freed it; the lease ends
   * at its ttl. Calling `release()` again retries: it resolves `true` when
   * the retry freed the lease, `false` when it was already gone.
   */
  release(): Promise<boolean> {
    if (this.#releasing) return this.#releasing.then(() => false)
    if (this.#state === 'released') return Promise.resolve(false)
    // #checkDeadline, with its clock reading kept for telemetry's heldMs (held until release was called).
    const calledAt = performance.now()
    if (this.#state === 'held' && calledAt >= this.#deadline) this.#expire()
    const wasHeld = this.#releaseFailed?.wasHeld ?? this.#state === 'held'
    this.#state = 'released'
    this.#releaseFailed = undefined
    this.#stopTimers()
    const operations = this.#operations
    const releasing = operations.release(this.#backend, this.#fullKey, this.owner).then(
      (released) => {
        if (!this.#endPublished && channels.released.hasSubscribers) {
          this.#endPublished = true
          const heldMs = calledAt - this.#acquiredAt
          channels.released.publish({
            kind: this.#kind(),
            backend: this.#backend.name,
            key: this.key,
            owner: this.owner,
            fence: this.fence,
            heldMs,
            released: released && wasHeld,
          })
        }
        this.#settled()
        wakeLocalWaiter(this.#backend, operations.queueKey(this.#fullKey))
        return released && wasHeld
      },
      (error: unknown) => {
        // Stop claiming to hold; a retry may still free the lease before its ttl.
        this.#releasing = undefined
        this.#releaseFailed = { wasHeld }
        this.#state = 'lost'
        this.#lostReason ??= new LockLostError(this.key, 'release-failed', { cause: error })
        this.#publishLost('release-failed')
        this.#controller?.abort(this.#lostReason)
        throw error
      },
    )
    this.#releasing = releasing
    return releasing
  }

  /**
   * Releases the lease at the end of an `await using` scope. Never throws: a
   * failed release must not turn the scope's outcome into a failure (nor
   * hide its error), so it goes to the client's `onReleaseError`, and the
   * lease ends at its ttl.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.release()
    } catch (error) {
      reportReleaseError(this.#onReleaseError, error, this.key)
    }
  }

  /** Marks the lease lost and aborts {@link Lock.signal}; internal to the core. */
  #markLost(reason: LockLostReason, cause?: unknown): void {
    if (this.#state !== 'held') return
    this.#state = 'lost'
    this.#stopTimers()
    this.#lostReason = new LockLostError(this.key, reason, cause === undefined ? undefined : { cause })
    this.#publishLost(reason)
    this.#controller?.abort(this.#lostReason)
    this.#settled()
  }

  /** The kind of lease, for telemetry. */
  #kind(): LeaseKind {
    return leaseKind(this.#operations.noun)
  }

  #publishLost(reason: LockLostReason): void {
    if (this.#endPublished || !channels.lost.hasSubscribers) return
    this.#endPublished = true
    const heldMs = performance.now() - this.#acquiredAt
    channels.lost.publish({
      kind: this.#kind(),
      backend: this.#backend.name,
      key: this.key,
      owner: this.owner,
      fence: this.fence,
      reason,
      heldMs,
    })
  }

  #publishExtended(outcome: 'ok' | 'refused' | 'error', auto: boolean): void {
    if (!channels.extended.hasSubscribers) return
    channels.extended.publish({
      kind: this.#kind(),
      backend: this.#backend.name,
      key: this.key,
      owner: this.owner,
      fence: this.fence,
      outcome,
      auto,
    })
  }

  /** Tells the creator, once, that this handle no longer holds its lease. */
  #settled(): void {
    const onSettled = this.#onSettled
    this.#onSettled = undefined
    onSettled?.(this)
  }

  #lostError(reason?: LockLostReason): LockLostError {
    if (reason === undefined && this.#lostReason !== undefined) return this.#lostReason
    return new LockLostError(this.key, reason ?? 'expired')
  }

  /** Marks the lease lost because its local deadline passed; names the failed extension, if any, as the cause. */
  #expire(): void {
    const cause = this.#lastExtendError
    this.#markLost(cause === undefined ? 'expired' : 'extend-failed', cause)
  }

  /**
   * Checks the deadline synchronously, so a process that was paused past it
   * (a GC pause, SIGSTOP, a suspended VM) sees `signal.aborted` at its first
   * look after resuming, before the expiry timer has had its turn.
   */
  #checkDeadline(): void {
    if (this.#state === 'held' && performance.now() >= this.#deadline) this.#expire()
  }

  /** (Re)arms the expiry timer at the deadline, if the handle is {@link Lock.#timed}. */
  #armExpiry(): void {
    if (!this.#timed) return
    clearTimeout(this.#expiryTimer)
    const left = Math.max(0, this.#deadline - performance.now())
    this.#expiryTimer = setTimeout(() => this.#expire(), left)
    this.#expiryTimer.unref()
  }

  /**
   * When to extend next: once no more than 2/3 of the ttl is left by the
   * deadline, so a lease whose acquisition or last extension was slow is
   * extended at once rather than a fixed ttl/3 after its reply.
   */
  #nextExtendDelay(): number {
    return this.#deadline - (this.#ttlMs * 2) / 3 - performance.now()
  }

  #scheduleAutoExtend(delayMs: number): void {
    this.#extendTimer = setTimeout(() => void this.#autoExtend(), Math.max(1, delayMs))
    this.#extendTimer.unref()
  }

  async #autoExtend(): Promise<void> {
    if (this.#state !== 'held') return
    const sentAt = performance.now()
    try {
      const extended = await this.#operations.extend(this.#backend, this.#fullKey, this.owner, this.#ttlMs)
      this.#publishExtended(extended ? 'ok' : 'refused', true)
      if (this.#state !== 'held') return
      if (!extended) return this.#markLost('extend-failed')
      this.#lastExtendError = undefined
      this.#deadline = sentAt + this.#ttlMs
      this.#armExpiry()
      this.#scheduleAutoExtend(this.#nextExtendDelay())
    } catch (error) {
      this.#publishExtended('error', true)
      if (this.#state !== 'held') return
      // Keep trying until the local deadline; the expiry timer reports the loss with this cause.
      this.#lastExtendError = error
      this.#scheduleAutoExtend(Math.min(this.#ttlMs / 10, 1_000))
    }
  }

  #stopTimers(): void {
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer)
    if (this.#extendTimer !== undefined) clearTimeout(this.#extendTimer)
    this.#watch?.abort()
  }

  /** Watches for the key being freed or taken by someone else while this handle thinks it holds it. */
  #startWatching(): void {
    const watch = new AbortController()
    this.#watch = watch
    const pollMs = Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, this.#ttlMs / 4))
    const operations = this.#operations
    const waitForChange = operations.watchWait(this.#backend)
    const loop = async (): Promise<void> => {
      while (this.#state === 'held' && !watch.signal.aborted) {
        try {
          const left = Math.max(1, Math.ceil(this.#deadline - performance.now()))
          if (waitForChange) await waitForChange(this.#fullKey, left, watch.signal)
          else await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, left)).unref())
          if (this.#state !== 'held' || watch.signal.aborted) return
          const lost = await operations.lostReason(this.#backend, this.#fullKey, this.owner)
          if (this.#state !== 'held') return
          if (lost !== undefined) this.#markLost(lost)
        } catch {
          // A failing backend is not proof of loss; the local deadline still applies.
          await new Promise((resolve) => setTimeout(resolve, pollMs).unref())
        }
      }
    }
    void loop()
  }
}

/**
 * Hands a failed release to `onReleaseError`, or logs it with `console.error`
 * when there is none. Its own errors are ignored.
 */
export function reportReleaseError(
  onReleaseError: ((error: unknown, key: string) => void) | undefined,
  error: unknown,
  key: string,
): void {
  try {
    if (onReleaseError) onReleaseError(error, key)
    else console.error(`lockwork: releasing "${key}" failed; the lease ends at its ttl:`, error)
  } catch {
    // A failing reporter must not change the outcome it reports on.
  }
}
