import type { LockGrant } from './backend.js'

/**
 * The store-independent half of grant-on-release (`LockBackend.waitForGrant`),
 * for adapter authors. A backend keeps its transport (the queue's scripts or
 * statements, the grant message's format, the subscription that delivers it)
 * and extends {@link GrantWaitRegistry} (one per backend instance) for the rest:
 * the caller's promise, settled straight from the grant message's handler;
 * the end of each wait (grant, abort, timeout, `close()`); the registrations
 * a periodic refresh keeps alive; and `close()` letting every wait leave its
 * queue first.
 */

/** What a backend tells its {@link GrantWaitRegistry} once, when it creates it. */
export interface GrantWaitRegistryOptions<M extends { readonly owner: string }, R> {
  /** How often {@link GrantWaitRegistry.refresh} runs while any wait is queued, in ms. */
  readonly refreshMs: number
  /** The backend's set of pending waits: its `close()` calls each to end it. */
  readonly pending: Set<() => void>
  /** The lease a grant message `message` hands to the owner queued as `registration`. */
  readonly grantOf: (message: M, registration: R) => LockGrant
}

/** The arguments of one `LockBackend.waitForGrant` call. */
export interface GrantWaitRequest {
  /** The key to wait for (the backend's full key). */
  readonly key: string
  /** The waiting owner's token: a grant names it. */
  readonly owner: string
  /** The lease a grant hands over, in ms. */
  readonly ttlMs: number
  /** How long to wait at most, in ms. */
  readonly timeoutMs: number
  /** The caller's signal: its abort ends the wait. */
  readonly signal: AbortSignal | undefined
}

/**
 * One call of `waitForGrant`, as its backend drives it in
 * {@link GrantWaitRegistry.waitInQueue}: subscribe (calling
 * {@link GrantWait.hear} for each message), {@link GrantWait.watch}, queue,
 * then {@link GrantWait.queued}; {@link GrantWait.dispose} in `finally`.
 */
export interface GrantWait<M extends { readonly owner: string }, R> {
  /** Whether the wait has ended (granted, woken, aborted, timed out or closed). */
  readonly over: boolean
  /** Resolves when the wait has ended. */
  readonly ended: Promise<void>
  /** Ends the wait (idempotent); the same function for as long as the wait lasts. */
  readonly wake: () => void
  /** Ends the wait on the caller's abort and on the backend's `close()`, until {@link GrantWait.dispose}. */
  watch(): void
  /**
   * One message for the waiter's key, parsed: a grant (`undefined` for
   * anything else: a plain release, a reconnect, a lost message). A grant to
   * another owner is ignored, as is any message once the wait has ended.
   * Otherwise the wait ends; a grant to this owner while it is queued
   * settles the caller's promise right here, before the wait's own
   * bookkeeping.
   */
  hear(message: M | undefined): void
  /** Ends the wait after `delayMs()` ms, unless it has ended already (then `delayMs` is not called). */
  wakeAfter(delayMs: () => number): void
  /**
   * Waits as `registration` (just queued on the store) until the wait ends,
   * with `registration` among those the refresh keeps alive and the wait
   * ended after `delayMs()` ms (the timeout, or when the holder's lease runs
   * out). Resolves with the grant the waiter received, after the caller's
   * promise chain has run; or with the grant of a message heard before the
   * waiter was registered; otherwise `undefined`: the backend then leaves the
   * queue and looks whether a grant came first.
   */
  queued(registration: R, delayMs: () => number): Promise<LockGrant | undefined>
  /** Stops the wait's timer and watching, and drops its registration. Call it once the wait is done. */
  dispose(): void
}

/**
 * A backend's grant waits: starts each wait with the caller's promise, keeps
 * the queued ones alive with one interval timer, and lets `close()` wait for
 * them to leave their queues. A backend extends it with its transport:
 * {@link GrantWaitRegistry.waitInQueue} and {@link GrantWaitRegistry.refresh}.
 * `M` is the backend's parsed grant message, `R` its record of a queued entry.
 */
export abstract class GrantWaitRegistry<M extends { readonly owner: string }, R> {
  readonly #options: GrantWaitRegistryOptions<M, R>
  readonly #active = new Set<R>()
  #timer: NodeJS.Timeout | undefined
  /** Waits in progress, so that `close()` lets them leave their queues first. */
  readonly #inProgress = new Set<Promise<unknown>>()
  /** What a wait uses to add its queued entry to those the refresh keeps alive, and to drop it. */
  readonly #queue: QueuedEntries<R> = {
    add: (registration) => this.#add(registration),
    remove: (registration) => this.#remove(registration),
  }

  constructor(options: GrantWaitRegistryOptions<M, R>) {
    this.#options = options
  }

  /**
   * The backend's part of one wait (see {@link GrantWait} for the order of
   * its steps): resolves with its outcome, which the caller gets unless a
   * grant settled the caller first (straight from {@link GrantWait.hear}).
   * A rejection rejects the caller.
   */
  protected abstract waitInQueue(
    request: GrantWaitRequest,
    wait: GrantWait<M, R>,
  ): Promise<LockGrant | undefined>

  /**
   * Keeps every queued entry of this instance alive on the store (called
   * every `refreshMs` by one interval timer, which does not keep the process
   * running), and ends, through the entry's own handle, any wait whose entry
   * is gone.
   */
  protected abstract refresh(registrations: ReadonlySet<R>): void

  /** Implements `LockBackend.waitForGrant` with {@link GrantWaitRegistry.waitInQueue}. */
  wait(
    key: string,
    owner: string,
    ttlMs: number,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<LockGrant | undefined> {
    // A grant settles the caller's promise straight from the message handler;
    // the wait's own bookkeeping (unsubscribing, stopping its timers) follows.
    return new Promise<LockGrant | undefined>((resolve, reject) => {
      const wait = new OneGrantWait(this.#queue, this.#options, owner, signal, resolve)
      const waiting = this.waitInQueue({ key, owner, ttlMs, timeoutMs, signal }, wait)
      this.#inProgress.add(waiting)
      const forget = (): void => {
        this.#inProgress.delete(waiting)
      }
      waiting.then(forget, forget)
      waiting.then(resolve, reject)
    })
  }

  /** Resolves once every wait in progress is done (the backend's `close()` ended them first). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#inProgress])
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** Adds a queued entry to those the refresh keeps alive (starting its timer). */
  #add(registration: R): void {
    this.#active.add(registration)
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.refresh(this.#active), this.#options.refreshMs)
      this.#timer.unref()
    }
  }

  /** Drops a queued entry from those the refresh keeps alive (stopping its timer after the last). */
  #remove(registration: R): void {
    this.#active.delete(registration)
    if (this.#active.size === 0) {
      clearInterval(this.#timer)
      this.#timer = undefined
    }
  }
}

/** The registry's entries that its refresh keeps alive, as one wait changes them. */
interface QueuedEntries<R> {
  readonly add: (registration: R) => void
  readonly remove: (registration: R) => void
}

/** The {@link GrantWait} a {@link GrantWaitRegistry} hands to its backend. */
class OneGrantWait<M extends { readonly owner: string }, R> implements GrantWait<M, R> {
  readonly #queue: QueuedEntries<R>
  readonly #options: GrantWaitRegistryOptions<M, R>
  readonly #owner: string
  readonly #signal: AbortSignal | undefined
  /** Settles the caller's promise. */
  readonly #deliver: (grant: LockGrant) => void
  #over = false
  readonly ended: Promise<void>
  readonly wake: () => void
  #timer: NodeJS.Timeout | undefined
  /** This waiter's grant message (or `undefined` for another message that ended the wait). */
  #message: M | undefined
  /** The grant as the caller got it from the message. */
  #granted: LockGrant | undefined
  #registration: R | undefined

  constructor(
    queue: QueuedEntries<R>,
    options: GrantWaitRegistryOptions<M, R>,
    owner: string,
    signal: AbortSignal | undefined,
    deliver: (grant: LockGrant) => void,
  ) {
    this.#queue = queue
    this.#options = options
    this.#owner = owner
    this.#signal = signal
    this.#deliver = deliver
    let end: () => void = () => {}
    this.ended = new Promise<void>((resolve) => {
      end = () => {
        this.#over = true
        resolve()
      }
    })
    this.wake = (): void => end()
  }

  get over(): boolean {
    return this.#over
  }

  watch(): void {
    this.#signal?.addEventListener('abort', this.wake, { once: true })
    this.#options.pending.add(this.wake)
  }

  hear(message: M | undefined): void {
    if (this.#over) return
    // A grant to another waiter: this one is still queued behind it.
    if (message !== undefined && message.owner !== this.#owner) return
    // This waiter's grant; or another message (the key may be free, or a
    // message may have been missed): look again.
    this.#message = message
    if (message !== undefined && this.#registration !== undefined) {
      this.#granted = this.#options.grantOf(message, this.#registration)
      // No listener stays on the caller's signal once its wait resolved.
      this.#signal?.removeEventListener('abort', this.wake)
      this.#deliver(this.#granted)
    }
    this.wake()
  }

  wakeAfter(delayMs: () => number): void {
    if (!this.#over) this.#timer = setTimeout(this.wake, Math.max(0, delayMs()))
  }

  async queued(registration: R, delayMs: () => number): Promise<LockGrant | undefined> {
    this.#registration = registration
    this.#queue.add(registration)
    this.wakeAfter(delayMs)
    await this.ended
    if (this.#granted !== undefined) {
      // The caller already has its grant: tidy up after its promise chain has run.
      await new Promise((resolve) => setImmediate(resolve))
      this.#queue.remove(registration)
      return this.#granted
    }
    this.#queue.remove(registration)
    // A grant that arrived before the entry was registered (the queueing reply came later).
    return this.#message === undefined ? undefined : this.#options.grantOf(this.#message, registration)
  }

  dispose(): void {
    if (this.#registration !== undefined) this.#queue.remove(this.#registration)
    clearTimeout(this.#timer)
    this.#signal?.removeEventListener('abort', this.wake)
    this.#options.pending.delete(this.wake)
  }
}
